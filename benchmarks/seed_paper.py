"""The seed paper's experiments at the seed's lengths (about 10 CPU-hours), or `--quick` (minutes).

Runs `dgm reproduce seed-paper` into benchmarks/results/seed-paper[-quick]/ (resumable: a killed
run continues where it stopped), prints the table and writes benchmarks/results/seed-paper.json.

    DGM_DATA=../shared/data/mnist python benchmarks/seed_paper.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

RESULTS = Path(__file__).parent / "results"

if __name__ == "__main__":
    from dgm.compare.seed_paper import reproduce

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="shortened runs: check the pipeline")
    p.add_argument("--only", help="comma-separated experiments to run now (default all)")
    p.add_argument("--threads", type=int, help="torch CPU threads of each run (default: dgm's)")
    args = p.parse_args()
    out = RESULTS / ("seed-paper-quick" if args.quick else "seed-paper")
    only = None if args.only is None else [name.strip() for name in args.only.split(",") if name.strip()]
    table = reproduce(out, quick=args.quick, only=only, threads=args.threads)
    print(table.read_text(), end="")
    shutil.copy(out / "seed-paper.json", RESULTS / "seed-paper.json")
