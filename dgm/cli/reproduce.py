"""`dgm reproduce seed-paper [--quick] [--batch-norm] [--out DIR]`: the seed paper's experiments
beside its logs."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from dgm.cli.common import add_device, add_seed

    p = sub.add_parser("reproduce", help="rerun a paper's experiments and set dgm's figures beside its own")
    p.add_argument("paper", choices=["seed-paper"], help="seed-paper: Ruthotto & Haber (2021)")
    p.add_argument("--quick", action="store_true", help="shortened runs: minutes, to check the pipeline")
    p.add_argument(
        "--only",
        help="comma-separated experiments to run now (default all); the table holds every finished one",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="output folder (default ./seed-paper, -quick and -bn added for those options)",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads of each run (default: 1 for vectors, the cores shared out for images)",
    )
    p.add_argument(
        "--batch-norm",
        action="store_true",
        help="BatchNorm where the seed's networks had it (the VAE's decoder, both GAN networks)",
    )
    add_seed(p)
    add_device(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dgm.compare.seed_paper import reproduce

    out = args.out or Path("seed-paper" + "-quick" * args.quick + "-bn" * args.batch_norm)
    only = None if args.only is None else [name.strip() for name in args.only.split(",") if name.strip()]
    table = reproduce(
        out,
        quick=args.quick,
        seed=args.seed,
        device=args.device,
        only=only,
        threads=args.threads,
        batch_norm=args.batch_norm,
    )
    print(table.read_text(), end="")
    print(f"table: {table}")
    return 0
