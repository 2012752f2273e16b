"""A multi-scale image flow on MNIST within a CPU time budget: test bits/dim, samples, time.

    python benchmarks/mnist.py [--model glow] [--max-steps 28000] [--max-time 60m] [--threads 1]
        [--dequantize variational|uniform] [--batch-size 64] [--set k=v ...] [--name NAME]

Adam with a 200-step warm-up and a cosine decay over --max-steps; --max-time stops it earlier if
the machine is slower (28,000 steps of the default Glow take about 50 minutes on one core).

Bits/dim are on the discrete 0–255 scale: the dequantisation (uniform, or `--set
dequantize=variational`: then `params` counts q's too) and the logit Jacobian are included (see
dgm/data/dequantize.py and dgm/flows/dequantization.py). Writes benchmarks/results/mnist-NAME.json
and the run folder benchmarks/results/mnist-NAME/ (samples in figures/).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from dgm.config import RunConfig, apply_overrides
from dgm.data import load_data
from dgm.metrics import evaluate
from dgm.train import train

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="glow")
    p.add_argument("--max-time", default="60m", help="hard limit on the training time")
    p.add_argument("--max-steps", type=int, default=28000, help="length of the cosine schedule")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (CPU-minutes = threads × minutes)")
    p.add_argument("--dequantize", default="variational", choices=["uniform", "variational"])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--name", help="results name (default: the model's); runs in parallel need distinct names")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    settings = apply_overrides(
        {
            "model": args.model,
            "data": "mnist",
            "max_time": args.max_time,
            "max_steps": args.max_steps,
            "dequantize": args.dequantize,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "lr_schedule": "cosine",
            "warmup_steps": 200,
            "grad_clip": 50.0,
            "val_every": 1000,
            "checkpoint_every": 500,
        },
        args.set,
    )
    name = args.name or args.model
    run = RESULTS / f"mnist-{name}"
    shutil.rmtree(run, ignore_errors=True)
    t0 = time.time()
    result = train(RunConfig.from_dict(settings), run, progress=False)
    train_s = time.time() - t0
    from dgm import plots

    data = load_data("mnist")
    plots.run_figures(run, result.model, data)
    # A variationally dequantised model's density is a bound: its bits/dim is bits_per_dim_bound.
    bound = result.model.density == "bound"
    metrics = evaluate(result.model, data, "test", ["nll_bound"] if bound else ["nll", "bits_per_dim"])
    row = {
        "model": args.model,
        "settings": settings,
        "threads": args.threads,
        "steps": result.global_step,
        "train_s": train_s,
        "params": sum(p.numel() for p in result.model.parameters()),
        **metrics,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"mnist-{name}.json").write_text(json.dumps(row, indent=2) + "\n")
    print("| model | steps | train time | params | test bits/dim |")
    print("|---|---|---|---|---|")
    minutes, bpd = train_s / 60, row["bits_per_dim_bound" if bound else "bits_per_dim"]
    print(f"| {args.model} | {row['steps']} | {minutes:.1f} min | {row['params']} | {bpd:.3f} |")
    print(f"samples: {run / 'figures' / 'samples.png'}")


if __name__ == "__main__":
    main()
