"""`dgm evaluate RUN --data DATA [--split S] [--metrics ...] [--json]`."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    from dgm.cli.common import add_device, add_sampling, add_seed

    p = sub.add_parser("evaluate", help="evaluate a trained model on data")
    p.add_argument("run", help="run folder written by dgm train")
    p.add_argument("--data", required=True, help="dataset name or path to a file or folder")
    p.add_argument(
        "--split",
        default="test",
        help="samples to judge on: train, val, test or all (default test; all = every sample of a file)",
    )
    p.add_argument("--metrics", nargs="+", help="metrics to compute (default: every one that applies)")
    p.add_argument("--n-samples", type=int, default=2000, help="model samples for sample-based metrics")
    p.add_argument(
        "--importance-samples",
        type=int,
        default=0,
        metavar="K",
        help="for a model whose density is only bounded: estimate the NLL (and the KL to a known "
        "truth) by importance sampling with K draws per point (default 0: the bound, nll_bound, alone)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_sampling(p)
    add_seed(p)
    add_device(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dgm.cli.common import apply_sampling
    from dgm.data import load_data
    from dgm.errors import DgmError
    from dgm.io import label_values, load, read_config
    from dgm.metrics import evaluate
    from dgm.utils import resolve_device

    if args.n_samples < 2:
        raise DgmError(f"--n-samples must be at least 2, got {args.n_samples}")
    if args.importance_samples < 0:
        raise DgmError(f"--importance-samples must be 0 or more, got {args.importance_samples}")
    metrics = [m for item in args.metrics for m in item.split(",") if m] if args.metrics else None
    if args.metrics is not None and not metrics:
        raise DgmError("--metrics names no metric")
    model = load(args.run, device=resolve_device(args.device))
    config = read_config(args.run)
    apply_sampling(model, args, config)
    data = load_data(args.data)
    result = evaluate(
        model,
        data,
        args.split,
        metrics,
        n_samples=args.n_samples,
        seed=args.seed,
        importance_samples=args.importance_samples,
        label_values=label_values(config, model.context_features) if model.context_features else None,
        progress=sys.stderr.isatty(),  # on a terminal only: logs and pipes stay one line per result
    )
    kept = config.get("kept", {})
    result = {
        "run": str(args.run),
        "data": data.name,
        "split": args.split,
        "density": model.reported_density(),
        **({"model_step": kept["step"]} if "step" in kept else {}),
        **result,
    }
    if args.json:
        from dgm.utils import valid_json

        print(json.dumps(valid_json(result), allow_nan=False))
    else:
        width = max(map(len, result))
        for k, v in result.items():
            print(f"{k:<{width}}  {v:.6g}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    return 0
