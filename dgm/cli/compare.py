"""`dgm compare --data DATA --models a,b,c [--max-time 2m | --max-steps N] [--out DIR] [--rejection]`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from dgm.cli.common import add_device, add_seed

    p = sub.add_parser(
        "compare", help="train several models on one dataset under one budget and report them side by side"
    )
    p.add_argument("--data", required=True, help="dataset name or path to a file or folder")
    p.add_argument(
        "--models",
        required=True,
        help="comma-separated registered model names and/or finished run folders "
        "(e.g. realnvp,vae,runs/gan); 'all' = every model that fits the data",
    )
    add_budget(p)
    p.add_argument("--out", type=Path, default=Path("compare"), help="output folder (default ./compare)")
    add_evaluation(p)
    p.add_argument(
        "--rejection",
        action="store_true",
        help="also judge each GAN whose critic holds the density ratio (gan-ns, gan-minimax, pacgan, "
        "lsgan) sampled by discriminator rejection, as a row NAME +DRS",
    )
    add_seed(p)
    add_device(p)
    p.set_defaults(handler=run)


def add_budget(p: argparse.ArgumentParser) -> None:
    """--max-time and --max-steps: the one budget every trained model gets."""
    p.add_argument(
        "--max-time", help='training time per model, e.g. "30s", "2m" (the same clock for every model)'
    )
    p.add_argument("--max-steps", type=int, help="training steps per model (capped at its default length)")


def add_evaluation(p: argparse.ArgumentParser, n_test: int | None = None, n_samples: int = 2000) -> None:
    """--n-test, --n-samples and --importance-samples: how every model is judged."""
    p.add_argument(
        "--n-test",
        type=int,
        default=n_test,
        help=f"judge on the first N points of the test split (default {n_test or 'all'})",
    )
    p.add_argument(
        "--n-samples",
        type=int,
        default=n_samples,
        help=f"model samples for sample metrics (default {n_samples})",
    )
    p.add_argument(
        "--importance-samples",
        type=int,
        default=100,
        metavar="K",
        help="K draws per point for the importance-sampled NLL of a bounded density "
        "(default 100; 0: the bound alone)",
    )


def run(args: argparse.Namespace) -> int:
    models = [m for m in args.models.split(",") if m]
    if models == ["all"]:
        import dgm.catalog  # noqa: F401
        from dgm.compare import models_for
        from dgm.data import load_data

        models = models_for(load_data(args.data))
    report = run_comparison(args, args.data, models, args.out)
    print(f"report: {report}")
    return 0


def run_comparison(args: argparse.Namespace, data: str, models: list[str], out: Path) -> Path:
    """Check the shared arguments, compare, write the report; return report.html's path."""
    from dgm.compare import compare, write_report
    from dgm.config import parse_duration
    from dgm.errors import DgmError

    rejection = getattr(args, "rejection", False)  # `dgm demo` has no --rejection
    if not models:
        raise DgmError("--models names no model")
    if args.max_steps is not None and args.max_steps < 1:
        raise DgmError(f"--max-steps must be a positive integer, got {args.max_steps}")
    if args.max_time is not None:
        parse_duration(args.max_time)  # a clear error for a bad duration, before any training
    if args.n_test is not None and args.n_test < 1:
        raise DgmError(f"--n-test must be a positive integer, got {args.n_test}")
    if args.n_samples < 2:
        raise DgmError(f"--n-samples must be at least 2, got {args.n_samples}")
    if args.importance_samples < 0:
        raise DgmError(f"--importance-samples must be 0 or more, got {args.importance_samples}")
    settings = {
        "data": data,
        "models": models,
        "max_steps": args.max_steps,
        "max_time": args.max_time,
        "seed": args.seed,
        "n_test": args.n_test,
        "n_samples": args.n_samples,
        "importance_samples": args.importance_samples,
        "rejection": rejection,
        "device": args.device,
    }
    rows = compare(
        data,
        models,
        out,
        max_steps=args.max_steps,
        max_time=args.max_time,
        seed=args.seed,
        device=args.device,
        n_samples=args.n_samples,
        importance_samples=args.importance_samples,
        max_points=args.n_test,
        rejection=rejection,
    )
    return write_report(rows, out, settings)[0]
