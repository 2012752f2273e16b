"""Run every benchmark (make bench). Each prints a table and writes JSON under benchmarks/results/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = ["toy2d.py"]

if __name__ == "__main__":
    here = Path(__file__).parent
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        subprocess.run([sys.executable, str(here / name), *sys.argv[1:]], check=True)
