"""Compare settings of one model on one dataset: test KL (or NLL) and time per setting.

    python benchmarks/sweep.py nsf checkerboard '{}' '{"bins": 16}' [--steps 3000] [--batch-size 512]

Each JSON argument is a set of model_args; every run trains with `dgm.train.train` on one thread.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from dgm.config import RunConfig
from dgm.data import load_data
from dgm.metrics import evaluate
from dgm.train import train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("settings", nargs="+", help="JSON objects of model_args")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load_data(args.data)
    metric = "kl" if data.has_true_density else "nll"
    print(f"| model_args | {metric} | time (s) |\n|---|---|---|")
    for text in args.settings:
        model_args = json.loads(text)
        config = RunConfig(
            model=args.model,
            data=args.data,
            max_steps=args.steps,
            batch_size=args.batch_size,
            model_args=model_args,
            val_every=args.steps,
            checkpoint_every=args.steps,
        )
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = train(config, Path(tmp) / "run", progress=False)
            seconds = time.perf_counter() - t0
        m = evaluate(result.model, data, "test", [metric])
        print(f"| {text} | {m[metric]:.4f} ± {m[f'{metric}_se']:.4f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
