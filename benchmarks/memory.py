"""Peak memory of sampling and evaluating at large n: both must stay bounded (within 1 GB).

Trains a small RealNVP on moons for a few steps, then runs `dgm sample RUN -n N` and
`dgm evaluate RUN --n-samples M` each in its own wrapper process and reads the command's peak
resident set size (getrusage of the finished child). Prints a table and writes
benchmarks/results/memory.json.

    python benchmarks/memory.py [--samples 10000000] [--eval-samples 200000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
CLI = [sys.executable, "-m", "dgm.cli.main"]
# Runs the command in a child and prints the child's peak RSS in kB (Linux reports ru_maxrss in kB).
WRAPPER = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def peak_rss(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one command run to completion."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip()) / 1024, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10_000_000)
    p.add_argument("--eval-samples", type=int, default=200_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        subprocess.run(
            [
                *CLI,
                "train",
                "realnvp",
                "--data",
                "moons",
                "--out",
                str(run),
                "--max-steps",
                "20",
                "--no-progress",
            ],
            check=True,
            capture_output=True,
        )
        sample = [*CLI, "sample", str(run), "-o"]
        evaluate = [*CLI, "evaluate", str(run), "--data", "moons", "--metrics", "energy_distance", "--json"]
        cases = {
            f"dgm sample -n {args.samples}": [*sample, f"{tmp}/s.npy", "-n", str(args.samples)],
            f"dgm evaluate --n-samples {args.eval_samples}": [
                *evaluate,
                "--n-samples",
                str(args.eval_samples),
            ],
            "dgm sample -n 1000 (baseline)": [*sample, f"{tmp}/b.npy", "-n", "1000"],
        }
        rows = [
            {"command": name, **dict(zip(("peak_mb", "seconds"), peak_rss(cmd), strict=True))}
            for name, cmd in cases.items()
        ]
    print("| command | peak RSS (MB) | time (s) |")
    print("|---|---|---|")
    for r in rows:
        print(f"| `{r['command']}` | {r['peak_mb']:.0f} | {r['seconds']:.1f} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {RESULTS / 'memory.json'}")


if __name__ == "__main__":
    main()
