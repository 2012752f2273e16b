"""Run every benchmark (make bench), or those named: `python benchmarks/run.py [NAME ...]`.

Each prints a table and writes JSON under benchmarks/results/; the arguments below are those of
the tables committed in benchmarks/README.md. peers and mnist take about an hour each on 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = {
    "toy2d": ["--steps", "2000", "--threads", "1"],
    "cnf": ["--max-time", "2m", "--jobs", "2"],
    "cnf-highdim": [
        "--datasets",
        "gmm8,gmm16,mnist-pca32",
        "--variants",
        "otflow,ffjord-rnode,fm-independent,nsf",
        "--max-time",
        "2m",
    ],
    "cnf-otflow-tuned": ["--variants", "otflow-tuned", "--datasets", "moons,8gaussians", "--max-time", "10m"],
    "cnf-vae": [
        "--variants",
        "vae",
        "--datasets",
        "moons,8gaussians,checkerboard,gmm8,gmm16",
        "--max-time",
        "2m",
    ],
    "peers": ["--steps", "3000", "--threads", "1", "--seeds", "0,1,2", "--jobs", "2"],
    "mnist": ["--threads", "1"],
    "gan": ["--max-time", "1m", "--seeds", "0,1,2,3,4", "--jobs", "2"],
    "flowgan": ["--max-time", "1m", "--seeds", "0,1"],
    "utility": ["--max-time", "2m", "--seeds", "0,1,2", "--jobs", "2"],
    "vae": ["--max-time", "30m", "--variants", "vae,iwae5", "--nll-points", "2000", "--jobs", "2"],
    "threads": [],
    "memory": [],
    "budget": ["--max-time", "3m", "--threads", "1"],
    "seed-paper": ["--quick"],  # without --quick: the seed's lengths, about 10 CPU-hours
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        sys.exit(f"unknown benchmark {unknown[0]!r} (known: {', '.join(BENCHMARKS)})")
    here = Path(__file__).parent
    for name in names:
        print(f"== {name}", flush=True)
        # cnf-highdim: cnf.py with other arguments; seed-paper: seed_paper.py
        script = name.replace("-", "_") if name == "seed-paper" else name.partition("-")[0]
        subprocess.run([sys.executable, str(here / f"{script}.py"), *BENCHMARKS[name]], check=True)
