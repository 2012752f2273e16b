"""The seed paper's experiments at the seed's lengths (about 10 CPU-hours), or `--quick` (minutes).

Runs `dgm reproduce seed-paper` into benchmarks/results/seed-paper[-quick][-bn]/ (resumable: a
killed run continues where it stopped), prints the table and writes
benchmarks/results/seed-paper[-quick][-bn].json (`-bn`: with `--batch-norm`, the seed's BatchNorm).

    DGM_DATA=../shared/data/mnist python benchmarks/seed_paper.py [--quick] [--batch-norm]
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
    p.add_argument("--batch-norm", action="store_true", help="BatchNorm where the seed's networks had it")
    args = p.parse_args()
    stem = "seed-paper" + "-quick" * args.quick + "-bn" * args.batch_norm
    out = RESULTS / stem
    only = None if args.only is None else [name.strip() for name in args.only.split(",") if name.strip()]
    table = reproduce(out, quick=args.quick, only=only, threads=args.threads, batch_norm=args.batch_norm)
    print(table.read_text(), end="")
    shutil.copy(out / "seed-paper.json", RESULTS / f"{stem}.json")
