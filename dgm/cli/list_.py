"""`dgm list models|datasets|metrics|objectives`: the registry, one line per entry."""

from __future__ import annotations

import argparse

from dgm.registry import DATASETS, METRICS, MODELS, OBJECTIVES, load_all

REGISTRIES = {"models": MODELS, "datasets": DATASETS, "metrics": METRICS, "objectives": OBJECTIVES}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered models, datasets, metrics or objectives")
    p.add_argument("what", choices=sorted(REGISTRIES))
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    load_all()
    entries = list(REGISTRIES[args.what])
    width = max(len(e.name) for e in entries)
    for e in entries:
        print(f"{e.name:<{width}}  {e.summary}")
    return 0
