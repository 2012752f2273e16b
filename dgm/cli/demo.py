"""`dgm demo [--out DIR]`: fit every family to moons, evaluate, write figures and a report."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="fit every model to moons and write a comparison report")
    p.add_argument("--out", type=Path, default=Path("demo"), help="output folder (default ./demo)")
    p.add_argument("--steps", type=int, default=1000, help="training steps per model (default 1000)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import shutil

    from dgm.demo import run_demo
    from dgm.errors import DgmError

    if args.steps < 1:
        raise DgmError(f"--steps must be a positive integer, got {args.steps}")
    marker = args.out / ".dgm-demo"
    if args.out.exists() and any(args.out.iterdir()) and not marker.exists():
        raise DgmError(f"{args.out} exists and is not a dgm demo folder; choose another --out")
    if args.out.exists():  # a previous demo: start afresh
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    marker.touch()
    report = run_demo(args.out, steps=args.steps)
    print(f"report: {report}")
    print(f"figures: {args.out}/*/figures/")
    return 0
