"""Training speed at 1 and 2 torch threads, on an idle machine and beside competing work.

For each model, `dgm train` runs in a subprocess with --threads N while the machine is idle,
beside a single-threaded busy loop, and beside a second dgm training with the same --threads;
steps/s is measured between two logged steps from metrics.csv (start-up excluded). Prints a table
and writes benchmarks/results/threads.json.

    python benchmarks/threads.py [--cases nsf-moons,glow-mnist]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
CLI = [sys.executable, "-m", "dgm.cli.main", "train"]
# name: (train arguments, first and last step of the measured window)
CASES = {
    "nsf-moons": (["nsf", "--data", "moons"], 50, 300),
    "glow-mnist": (["glow", "--data", "mnist", "--batch-size", "64"], 10, 40),
}
BUSY = [sys.executable, "-c", "while True: pass"]


def _competitor(load: str, threads: int, folder: Path) -> subprocess.Popen | None:
    if load == "idle":
        return None
    if load == "busy loop":
        return subprocess.Popen(BUSY)
    args = ["nsf", "--data", "circles", "--max-steps", "1000000", "--threads", str(threads)]
    return subprocess.Popen(
        [*CLI, *args, "--out", str(folder / "other"), "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def measure(case: str, threads: int, load: str) -> dict:
    args, first, last = CASES[case]
    with tempfile.TemporaryDirectory() as tmp:
        other = _competitor(load, threads, Path(tmp))
        try:
            out = Path(tmp) / "run"
            subprocess.run(
                [
                    *CLI,
                    *args,
                    "--out",
                    str(out),
                    "--max-steps",
                    str(last),
                    "--threads",
                    str(threads),
                    "--no-progress",
                    "--set",
                    "log_every=10",
                    "--set",
                    f"val_every={last}",
                    "--set",
                    f"checkpoint_every={last}",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        finally:
            if other is not None:
                other.kill()
                other.wait()
        from dgm.io import read_metrics

        t = {int(r["step"]): r["wall_time"] for r in read_metrics(out / "metrics.csv")}
    return {
        "case": case,
        "threads": threads,
        "load": load,
        "steps_per_s": (last - first) / (t[last] - t[first]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES))
    args = p.parse_args()
    rows = [
        measure(case, threads, load)
        for case in args.cases.split(",")
        for load in ("idle", "busy loop", "second training")
        for threads in (1, 2)
    ]
    print(f"{os.cpu_count()} CPU cores")
    print("| case | load | 1 thread (steps/s) | 2 threads (steps/s) | 2 / 1 |")
    print("|---|---|---|---|---|")
    for i in range(0, len(rows), 2):
        one, two = rows[i], rows[i + 1]
        ratio = two["steps_per_s"] / one["steps_per_s"]
        print(
            f"| {one['case']} | {one['load']} | {one['steps_per_s']:.1f} | "
            f"{two['steps_per_s']:.1f} | {ratio:.2f} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "threads.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {RESULTS / 'threads.json'}")


if __name__ == "__main__":
    main()
