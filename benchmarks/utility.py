"""Synthetic-data utility: do a class-conditional model's samples teach a classifier?

Each conditional model (`--set conditional=true`: the label into every network) trains on the
labelled images of `--datasets` for `--max-time`, one thread, and is judged by dgm's `utility`
metric on the test split: a logistic regression (pixels standardised) fitted to as many model
samples as the test split holds, drawn for its labels (train on synthetic, test on real: TSTR),
beside the same classifier fitted to as many real training images of the same classes (TRTR,
the ceiling), to 10 real images per class alone, and to those 10 plus every sample (augmentation:
the second seed paper's point, that a generative model can help a discriminative one when labels
are few). Also the FID in dgm's feature net. Mean ± std over seeds. Writes
benchmarks/results/utility.json.

    python benchmarks/utility.py [--max-time 2m] [--seeds 0,1,2] [--datasets digits]
    DGM_DATA=../shared/data/mnist python benchmarks/utility.py --datasets mnist --max-time 10m
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch
from gan import RESULTS, grid_parser, mean_std, run_grid  # the sibling benchmark's grid runner

#: variant -> model, each trained by its own default objective
VARIANTS = {"vae": "vae", "glow": "glow", "dcgan": "dcgan", "wgan-gp": "wgan-gp"}
COLUMNS = [
    ("TSTR", "tstr_accuracy"),
    ("TRTR", "trtr_accuracy"),
    ("10 real per class", "few_real_accuracy"),
    ("10 real + samples", "augmented_accuracy"),
]


def bench_one(variant: str, data_name: str, seed: int, max_time: str) -> dict[str, Any]:
    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.config import RunConfig
    from dgm.data import load_data
    from dgm.metrics import evaluate
    from dgm.train import train

    torch.set_num_threads(1)
    data = load_data(data_name)
    given = {"model": VARIANTS[variant], "data": data_name, "conditional": True, "seed": seed}
    given.update(max_time=max_time, threads=1, checkpoint_every=5000)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(RunConfig.from_dict(given), Path(tmp) / "run", progress=False)
    n = len(data.split("test"))
    row = {"variant": variant, "data": data_name, "seed": seed, "steps": result.global_step}
    row.update(evaluate(result.model, data, "test", ["utility", "fid"], n_samples=n, seed=seed))
    return row


def main() -> None:
    p = grid_parser(
        __doc__,
        known=VARIANTS,
        max_time="2m",
        seeds="0,1,2",
        datasets="digits",
        variants=",".join(VARIANTS),
        jobs=2,
        out="utility.json",
    )
    args = p.parse_args()
    rows = run_grid(bench_one, args)
    print("| data | model | steps | " + " | ".join(h for h, _ in COLUMNS) + " | FID |")
    print("|---" * (4 + len(COLUMNS)) + "|")
    for d in args.datasets.split(","):
        for v in args.variants.split(","):
            group = [r for r in rows if r["data"] == d and r["variant"] == v]
            cells = [mean_std([100 * r[key] for r in group], 1) + " %" for _, key in COLUMNS]
            steps = statistics.mean(r["steps"] for r in group)
            fid = mean_std([r["fid"] for r in group], 1)
            print(f"| {d} | {v} | {steps:,.0f} | " + " | ".join(cells) + f" | {fid} |")
    print(f"written: {RESULTS / args.out}")


if __name__ == "__main__":
    main()
