"""`dgm demo [--out DIR] [--max-time 5s]`: `dgm compare` of every model of points on moons."""

from __future__ import annotations

import argparse
from pathlib import Path

DATA = "moons"


def add_parser(sub: argparse._SubParsersAction) -> None:
    from dgm.cli.common import add_device, add_seed
    from dgm.cli.compare import add_evaluation

    p = sub.add_parser("demo", help=f"compare every model of points on {DATA} under a short budget")
    p.add_argument("--out", type=Path, default=Path("demo"), help="output folder (default ./demo)")
    p.add_argument("--max-time", default="5s", help="training time per model (default 5s)")
    p.add_argument("--max-steps", type=int, help="training steps per model instead of a time")
    add_evaluation(p, n_test=2000, n_samples=1000)
    add_seed(p)
    add_device(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import shutil

    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.cli.compare import run_comparison
    from dgm.compare import models_for
    from dgm.data import load_data
    from dgm.errors import DgmError
    from dgm.utils import output_folder

    marker = args.out / ".dgm-demo"
    if args.out.is_dir() and any(args.out.iterdir()) and not marker.exists():
        raise DgmError(f"{args.out} exists and is not a dgm demo folder; choose another --out")
    if args.out.is_dir():  # a previous demo: start afresh
        shutil.rmtree(args.out)
    output_folder(args.out)
    marker.touch()
    if args.max_steps is not None:
        args.max_time = None
    report = run_comparison(args, DATA, models_for(load_data(DATA)), args.out)
    print(f"report: {report}")
    return 0
