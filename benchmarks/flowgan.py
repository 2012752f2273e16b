"""Flow-GAN: one flow trained by likelihood, adversarially, and by both, on 2-D toys and MNIST.

The `flow-gan` model (a generator whose exact likelihood stays available: RealNVP with an MLP
critic, 128-128, on vectors; Glow with DCGAN's convolutional critic on images) is trained three
ways at the same CPU budget, one thread: `mle` (maximum likelihood; the critic idle),
`adversarial` (the non-saturating GAN game alone: `flow-gan` with λ = 0) and `hybrid` (the game
plus λ·NLL, λ = 1, or 1/D on images of D pixels: λ = 1 per dimension; Grover et al., 2018).
The kept model is the run's best by validation NLL. Reported on the test split: NLL; on toys KL to
the truth (NLL − H), the energy distance and the exact W2 (not squared; POT, 1,000 points); on
images bits/dim, FID in dgm's feature net and precision/recall; mean ± std over seeds. Grover et
al. found that adversarial training gives good samples and very poor likelihoods; the table
measures it. Writes benchmarks/results/flowgan.json.

    python benchmarks/flowgan.py [--max-time 2m] [--seeds 0,1] [--datasets moons,8gaussians,checkerboard]
    DGM_DATA=../shared/data/mnist python benchmarks/flowgan.py --datasets mnist --max-time 5m --seeds 0
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch
from gan import RESULTS, grid_parser, mean_std, run_grid  # the sibling benchmark: one grid runner for both

#: name -> (objective, objective arguments): the same model, trained three ways.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "mle": ("mle", {}),
    "adversarial": ("flow-gan", {"weight": 0.0}),
    "hybrid": ("flow-gan", {"weight": 1.0}),
    "hybrid10": ("flow-gan", {"weight": 10.0}),  # the likelihood weighted ten times as much
}
#: what each kind of data is judged by
METRICS = {
    "points": ["nll", "kl", "energy_distance", "wasserstein"],
    "image": ["nll", "bits_per_dim", "fid", "prdc"],
}
#: the table's columns by kind of data: (header, key, digits); an image's likelihood in bits/dim of
#: its 8-bit values (its `nll`, of the dequantised values in [0, 1)^D, stays in the JSON)
COLUMNS = {
    "points": [("NLL", "nll", 3), ("KL", "kl", 3), ("energy distance", "energy_distance", 4),
               ("W2", "w2", 3)],
    "image": [("bits/dim", "bits_per_dim", 3), ("FID", "fid", 1), ("precision", "prdc_precision", 3),
              ("recall", "prdc_recall", 3)],
}  # fmt: skip


def bench_one(variant: str, data_name: str, seed: int, max_time: str) -> dict[str, Any]:
    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.config import RunConfig
    from dgm.data import load_data
    from dgm.metrics import evaluate
    from dgm.train import train

    torch.set_num_threads(1)
    objective, objective_args = VARIANTS[variant]
    data = load_data(data_name)
    if data.kind == "image" and objective_args.get("weight"):
        # λ per dimension: the NLL of an image sums D terms (~1,000 nats on MNIST), which λ = 1
        # would set against an adversarial loss of ~1, leaving nothing of the game
        objective_args = {"weight": objective_args["weight"] / data.dim}
    given = {"model": "flow-gan", "data": data_name, "objective": objective, "objective_args": objective_args}
    # validating an image flow scores the 10,000 validation images: less often
    val_every = 250 if data.kind == "points" else 1000
    given.update(seed=seed, max_time=max_time, threads=1, val_every=val_every, checkpoint_every=5000)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(RunConfig.from_dict(given), Path(tmp) / "run", progress=False)
    row = {"variant": variant, "data": data_name, "seed": seed, "steps": result.global_step}
    row.update(evaluate(result.model, data, "test", METRICS[data.kind], seed=seed))
    return row


def main() -> None:
    p = grid_parser(
        __doc__,
        known=VARIANTS,
        max_time="2m",
        seeds="0,1",
        datasets="moons,8gaussians,checkerboard",
        variants="mle,adversarial,hybrid",
        jobs=1,
        out="flowgan.json",
    )
    args = p.parse_args()
    rows = run_grid(bench_one, args)

    def stat(group: list[dict[str, Any]], key: str, digits: int = 3) -> str:
        return mean_std([r[key] for r in group], digits)

    from dgm.data import load_data

    for d in args.datasets.split(","):
        columns = COLUMNS[load_data(d).kind]
        print("| data | training | steps | " + " | ".join(h for h, _, _ in columns) + " |")
        print("|---" * (3 + len(columns)) + "|")
        for v in args.variants.split(","):
            group = [r for r in rows if r["data"] == d and r["variant"] == v]
            cells = [stat(group, key, digits) for _, key, digits in columns]
            steps = statistics.mean(r["steps"] for r in group)
            print(f"| {d} | {v} | {steps:,.0f} | " + " | ".join(cells) + " |")
    print(f"written: {RESULTS / args.out}")


if __name__ == "__main__":
    main()
