"""`dgm reproduce seed-paper`: the experiments of Ruthotto & Haber (2021), beside the seed's logs.

Each experiment is the seed code's set-up in dgm's terms (its data, network sizes, optimiser,
batch and length), trained with dgm's corrected losses and judged by dgm's evaluation, next to
the figure the seed's code logged. Three of those figures are not what they claim to be, and
the table says why: the RealNVP NLL lies below the data's entropy (its log-determinant summed
the untransformed coordinates too), and the VAE's loss is not a bound (mismatched std/entropy
conventions, grey values scored as Bernoulli). The GANs' energy statistic is the seed's own
(`dgm.metrics.samples.seed_energy_statistic`), ×1,000 as the seed logged sums over 1,000 steps:
on held-out batches of the kept model, and as the seed's training loop logged it, summed over
the last 1,000 generator steps of the training run (`training_statistic`).

`quick` shortens every run (and judges on fewer points) so that the whole table takes minutes;
its numbers show that the pipeline works, not what the models reach.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dgm.errors import DgmError
from dgm.utils import atomic_path, valid_json, write_json

MNIST_Q2 = {"latent": 2, "width": 32, "network": "conv"}
#: the GANs: the seed's statistic, the Fréchet distance in dgm's MNIST features, precision/recall
GAN_METRICS = ("seed_energy", "fid", "prdc")


#: The seed's logged "ProbDist" of each GAN, the sum of its statistic over each 1,000 (generator)
#: steps, at steps 1,000, 2,000, …, 50,000 (its results/DCGAN and results/WGAN logs; the last is
#: the figure the paper reports).
# fmt: off
SEED_LOGS = {
    "dcgan-mnist": (
        823.63, 525.43, 742.19, 497.44, 250.69, 222.68, 202.66, 178.9, 171.97, 169.48,
        179.78, 169.89, 164.67, 146.61, 143.81, 133.57, 131.73, 139, 134.24, 123.94,
        126.11, 138.33, 128.66, 125.99, 125.32, 125.87, 121.15, 121.82, 117.38, 116.83,
        117.64, 121.58, 119.53, 119.46, 118.47, 116.78, 115.95, 114.81, 116.91, 118.9,
        111.77, 115.23, 114.92, 115.16, 117.8, 115.99, 125.19, 117.62, 115.7, 113.01,
    ),
    "dcgan-vae-init": (
        232.24, 152.04, 126.79, 123.23, 119.61, 111.47, 109.5, 110.02, 110.3, 111.56,
        110.32, 112.8, 111.22, 110.19, 109.57, 110.57, 107.98, 105.99, 106.51, 108.17,
        107.15, 107.93, 103.57, 104.95, 104.34, 105.87, 105.06, 104.38, 104.31, 102.76,
        101.1, 104.15, 103.33, 100.77, 98.916, 101.03, 102.44, 100.61, 102.43, 101.77,
        104.02, 103.45, 102.31, 103.17, 107.9, 105.66, 105.8, 109.8, 104.54, 103.84,
    ),
    "wgan-mnist": (
        958.63, 231.49, 169.59, 149.28, 137.29, 128.22, 122.26, 117.04, 114.07, 110.19,
        109.07, 106.63, 106.27, 104.45, 104.71, 102.85, 101.52, 100.57, 100.75, 99.82,
        99.159, 98.704, 98.189, 97.55, 96.966, 96.718, 96.132, 96.18, 95.849, 95.108,
        95.625, 95.571, 95.113, 94.74, 94.086, 93.532, 93.902, 94.058, 93.894, 92.691,
        94.176, 93.716, 93.948, 93.176, 93.393, 93.622, 92.811, 93.241, 93.191, 92.859,
    ),
    "wgan-vae-init": (
        212.67, 171.3, 129.97, 115.79, 107.57, 102.29, 100.47, 99.698, 97.902, 97.652,
        96.153, 95.867, 94.84, 93.587, 92.664, 92.843, 91.934, 90.954, 90.953, 90.958,
        90.671, 90.589, 90.986, 90.269, 89.563, 89.119, 88.693, 89.046, 87.846, 89.2,
        88.51, 88.049, 88.659, 88.095, 88.708, 87.748, 87.898, 87.882, 88.319, 87.14,
        88.754, 88.003, 87.905, 87.697, 87.181, 88.27, 87.663, 88.133, 87.772, 87.176,
    ),
}
# fmt: on


@dataclass(frozen=True)
class Experiment:
    """One experiment of the seed paper: dgm's run settings and the seed's logged figure."""

    name: str
    section: str  # where the paper shows it
    config: dict[str, Any]  # RunConfig fields
    steps: int  # the seed's length, in dgm's training steps (a WGAN step is one critic update)
    quick_steps: int
    metric: str  # the dgm figure set beside the seed's
    seed_value: float
    seed_label: str  # what the seed's number is
    note: str
    metrics: tuple[str, ...] = ()  # everything dgm reports for it (the headline metric included)
    init_from: str | None = None  # an earlier experiment whose run initialises this one
    seed_batch_norm: bool = False  # the seed's networks had BatchNorm (dgm's take it on request)
    extra: dict[str, Any] = field(default_factory=dict)  # evaluation settings


EXPERIMENTS = (
    Experiment(
        "realnvp-moons",
        "3.1, Fig. 5",
        {
            "model": "realnvp",
            "data": "moons",
            "model_args": {
                "transforms": 6,
                "hidden": [128, 128],
                "activation": "leaky_relu",
                "scale_bound": 1.0,
            },
            "lr": 1e-4,
            "batch_size": 256,
        },
        20_000,
        500,
        "nll",
        -5.654,
        "mean NLL on training batches at step 20,000 (nats)",
        "The seed's value is impossible: no density has an NLL below the data's entropy, 0.290 nats. "
        "Its log-determinant also summed s over the untransformed coordinate (up to 1 nat per coupling, "
        "6 here); dgm's log|det J| is tested against the autograd Jacobian.",
        ("nll", "kl"),
    ),
    Experiment(
        "otflow-moons",
        "3.2, Fig. 6",
        {"model": "otflow", "data": "moons", "batch_size": 256},
        20_000,
        200,
        "nll",
        0.390,
        "NLL at step 20,000 (nats; KL ≈ 0.10 against the entropy 0.290)",
        "Comparable: the same potential network, α = (1, 10, 5), RK4 with 4 steps in training.",
        ("nll", "kl", "transport_cost"),
    ),
    Experiment(
        "vae-q2-mnist",
        "4, Figs. 7-8",
        {
            "model": "vae",
            "data": "mnist",
            "model_args": {"likelihood": "bernoulli", **MNIST_Q2},
            "objective": "elbo",
            "batch_size": 64,
            "weight_decay": 1e-5,
        },
        50 * 938,  # 50 epochs of 60,000 images in batches of 64
        200,
        "nll_bound",
        147.5,
        "validation loss after 50 epochs (nats per image)",
        "Not comparable, and not a bound: the seed drew z with std exp(logvar) but scored its entropy with "
        "exp(logvar/2), used the channel count for the prior's dimension, and scored grey values as "
        "Bernoulli (not a normalised likelihood). dgm reports a valid −ELBO and an importance-sampled "
        "NLL (its K and test images in the table) on dynamically binarised images; its FID and "
        "precision/recall compare binary samples with binarised test images, so they do not compare "
        "with the GANs' (grey values).",
        ("nll_bound", "nll", "fid", "prdc"),
        extra={"importance_samples": 1000, "nll_points": 1000},
        seed_batch_norm=True,
    ),
    Experiment(
        "dcgan-mnist",
        "5.1",
        {"model": "dcgan", "data": "mnist", "model_args": MNIST_Q2, "batch_size": 64, "log_every": 1},
        50_000,
        100,
        "seed_energy_x1000",
        113.0,
        "energy statistic summed over the last 1,000 steps",
        "The seed's DCGAN minimised the saturating log(1 − d(g(z))) and had BatchNorm in both networks; "
        "dgm trains the non-saturating loss. The statistic is the seed's, on as many test batches "
        "of 64 as the evaluation's samples fill (31 of 2,000) instead of its last 1,000 training "
        "batches; with BatchNorm, seed_energy_batch_stats draws each batch in training mode, "
        "normalised by its own statistics, as the seed's training loop did. seed_energy_train_x1000 "
        "is the seed's figure as it logged it: the statistic of each of the last 1,000 generator "
        "steps' 64 samples against that step's 64 training images (dequantised), summed.",
        GAN_METRICS,
        seed_batch_norm=True,
    ),
    Experiment(
        "dcgan-vae-init",
        "5.1",
        {"model": "dcgan", "data": "mnist", "model_args": MNIST_Q2, "batch_size": 64, "log_every": 1},
        50_000,
        100,
        "seed_energy_x1000",
        103.8,
        "energy statistic summed over the last 1,000 steps",
        "As above, the generator started from the trained VAE's decoder.",
        GAN_METRICS,
        init_from="vae-q2-mnist",
        seed_batch_norm=True,
    ),
    Experiment(
        "wgan-mnist",
        "5.2",
        {"model": "wgan", "data": "mnist", "model_args": MNIST_Q2, "batch_size": 64, "log_every": 5},
        250_000,  # 50,000 generator steps of 5 critic steps each
        250,
        "seed_energy_x1000",
        92.9,
        "energy statistic summed over the last 1,000 steps",
        "The seed clamped the critic before each update (so its last update went unclamped) and kept "
        "BatchNorm in both networks; dgm clips after each critic step. The statistics as for the DCGAN.",
        GAN_METRICS,
        seed_batch_norm=True,
    ),
    Experiment(
        "wgan-vae-init",
        "5.2",
        {"model": "wgan", "data": "mnist", "model_args": MNIST_Q2, "batch_size": 64, "log_every": 5},
        250_000,
        250,
        "seed_energy_x1000",
        87.2,
        "energy statistic summed over the last 1,000 steps",
        "As above, the generator started from the trained VAE's decoder.",
        GAN_METRICS,
        init_from="vae-q2-mnist",
        seed_batch_norm=True,
    ),
)


def reproduce(
    out: Path,
    *,
    quick: bool = False,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    only: Sequence[str] | None = None,
    threads: int | None = None,
    batch_norm: bool = False,
) -> Path:
    """Run every experiment (or those named in `only`) into out/NAME, resuming where an earlier
    call stopped, and write out/seed-paper.json and the Markdown table out/seed-paper.md of every
    finished experiment; return the table's path. With `only`, experiments run in separate
    processes, or on separate machines, join one table in one folder; `threads` are each run's
    torch CPU threads (None: dgm's default for the data); `batch_norm` gives the networks that had
    BatchNorm in the seed's code theirs (the VAE's decoder, both networks of each GAN)."""
    import torch

    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.compare.runner import training_clock
    from dgm.config import RunConfig
    from dgm.data import load_data
    from dgm.io import load
    from dgm.metrics import evaluate
    from dgm.train import train
    from dgm.train.fit import CHECKPOINT, default_threads, finished
    from dgm.utils import resolve_device

    names = [ex.name for ex in EXPERIMENTS]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise DgmError(f"no seed-paper experiment {', '.join(unknown)}; the experiments: {', '.join(names)}")
    if only is not None and not only:
        raise DgmError(f"--only names no experiment; the experiments: {', '.join(names)}")
    out.mkdir(parents=True, exist_ok=True)
    todo = [ex for ex in EXPERIMENTS if (only is None or ex.name in only) and _row(out, ex.name) is None]
    for ex in todo:  # a GAN starts from the VAE's model: finished before, or trained first in this call
        if ex.init_from and _row(out, ex.init_from) is None and ex.init_from not in {e.name for e in todo}:
            raise DgmError(f"{ex.name} starts from {ex.init_from}'s model, which is not finished in {out}")
    setting = (quick, seed, batch_norm)
    for name in names:  # one table holds one setting
        row = _row(out, name)
        found = None if row is None else (row.get("quick"), row.get("run_seed"), row.get("batch_norm", False))
        if found not in (None, setting):
            raise DgmError(
                f"{out / name} holds a run with {_setting(*found)}, not {_setting(*setting)}: "
                "use another --out"
            )
    for ex in todo:
        run = out / ex.name
        steps = ex.quick_steps if quick else ex.steps
        settings = dict(ex.config)
        if batch_norm and ex.seed_batch_norm:
            settings["model_args"] = {**settings["model_args"], "batch_norm": True}
        config = RunConfig(
            **settings,
            max_steps=steps,
            seed=seed,
            device=device,
            threads=threads,
            init_from=str(out / ex.init_from) if ex.init_from else None,
            val_every=max(1, steps // 10),
            checkpoint_every=max(1, min(1000, steps // 10)),
        )
        if run.exists() and not (run / CHECKPOINT).exists():
            _clear(run)  # killed before its first checkpoint: start it afresh
        elif run.exists():  # trained, perhaps killed before its evaluation: under this setting?
            _check_run(run, config)
        if not finished(run):  # else trained, killed before its evaluation: evaluate it
            train(config, run, resume=(run / CHECKPOINT).exists(), progress=progress)
        _, seconds = training_clock(run / "metrics.csv")  # all its parts, where it was resumed
        where = resolve_device(device)
        model = load(run, device=where)
        k = ex.extra.get("importance_samples", 0)
        data = load_data(ex.config["data"])
        points = (1000 if ex.config["data"] == "mnist" else 2000) if quick else None
        wanted = list(ex.metrics)
        # an importance-sampled NLL costs K decoder passes per point: on its own leading subset
        nll_points = ex.extra.get("nll_points")
        apart = ["nll"] if nll_points and "nll" in wanted and model.importance_sampled else []
        kwargs = {"seed": seed, "importance_samples": min(k, 100) if quick else k}
        metrics = evaluate(
            model, data, "test", [m for m in wanted if m not in apart], max_points=points, **kwargs
        )
        if apart:
            n = min(nll_points, points or nll_points)
            nll = evaluate(model, data, "test", apart, max_points=n, **kwargs)
            metrics.update({key: nll[key] for key in ("nll", "nll_se", "nll_k")}, nll_n=nll["n_test"])
        if ex.metric == "seed_energy_x1000":  # a GAN: the statistic as the seed's training loop logged it
            metrics.update(training_statistic(run))
        row = {
            "experiment": ex.name,
            "section": ex.section,
            "steps": steps,
            "seconds": seconds,
            "device": torch.cuda.get_device_name(where) if where.type == "cuda" else "cpu",
            # the threads of the call that finished it (its seconds depend on them)
            "threads": config.threads or default_threads(data.kind, config.devices),
            "quick": quick,
            "run_seed": seed,
            "batch_norm": batch_norm,
            "metric": ex.metric,
            "dgm": metrics.get(ex.metric, math.nan),
            "seed": ex.seed_value,
            "seed_label": ex.seed_label,
            "note": ex.note,
            "metrics": valid_json(metrics),
        }
        write_json(run / EVALUATION, row)
        if progress:
            print(
                f"{ex.name}: {ex.metric} {row['dgm']:.4g} (seed's log: {ex.seed_value}), {seconds:.0f} s",
                flush=True,
            )
    # Read back from disk: experiments that other processes finished meanwhile join the table.
    rows = [row for row in (_row(out, name) for name in names) if row is not None]
    write_json(
        out / "seed-paper.json", {"quick": quick, "seed": seed, "batch_norm": batch_norm, "rows": rows}
    )
    table = out / "seed-paper.md"
    with atomic_path(table) as tmp:
        tmp.write_text(markdown(rows, quick, batch_norm))
    return table


EVALUATION = "evaluation.json"


def _clear(run: Path) -> None:
    """Empty a run folder that holds no checkpoint, unless a live process is training into it."""
    from dgm.train.folder import LOCK, claim_run_folder

    with claim_run_folder(run, resume=True):
        for p in run.iterdir():
            if p.is_dir():
                shutil.rmtree(p)
            elif p.name != LOCK:
                p.unlink()


def training_statistic(run: Path, window: int = 1000) -> dict[str, float]:
    """The seed's logged figure itself, from the GAN run's metrics.csv: the sum of the statistic
    `train/seed_energy` of its last `window` generator steps, as `seed_energy_train_x1000` on the
    scale of that sum: 1,000 × their mean, which is the sum where all `window` were logged
    (`seed_energy_train_steps` says how many were: fewer in a shorter run, or one logged more
    sparsely, e.g. before a resume)."""
    if not (run / "metrics.csv").exists():
        return {}
    every, last, log = _seed_energy_log(run)
    # generator steps come at training steps 1, 1 + every, …; each value is in the first row at
    # or after its step, so the rows after `last − window · every` hold the last `window`
    values = [value for step, value in log if step > last - window * every]
    if not values:
        return {}
    mean = math.fsum(values) / len(values)
    return {"seed_energy_train_x1000": 1000 * mean, "seed_energy_train_steps": len(values)}


def window_sums(run: Path, window: int = 1000) -> list[tuple[int, float]]:
    """The seed's log for a GAN run of dgm: (g, the sum of `train/seed_energy` over generator steps
    g − window + 1 … g) for each complete window of every generator step logged, g = window, 2 ·
    window, …, as the seed printed every 1,000 steps (`SEED_LOGS`)."""
    every, _, log = _seed_energy_log(run)
    windows: dict[int, list[float]] = {}
    for step, value in log:
        windows.setdefault(int(step - 1) // (window * every), []).append(value)
    return [((k + 1) * window, math.fsum(v)) for k, v in sorted(windows.items()) if len(v) == window]


def _seed_energy_log(run: Path) -> tuple[int, float, list[tuple[float, float]]]:
    """The GAN run's generator interval (it steps every `every`-th training step, config.json),
    its last logged step, and its (row step, train/seed_energy) pairs: a generator step's value
    is in the first row at or after it, fewer than `every` steps later."""
    from dgm.io import read_metrics

    every = json.loads((run / "config.json").read_text())["optim"]["generator"]["every"]
    rows = read_metrics(run / "metrics.csv")
    last = max((r["step"] for r in rows), default=0)
    return every, last, [(r["step"], r["train/seed_energy"]) for r in rows if "train/seed_energy" in r]


def _check_run(run: Path, config: Any) -> None:
    """Refuse a run folder trained with another seed, BatchNorm setting or length (`--quick` or
    not) than `config`: `train` would continue it as it is, and a finished one is only evaluated."""
    saved = json.loads((run / "config.json").read_text())["train"]
    got = (saved["seed"], saved["model_args"].get("batch_norm", False), saved["max_steps"])
    want = (config.seed, config.model_args.get("batch_norm", False), config.max_steps)
    if got != want:
        raise DgmError(
            f"{run} was trained with seed={got[0]}, batch_norm={got[1]}, max_steps={got[2]}, not "
            f"seed={want[0]}, batch_norm={want[1]}, max_steps={want[2]}: use another --out"
        )


def _with_se(m: dict[str, Any], key: str, value: float) -> str:
    """value ± its standard error where the metrics hold one (key_se, or for a figure × 1,000 the
    unscaled figure's, scaled)."""
    scale = 1000 if key.endswith("_x1000") else 1
    se = m.get(key.removesuffix("_x1000") + "_se")
    return f"{value:.4g}" + (f" ± {scale * se:.2g}" if isinstance(se, float) else "")


def _row(out: Path, name: str) -> dict[str, Any] | None:
    """The finished experiment's row, or None."""
    path = out / name / EVALUATION
    return json.loads(path.read_text()) if path.exists() else None


def markdown(rows: list[dict[str, Any]], quick: bool, batch_norm: bool = False) -> str:
    """The table: each experiment, the seed's logged figure, dgm's, and why they differ."""
    lines = [
        "| experiment | paper | what the seed logged | seed | dgm | dgm also | steps | training (s) | on |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m = r["metrics"]
        also = ", ".join(
            f"{k} {_with_se(m, k, m[k])}"
            + (
                f" (K = {m['nll_k']:,}, first {m.get('nll_n', m['n_test']):,})"
                if k == "nll" and "nll_k" in m
                else ""
            )
            for k in m
            if k != r["metric"] and isinstance(m[k], float) and k in _SHOWN
        )
        dgm = r["dgm"] if r["dgm"] is not None else math.nan
        lines.append(
            f"| {r['experiment']} | {r['section']} | {r['seed_label']} | {r['seed']:g} | "
            f"{r['metric']} {_with_se(m, r['metric'], dgm)} | {also} | {r['steps']:,} | {r['seconds']:.0f} | "
            f"{r.get('device', '?')}{_threads(r)} |"
        )
    lines += ["", *(f"- **{r['experiment']}**: {r['note']}" for r in rows)]
    if batch_norm:
        lines += [
            "",
            "BatchNorm where the seed's networks had it (`--batch-norm`): the VAE's decoder, both GAN "
            "networks.",
        ]
    else:
        lines += [
            "",
            "No BatchNorm: the seed's VAE decoder and GAN networks had it (`--batch-norm` adds it).",
        ]
    if quick:
        lines += ["", "Quick mode: every run shortened; the numbers check the pipeline, not the models."]
    return "\n".join(lines) + "\n"


def _setting(quick: bool, seed: int, batch_norm: bool) -> str:
    return f"quick={quick}, seed={seed}, batch_norm={batch_norm}"


def _threads(row: dict[str, Any]) -> str:
    """ ", N threads" of a CPU row that recorded them (rows written before they were, nothing)."""
    n = row.get("threads")
    return f", {n} thread{'s' * (n != 1)}" if n and row.get("device") == "cpu" else ""


_SHOWN = (
    "nll",
    "kl",
    "transport_cost",
    "nll_bound",
    "seed_energy_batch_stats_x1000",
    "seed_energy_train_x1000",
    "fid",
    "prdc_precision",
    "prdc_recall",
)
