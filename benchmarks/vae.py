"""VAEs on dynamically binarised MNIST at a fixed CPU budget: the ELBO against IWAE.

Each variant trains the 1-stochastic-layer architecture of Burda et al. (2016), 784-200-200-50
with tanh and a Bernoulli decoder, on the 50,000 training images (dgm's split; binarised afresh
every batch), batch 100, Adam lr 1e-3 with cosine decay over the budget, one thread. Reported: the
test −ELBO (all 10,000 images, one seeded draw each) and the importance-sampled NLL with K draws
on the first `--nll-points` test images (binarised once with seed 0, as `dgm evaluate` does), each
with its standard error, and the training steps, epochs and time. The `seed-q2` variant is the
seed paper's convolutional VAE with a 2-D latent space (width 32, batch 64, Adam 1e-3, weight
decay 1e-5), trained for `--seed-epochs` epochs. The `m2-100` variant is the semi-supervised M2
(Kingma et al., 2014: 500 softplus units, latent 50, Bernoulli decoder) with 100 labels, for which
the classifier's test accuracy is reported too (`m2-100-w`: the labelled rows' bound weighted as
in Kingma et al.'s sum, see `m1m2-100-300-w`); `m1m2-100` is their stacked M1+M2, M1 trained for
`--m1-time` of the budget (`m1m2-100-300`: with Kingma et al.'s smaller M2 for 100 labels;
`m1m2-100-300-all`: the same M2 on all of M1's 50 units, not only the active ones;
`m1m2-100-300-w`: the same with the labelled rows' bound weighted as in Kingma et al.'s sum), or
taken from a finished run (`--m1-from`: one M1 for every label draw, its training time counted
against each draw's budget). Each variant runs once per seed of `--seeds` (for M2, a label draw).
Writes benchmarks/results/vae.json (or `--out`); `--keep DIR` keeps each run, with its figures
(the semi-supervised models' analogies among them), in DIR/VARIANT-seedS/.

    python benchmarks/vae.py [--max-time 60m] [--variants vae,iwae5] [--k 5000] [--nll-points 10000]
    python benchmarks/vae.py --variants seed-q2 --seed-epochs 50
    python benchmarks/vae.py --variants m1m2-100 --seeds 0,1,2 --jobs 2
    python benchmarks/vae.py --variants m1m2-100-300 --seeds 0,1,2 --m1-from runs/m1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).parent / "results"
BURDA = {"likelihood": "bernoulli", "latent": 50, "hidden": [200, 200], "activation": "tanh"}
BURDA["network"] = "mlp"

#: name -> run settings (model "vae" on mnist).
VARIANTS: dict[str, dict[str, Any]] = {
    "vae": {"model_args": BURDA, "objective": "elbo", "batch_size": 100},
    # KL warm-up (Sønderby et al., 2016): β rises from 0 to 1 over the first 20,000 steps (about a
    # seventh of an hour's steps here), so fewer latent units collapse onto the prior early on.
    "vae-warmup": {
        "model_args": BURDA,
        "objective": "elbo",
        "objective_args": {"warmup": 20_000},
        "batch_size": 100,
    },
    "iwae5": {"model_args": BURDA, "objective": "iwae", "objective_args": {"k": 5}, "batch_size": 100},
    "iwae50": {"model_args": BURDA, "objective": "iwae", "objective_args": {"k": 50}, "batch_size": 100},
    "m2-100": {
        "model": "vae-m2",
        "model_args": {"likelihood": "bernoulli"},
        "objective": "m2",
        "labels": 100,
        "batch_size": 100,
    },
    # M1+M2 keeps its last model: the best validation bound (of binarised images) picks an early
    # M2 fitted to grey images' codes, whose classifier is 1–2.5 points worse (benchmarks/README.md).
    # M1+M2: M1 (Kingma et al.'s 784-600-600-50 softplus VAE; Adam 1e-3, batch 100) trains first
    # for --m1-time of the budget, then M2 on its latent code (two layers of 500 softplus units,
    # latent 50) for the rest: Adam 3e-4, 100 labelled and 100 unlabelled rows a batch, α = 0.5.
    "m1m2-100": {
        "model": "vae-m1m2",
        "model_args": {"hidden": [500, 500], "classifier_hidden": [500, 500]},
        "objective": "m2",
        "objective_args": {"alpha": 0.5},
        "labels": 100,
        "batch_size": 200,
        "lr": 3e-4,
        "keep": "last",
    },
    # The same with Kingma et al.'s M2 for 100 labels (their run_2layer_ssl: one hidden layer of
    # 300 units in every network): about a sixth of the work per step.
    "m1m2-100-300": {
        "model": "vae-m1m2",
        "model_args": {"hidden": [300], "classifier_hidden": [300]},
        "objective": "m2",
        "objective_args": {"alpha": 0.5},
        "labels": 100,
        "batch_size": 200,
        "lr": 3e-4,
        "keep": "last",
    },
    "seed-q2": {
        "model_args": {"likelihood": "bernoulli", "latent": 2, "width": 32, "network": "conv"},
        "objective": "elbo",
        "batch_size": 64,
        "weight_decay": 1e-5,
    },
}

_M1M2_300 = VARIANTS["m1m2-100-300"]
# Kingma et al.'s weight of the labelled rows' bound: once per pass over the data, as each unlabelled
# row's, where the repeated labelled rows would count it N_u/N_l ≈ 500 times (100 labels)
VARIANTS["m1m2-100-300-w"] = {
    **_M1M2_300,
    "objective_args": {**_M1M2_300["objective_args"], "labelled_weight": 0.002},
}
VARIANTS["m2-100-w"] = {**VARIANTS["m2-100"], "objective_args": {"labelled_weight": 0.002}}
# the ablation of the active units: M2 on every unit of M1, the inactive ones too
VARIANTS["m1m2-100-300-all"] = {
    **_M1M2_300,
    "model_args": {**_M1M2_300["model_args"], "m1_active": list(range(50))},
}

M1_ARGS = {
    "network": "mlp",
    "likelihood": "bernoulli",
    "latent": 50,
    "hidden": [600, 600],
    "activation": "softplus",
}


def bench_one(
    variant: str,
    seed: int,
    max_time: str,
    seed_epochs: int,
    k: int,
    nll_points: int,
    m1_time: str,
    keep: Path | None,
    m1_from: Path | None = None,
) -> dict[str, Any]:
    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.config import RunConfig, parse_duration
    from dgm.data import load_data
    from dgm.data.dequantize import binarize
    from dgm.metrics import evaluate
    from dgm.metrics.likelihood import mean_and_se
    from dgm.train import train
    from dgm.utils import seeded

    torch.set_num_threads(1)
    data = load_data("mnist")
    length = {"epochs": seed_epochs} if variant == "seed-q2" else {"max_time": max_time}
    given = {"model": "vae", "data": "mnist", "lr": 1e-3, "threads": 1, "seed": seed, **length}
    given.update(VARIANTS[variant])
    semi_supervised = given["model"] in ("vae-m2", "vae-m1m2")
    metrics = ["nll_bound", "accuracy"] if semi_supervised else ["nll_bound"]
    given.update(val_every=1000, checkpoint_every=2000)  # a step takes ~10 ms: keep the overhead small
    row: dict[str, Any] = {"variant": variant, "seed": seed}
    kept = None if keep is None else keep / f"{variant}-seed{seed}"
    with tempfile.TemporaryDirectory() if kept is None else contextlib.nullcontext(str(kept)) as tmp:
        t0 = time.perf_counter()
        if given["model"] == "vae-m1m2" and m1_from is not None:  # M1 trained before: its time counts
            row["m1_from"] = str(m1_from)
            row["m1_steps"], row["m1_wall_s"] = _last_step(m1_from / "metrics.csv")
            given["init_from"] = str(m1_from)
            given["max_time"] = f"{max(1.0, parse_duration(max_time) - row['m1_wall_s']):.0f}s"
        elif given["model"] == "vae-m1m2":  # M1 first, for its share of the budget
            m1_given = {**given, "model": "vae", "objective": "elbo", "labels": None, "model_args": M1_ARGS}
            m1_given.update(objective_args={}, lr=1e-3, batch_size=100)
            m1_result = train(
                RunConfig.from_dict({**m1_given, "max_time": m1_time}), Path(tmp) / "m1", progress=False
            )
            row["m1_steps"], row["m1_wall_s"] = m1_result.global_step, time.perf_counter() - t0
            given["init_from"] = str(Path(tmp) / "m1")
            given["max_time"] = f"{max(1.0, parse_duration(max_time) - row['m1_wall_s']):.0f}s"
        result = train(RunConfig.from_dict(given), Path(tmp) / "run", progress=False)
        wall = time.perf_counter() - t0 + (row["m1_wall_s"] if m1_from is not None else 0.0)
    model = result.model.eval()
    row.update({"steps": result.global_step, "wall_s": wall})
    row["epochs"] = result.global_step * given["batch_size"] / data.split("train").shape[0]
    row.update(evaluate(model, data, "test", metrics))
    if kept is not None:
        from dgm.plots import run_figures

        run_figures(kept / "run", model, data)
    if semi_supervised:  # its bound is of log p(x | y); the marginal NLL is not compared
        return row
    # The importance-sampled NLL on the leading test images, binarised as `evaluate` binarises.
    x = binarize(data.split("test"), torch.Generator().manual_seed(0))[:nll_points]
    t0 = time.perf_counter()
    with seeded(0, torch.device("cpu")), torch.no_grad():
        log_p = torch.cat([model.log_prob_importance(chunk, None, k) for chunk in x.split(8)])
    row["nll"], row["nll_se"] = mean_and_se(-log_p.double())
    row.update({"nll_k": k, "nll_points": len(x), "nll_eval_s": time.perf_counter() - t0})
    row["log_p"] = log_p.double().tolist()  # per image: paired differences between variants
    return row


def _last_step(metrics_csv: Path) -> tuple[int, float]:
    """A finished run's last step and its training time in seconds (that of the last row that logs
    one: the final validation row does not), from its metrics.csv."""
    from dgm.io import read_metrics

    rows = read_metrics(metrics_csv)
    return int(rows[-1]["step"]), next(r["wall_time"] for r in reversed(rows) if "wall_time" in r)


def main() -> None:
    from dgm.config import parse_duration
    from dgm.metrics.likelihood import mean_and_se

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-time", default="60m", help="training budget per variant (not seed-q2)")
    p.add_argument("--variants", default="vae,iwae5", help=f"comma-separated, from {', '.join(VARIANTS)}")
    p.add_argument("--seed-epochs", type=int, default=50, help="epochs of the seed-q2 variant")
    p.add_argument("--k", type=int, default=5000, help="importance samples per test image")
    p.add_argument("--nll-points", type=int, default=10_000, help="test images for the NLL estimate")
    p.add_argument("--m1-time", default="15m", help="the part of the m1m2 variant's budget that trains M1")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (weights, batches, labels kept)")
    p.add_argument("--jobs", type=int, default=1, help="variants trained at once (one thread each)")
    p.add_argument("--out", type=Path, default=RESULTS / "vae.json", help="where the JSON goes")
    p.add_argument("--keep", type=Path, help="keep the runs (with figures) in KEEP/VARIANT-seedS/")
    p.add_argument(
        "--m1-from",
        type=Path,
        help="a finished M1 run (vae) for every m1m2 seed instead of training one each; its training "
        "time counts against --max-time",
    )
    args = p.parse_args()
    variants = args.variants.split(",")
    if (
        args.m1_from is None
        and any(v.startswith("m1m2") for v in variants)
        and parse_duration(args.m1_time) >= parse_duration(args.max_time)
    ):
        p.error(f"--m1-time {args.m1_time} leaves nothing of --max-time {args.max_time} for M2")
    runs = [(v, int(s)) for v in variants for s in args.seeds.split(",")]
    shared = (args.max_time, args.seed_epochs, args.k, args.nll_points, args.m1_time, args.keep, args.m1_from)
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(bench_one, *zip(*runs, strict=True), *([v] * len(runs) for v in shared)))
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "args": {**vars(args), **{k: str(v) for k, v in vars(args).items() if isinstance(v, Path)}},
                "rows": rows,
            },
            indent=2,
        )
    )
    head = f"{'steps':>7} {'epochs':>7} {'train':>7} {'−ELBO':>14} {'NLL (K, images)':>26}"
    print(f"{'variant':<9} {'seed':>4} {head}")
    for r in rows:
        nll = f"{r['nll']:.2f} ± {r['nll_se']:.2f} ({r['nll_k']}, {r['nll_points']})" if "nll" in r else "-"
        if "accuracy" in r:
            nll = f"accuracy {100 * r['accuracy']:.2f} %"
        bound = f"{r['nll_bound']:.2f} ± {r['nll_bound_se']:.2f}"
        steps = f"{r['steps']:>7} {r['epochs']:>7.1f} {r['wall_s']:>6.0f}s"
        print(f"{r['variant']:<9} {r['seed']:>4} {steps} {bound:>14} {nll:>26}")
    for variant in dict.fromkeys(r["variant"] for r in rows):  # over the seeds (label draws)
        accuracy = torch.tensor([r["accuracy"] for r in rows if r["variant"] == variant and "accuracy" in r])
        if len(accuracy) > 1:
            mean, std = 100 * accuracy.mean(), 100 * accuracy.std()
            print(f"{variant}: accuracy {mean:.2f} ± {std:.2f} % (mean ± std over {len(accuracy)} seeds)")
    # The same images, so a paired difference has a small standard error; runs of one seed paired.
    for seed in dict.fromkeys(r["seed"] for r in rows):
        first, *rest = [r for r in rows if r["seed"] == seed and "log_p" in r] or [{}]
        for r in rest:
            if r["nll_points"] == first["nll_points"]:
                diff = torch.tensor(first["log_p"]) - torch.tensor(r["log_p"])  # NLL of r − NLL of first
                mean, se = mean_and_se(diff)
                pair = f"{r['variant']} − {first['variant']}, seed {seed}"
                print(f"NLL {pair}: {mean:+.2f} ± {se:.2f} (paired, same images)")
    print(f"written: {out}")
    if any(not math.isfinite(r.get("nll", 0.0)) for r in rows):
        raise SystemExit("a variant's NLL is not finite")


if __name__ == "__main__":
    main()
