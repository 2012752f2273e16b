"""`dgm train MODEL --data DATA [--out DIR] [...]`: fit a model, then write figures and a summary."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dgm.cli.common import add_device, add_seed

# Flag -> RunConfig field; flags left unset do not override the --config file.
FLAGS = {
    "max_steps": int,
    "epochs": int,
    "max_time": str,
    "batch_size": int,
    "lr": float,
    "devices": int,
    "num_nodes": int,
    "strategy": str,
    "objective": str,
    "threads": int,
    "init_from": str,
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on data (see dgm list models)")
    p.add_argument("model", help="registered model name")
    p.add_argument("--data", help="dataset name or path to a .csv/.npy/.npz file or a folder of PNGs")
    p.add_argument("--out", help="run folder (default runs/MODEL-DATA)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--max-steps", type=int, help="number of optimiser steps")
    length.add_argument("--epochs", type=int, help="passes over the training split")
    p.add_argument("--max-time", help="stop after this long, e.g. 30s, 5m, 2h")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--objective", help="training objective (default: the model's own; dgm list objectives)")
    p.add_argument(
        "--init-from",
        metavar="RUN",
        help="start from a finished run's weights (a GAN from a VAE's decoder, M1+M2 from M1)",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads per process (default: 1 for vectors, the cores shared out for images)",
    )
    add_seed(p, default=None)
    add_device(p)
    p.add_argument("--devices", type=int, help="processes/GPUs per node for data parallelism")
    p.add_argument("--num-nodes", type=int, help="number of nodes (with torchrun or SLURM)")
    p.add_argument("--strategy", help="Lightning strategy, e.g. ddp")
    p.add_argument("--config", type=Path, help="YAML file of config keys (every key: docs/config.md)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key; model_args.NAME=VALUE sets a model argument, objective_args.NAME=VALUE "
        "an objective's (or NAME=VALUE alone, e.g. coupling=ot), optim.PLAYER.SETTING=VALUE one player's "
        "optimiser (e.g. optim.critic.lr=5e-5)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its checkpoint (may change only its length and devices; "
        "a longer --max-steps restarts the cosine schedule's tail)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(handler=run)


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings this command line gives: --config file, then flags, then --set."""
    from dgm.build import route_arguments
    from dgm.config import apply_overrides, read_yaml
    from dgm.errors import DgmError

    d = read_yaml(args.config) if args.config else {}
    if d.get("model", args.model) != args.model:
        raise DgmError(f"--config {args.config} is for model {d['model']!r}, not {args.model!r}")
    d["model"] = args.model
    if args.data:
        d["data"] = args.data
    for name in FLAGS:
        if getattr(args, name) is not None:
            d[name] = getattr(args, name)
    if args.seed is not None:
        d["seed"] = args.seed
    if args.device != "auto":
        d["device"] = args.device
    d = apply_overrides(d, args.set)
    if d["model"] != args.model:
        raise DgmError(f"the model is the command's first argument ({args.model}); --set cannot change it")
    return route_arguments(d)


def run(args: argparse.Namespace) -> int:
    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.config import RunConfig
    from dgm.errors import DgmError
    from dgm.registry import MODELS

    MODELS.get(args.model)  # fail early on a typo, before Lightning is imported
    given = overrides(args)
    if args.resume:
        if not args.out:
            raise DgmError("--resume needs --out, the folder of the run to continue")
        from dgm.train.fit import resume_config

        config = resume_config(args.out, given)
    else:
        if "data" not in given:
            raise DgmError("dgm train needs --data (a dataset name or a path)")
        config = RunConfig.from_dict(given)
    out = Path(args.out or f"runs/{args.model}-{Path(config.data).stem}")

    from dgm.train import train
    from dgm.train.summary import summarize

    result = train(config, out, resume=args.resume, progress=not args.no_progress)
    if result.is_global_zero:
        summarize(out, result)
    return 0
