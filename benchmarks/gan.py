"""Mode collapse of GAN objectives on ring8 and grid25, over several seeds, at a fixed CPU budget.

Each objective trains the `gan` model (MLP generator and critic, 128-128, latent 8) at its
registered defaults (the optimiser of its paper) for `--max-time` per run, one thread; the kept
model is the one with the best validation energy distance (the `-last` variants: the last one).
Reported per objective and data set, mean ± std over seeds: modes covered (a sample within 3σ
of a mode), the share of high-quality samples (within 3σ of some mode; 98.9 % for the truth
itself), the reverse KL of the mode histogram against uniform, the exact W2 (not squared) by POT
between 2,000 samples and 2,000 test points, and the runs that covered every mode. For the
Jensen-Shannon and least-squares games a second row (+DRS) scores the same models sampled by
discriminator rejection sampling (`dgm sample --rejection`). Writes benchmarks/results/gan.json (or `--out`).

    python benchmarks/gan.py [--max-time 1m] [--seeds 0,1,2,3,4] [--datasets ring8,grid25]
        [--variants gan-ns,gan-minimax,pacgan4,pacgan,lsgan,wgan,wgan-gp,wgan-sn,hinge-sn,r3gan]
        [--jobs 2] [--out gan.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from dgm.utils import seeded

RESULTS = Path(__file__).parent / "results"

#: name -> (objective, model arguments, other config keys).
VARIANTS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "gan-ns": ("gan-ns", {}, {}),
    "gan-minimax": ("gan-minimax", {}, {}),
    "lsgan": ("lsgan", {}, {}),
    "hinge-sn": ("hinge", {}, {}),  # SNGAN: the objective turns spectral normalisation on
    "wgan": ("wgan", {}, {}),
    "wgan-gp": ("wgan-gp", {}, {}),
    "wgan-sn": ("wgan-sn", {}, {}),  # spectral normalisation: the objective turns it on
    "r3gan": ("r3gan", {}, {}),
    "pacgan4": ("gan-ns", {"pack": 4}, {}),  # PacGAN: the critic judges 4 samples at once (Lin et al., 2018)
    "pacgan": ("pacgan", {}, {}),  # the objective at its defaults: packed triples, cosine decay, last weights
    # The weights averaged over steps (Yazıcı et al., 2019): samples come from the averaged generator.
    "gan-minimax-ema": ("gan-minimax", {}, {"ema": 0.999}),
    # The learning rate decayed to 0 over the run (cosine) instead of held constant.
    "gan-minimax-cosine": ("gan-minimax", {}, {"lr_schedule": "cosine"}),
    # The last weights instead of those of the best validation energy distance, whose differences
    # fall below its noise once the modes are found; with the cosine decay, a quiet end to keep.
    "gan-minimax-last": ("gan-minimax", {}, {"keep": "last"}),
    "gan-minimax-cosine-last": ("gan-minimax", {}, {"lr_schedule": "cosine", "keep": "last"}),
    "hinge-sn-cosine-last": ("hinge", {}, {"lr_schedule": "cosine", "keep": "last"}),
    # Packing with the saturating game, the cosine decay and the last weights (grid25); a critic
    # judging pairs estimates the log density ratio of one sample more sharply than one of four.
    "pacgan4-minimax-cosine-last": ("gan-minimax", {"pack": 4}, {"lr_schedule": "cosine", "keep": "last"}),
    "pacgan2-minimax-cosine-last": ("gan-minimax", {"pack": 2}, {"lr_schedule": "cosine", "keep": "last"}),
    # Triples, between the two: a batch of 255 (85 packs), as 256 does not divide by 3.
    "pacgan3-minimax-cosine-last": (
        "gan-minimax",
        {"pack": 3},
        {"lr_schedule": "cosine", "keep": "last", "batch_size": 255},
    ),
}


def bench_one(variant: str, data_name: str, seed: int, max_time: str) -> dict[str, Any]:
    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.config import RunConfig
    from dgm.data import load_data
    from dgm.errors import DgmError
    from dgm.gan.objectives import check_rejection
    from dgm.io import read_config
    from dgm.metrics import evaluate
    from dgm.train import train

    torch.set_num_threads(1)
    objective, model_args, settings = VARIANTS[variant]
    given = {"model": "gan", "data": data_name, "objective": objective, "model_args": model_args, **settings}
    given.update(seed=seed, max_time=max_time, threads=1, val_every=500, checkpoint_every=5000)
    data = load_data(data_name)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(RunConfig.from_dict(given), Path(tmp) / "run", progress=False)
        config = read_config(Path(tmp) / "run")  # as recorded: what `--rejection` checks
    row = {"variant": variant, "data": data_name, "seed": seed, "steps": result.global_step}
    row.update(evaluate(result.model, data, "test", ["modes", "energy_distance"]))
    row["w2"] = _w2(result.model, data, seed)
    # The same model by discriminator rejection sampling, where its critic holds log p_data/p_g.
    try:
        log_ratio = check_rejection(result.model.core, config)
    except DgmError:
        return row
    result.model.core.use_rejection(log_ratio)
    try:
        row["rejection"] = evaluate(result.model, data, "test", ["modes"])
        row["rejection"]["w2"] = _w2(result.model, data, seed)
    except DgmError as e:  # an acceptance rate too low to finish: the row says so
        row["rejection_error"] = str(e)
    return row


def _w2(model: Any, data: Any, seed: int) -> float:
    """W2 (not squared) by POT between 2,000 samples and 2,000 test points."""
    import ot

    with seeded(seed, torch.device("cpu")), torch.no_grad():
        x = model.sample(2000).double()
    y = data.split("test")[:2000].double()
    uniform = torch.full((2000,), 1 / 2000, dtype=torch.float64)
    return math.sqrt(ot.emd2(uniform, uniform, torch.cdist(x, y).square(), numItermax=10**7).item())


def grid_parser(
    doc: str | None,
    *,
    known: Iterable[str],
    max_time: str,
    seeds: str,
    datasets: str,
    variants: str,
    jobs: int,
    out: str,
) -> argparse.ArgumentParser:
    """The command line of a grid benchmark (`run_grid`), with its defaults."""
    p = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    p.add_argument("--max-time", default=max_time, help="training budget per run")
    p.add_argument("--seeds", default=seeds, help="comma-separated seeds")
    p.add_argument("--datasets", default=datasets)
    p.add_argument("--variants", default=variants, help=f"comma-separated, from {', '.join(known)}")
    p.add_argument("--jobs", type=int, default=jobs, help="runs at once (one thread each)")
    p.add_argument("--out", default=out, help="the JSON's file name under benchmarks/results")
    return p


def run_grid(bench: Callable[..., dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """bench(variant, data, seed, max_time) for every variant, data set and seed of `args`,
    args.jobs at a time; the rows are also written to benchmarks/results/`args.out`."""
    runs = [
        (v, d, int(s), args.max_time)
        for d in args.datasets.split(",")
        for v in args.variants.split(",")
        for s in args.seeds.split(",")
    ]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(bench, *zip(*runs, strict=True)))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    return rows


def mean_std(values: list[float], digits: int) -> str:
    """ "mean ± sample standard deviation" (± 0 for a single value)."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"


def main() -> None:
    p = grid_parser(
        __doc__,
        known=VARIANTS,
        max_time="1m",
        seeds="0,1,2,3,4",
        datasets="ring8,grid25",
        variants="gan-ns,gan-minimax,pacgan4,pacgan,lsgan,wgan,wgan-gp,wgan-sn,hinge-sn,r3gan",
        jobs=2,
        out="gan.json",
    )
    args = p.parse_args()
    rows = run_grid(bench_one, args)
    head = f"{'data':<7} {'variant':<9} {'steps':>7} {'modes':>11} {'high-quality':>14}"
    print(f"{head} {'rev. KL':>13} {'W2':>13} all")

    def stat(group: list[dict[str, Any]], key: str, scale: float = 1.0) -> str:
        return mean_std([r[key] * scale for r in group], 2)

    for d in args.datasets.split(","):
        for v in args.variants.split(","):
            group = [r for r in rows if r["data"] == d and r["variant"] == v]
            steps = statistics.mean(r["steps"] for r in group)
            named = [(v, group)]
            if all("rejection" in r for r in group):
                named.append((f"{v} +DRS", [r["rejection"] for r in group]))
            for r in group:
                if "rejection_error" in r:
                    print(f"{d} {v} seed {r['seed']} +DRS: {r['rejection_error']}")
            for name, g in named:
                full = sum(r["modes_covered"] == r["modes_total"] for r in g)
                print(
                    f"{d:<7} {name:<9} {steps:>7.0f} {stat(g, 'modes_covered'):>11} "
                    f"{stat(g, 'high_quality', 100):>14} {stat(g, 'mode_reverse_kl'):>13} "
                    f"{stat(g, 'w2'):>13} {full}/{len(g)}"
                )
    print(f"written: {RESULTS / args.out}")


if __name__ == "__main__":
    main()
