"""Train (or take) several models on one dataset under one budget, and evaluate them all alike.

Every model sees the same data, the same seed, the same training budget (steps or seconds) and
the same evaluation (`dgm.metrics.evaluate` on the test split, every metric that applies), so
that the families compare honestly. Each model's row is written to its run folder as
`evaluation.json` once it is done: a killed comparison resumes at the first model without one
(an unfinished run resumes from its checkpoint).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from dgm.config import RunConfig
from dgm.data.base import DataSource
from dgm.errors import DgmError
from dgm.io import CONFIG, read_config, read_metrics
from dgm.registry import DATASETS, MODELS
from dgm.utils import atomic_path, output_folder, seeded, valid_json, write_json

#: The family of a model, by the package that defines it.
FAMILIES = {
    "dgm.models": "baseline",
    "dgm.flows": "finite flow",
    "dgm.cnf": "continuous flow",
    "dgm.vae": "VAE",
    "dgm.gan": "GAN",
}
ROW = "evaluation.json"
#: the settings of the comparison a folder holds
SETTINGS = "comparison.json"


@dataclass
class Row:
    """One compared model: where it came from, its cost and its metrics."""

    name: str  # the model's name in the report (the registered name, or the run folder's)
    model: str  # registered model name
    family: str
    density: str  # exact | bound | none, or "exact (trace estimated)" (`reported_density`)
    run: str  # run folder
    steps: int
    train_seconds: float  # the run's own clock: training with its periodic validation and checkpoints
    sample_seconds_per_10k: float
    parameters: int
    metrics: dict[str, float]
    figures: list[str] = field(default_factory=list)


def family(model_name: str) -> str:
    """The family of a registered model: finite flow, continuous flow, VAE, GAN or baseline."""
    module = MODELS.get(model_name).__module__
    return next((f for prefix, f in FAMILIES.items() if module.startswith(prefix)), "other")


def models_for(data: DataSource) -> list[str]:
    """Every registered model that can learn from `data` on its own: of its kind, labelled if it
    needs labels, and needing no other run to start from (vae-m1m2 needs a trained VAE)."""
    return [
        e.name
        for e in MODELS
        if data.kind in e.obj.data_kinds
        and (data.labels or not e.obj.semi_supervised)
        and not e.obj.init_from_required
    ]


def compare(
    data_name: str,
    models: list[str],
    out: Path,
    *,
    max_steps: int | None = None,
    max_time: str | None = None,
    seed: int = 0,
    device: str = "auto",
    n_samples: int = 2000,
    importance_samples: int = 100,
    max_points: int | None = None,
    rejection: bool = False,
    figures: bool = True,
    progress: bool = True,
) -> list[Row]:
    """Train each entry of `models` on `data_name` into out/NAME (an existing run folder is taken
    as it is), evaluate every one on the test split, and return their rows in the given order.

    An entry is a registered model name, trained for `max_steps` steps (capped by the model's own
    default length) or for `max_time`, or the path of a finished run folder. A bounded density
    (VAE) also reports an NLL importance-sampled with K = `importance_samples` draws (0: the bound alone).
    `max_points` judges every model on the same first points of the test split (default: all).
    `rejection`: a GAN whose critic holds the density ratio gets a second row, NAME +DRS, of the
    same run sampled by discriminator rejection (`dgm.gan.rejection`), saved in out/NAME+drs.
    A folder holds one comparison: rerun into it with other settings, it refuses.
    """
    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.data import load_data

    data = load_data(data_name)
    names = [Path(m).name if _is_run(m) else m for m in models]
    shown = names + ([f"{n}+drs" for n in names] + [f"{n} +DRS" for n in names] if rejection else [])
    if len(set(shown)) != len(shown):
        raise DgmError(f"--models names a model twice: {', '.join(models)}")
    for entry in models:  # every entry checked before any trains
        if _is_run(entry):
            continue
        if entry not in MODELS:
            raise DgmError(f"unknown model {entry!r} (a registered model name or a run folder)")
        model = MODELS.get(entry)
        if data.kind not in model.data_kinds:
            raise DgmError(f"model {entry!r} does not fit {data.kind} data like {data.name!r}")
        if model.init_from_required:
            raise DgmError(
                f"model {entry!r} starts from {model.init_from_required}: train it with "
                "`dgm train --init-from RUN` and give its run folder to --models"
            )
    settings = {
        "data": data_name if data_name in DATASETS else str(Path(data_name).resolve()),
        "seed": seed,
        "max_steps": max_steps,
        "max_time": max_time,
        "n_samples": n_samples,
        "importance_samples": importance_samples,
        "max_points": max_points,
    }  # not `rejection`: it only adds rows, so a folder made without it may gain them
    output_folder(out)
    _claim(out, settings)  # once the entries are known to be good
    judged = {"n_samples": n_samples, "importance_samples": importance_samples, "max_points": max_points}
    rows = []
    for entry, name in zip(models, names, strict=True):
        run = Path(entry) if _is_run(entry) else out / name
        row = _cached_row(out / name / ROW, _run_folder(run, out))  # from an interrupted comparison
        fresh = row is None
        if fresh:
            if not _is_run(entry):
                _train(entry, data_name, run, max_steps, max_time, seed, device, progress)
            row = _evaluate(name, run, data, seed, device, judged, figures=figures)
            _save_row(row, out / name, _run_folder(run, out), progress)
        rows.append(row)
        if rejection:
            # a row evaluated afresh may be of a retrained run: its +DRS row is evaluated afresh too
            drs = None if fresh else _cached_row(out / f"{name}+drs" / ROW, _run_folder(run, out))
            if drs is None and family(read_config(run)["model"]) == "GAN":
                drs = _rejection_row(name, run, data, seed, device, judged, progress)
                if drs is not None:
                    _save_row(drs, out / f"{name}+drs", _run_folder(run, out), progress)
            rows += [drs] if drs is not None else []
    return rows


def _rejection_row(
    name: str, run: Path, data: Any, seed: int, device: str, judged: dict[str, Any], progress: bool
) -> Row | None:
    """The row NAME +DRS of `run` (a GAN) sampled by discriminator rejection; None (and a progress
    note) where its critic cannot drive the sampler (`check_rejection`) or the sampler fails (too
    few proposals accepted, or a critic that scores NaN)."""
    try:
        return _evaluate(f"{name} +DRS", run, data, seed, device, judged, rejection=True)
    except DgmError as e:  # NotFinite too
        if progress:
            print(f"{name}: no +DRS row ({e})", flush=True)
        return None


def _save_row(row: Row, folder: Path, run: str, progress: bool) -> None:
    """Write `row` (of the run folder `run`, as `_run_folder` gives it) into folder/evaluation.json."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / ROW, {**asdict(row), "metrics": valid_json(row.metrics), "run_folder": run})
    if progress:
        print(f"{row.name}: {_headline(row.metrics)}, {row.train_seconds:.1f} s training", flush=True)


def _claim(out: Path, settings: dict[str, Any]) -> None:
    """Record the comparison's settings in out/comparison.json, or refuse a folder that holds a
    comparison of other settings (its rows and runs would be reused as if made under these)."""
    path = out / SETTINGS
    if path.exists():
        try:
            before = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise DgmError(f"{path} is unreadable ({e}): give another --out") from None
        for key, value in settings.items():
            if before.get(key) != value:
                raise DgmError(
                    f"{out} holds a comparison with {key}={before.get(key)!r}, not {value!r}: its rows "
                    "would be reused as they are; give another --out"
                )
        return
    write_json(path, settings)


def _run_folder(run: Path, out: Path) -> str:
    """A row's run folder as saved beside it: relative to the comparison's folder when inside it
    (so that the comparison may move), else absolute."""
    run, out = run.resolve(), out.resolve()
    return str(run.relative_to(out)) if run.is_relative_to(out) else str(run)


def _cached_row(path: Path, run: str) -> Row | None:
    """The row saved at `path` if it was made from the run folder `run` (`_run_folder`); None for
    none, or a row saved without its folder (before dgm recorded it: evaluated again); an error for
    another run's row of the same name (a run folder given in place of the model trained here)."""
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    made_from = saved.pop("run_folder", None)
    if made_from is None:
        return None
    if made_from != run:
        raise DgmError(
            f"{path.parent} holds the row of the run {made_from}, not of {run}: give another --out"
        )
    return Row(**saved)


def _is_run(entry: str) -> bool:
    return (Path(entry) / CONFIG).is_file()


def _train(
    model: str,
    data_name: str,
    run: Path,
    max_steps: int | None,
    max_time: str | None,
    seed: int,
    device: str,
    progress: bool,
) -> None:
    """Train one model for the budget, or finish an interrupted run from its checkpoint (a run
    that finished, killed before its evaluation, is left as it is)."""
    from dgm.train import train
    from dgm.train.fit import CHECKPOINT, finished

    default = MODELS.get(model).default_steps
    if finished(run) or (default == 0 and (run / CONFIG).exists()):
        return
    steps = default if max_steps is None else min(max_steps, default)
    if max_time is not None and max_steps is None:
        steps = None  # a time budget alone: the model trains until the clock says stop
    if default == 0:  # a closed-form fit (the Gaussians): no steps to take
        steps, max_time = 0, None
    config = RunConfig(
        model=model,
        data=data_name,
        max_steps=steps,
        max_time=max_time,
        seed=seed,
        device=device,
        val_every=max(1, (steps or 1000) // 5),
    )
    train(config, run, resume=(run / CHECKPOINT).exists(), progress=progress)


def _evaluate(
    name: str,
    run: Path,
    data: Any,
    seed: int,
    device: str,
    judged: dict[str, Any],
    *,
    figures: bool = False,
    rejection: bool = False,
) -> Row:
    """The row of `run`: every metric on the test split as `judged` (n_samples, importance_samples,
    max_points) says, sampled by discriminator rejection where `rejection`; `figures`: the run's
    figures drawn too."""
    from dgm import plots
    from dgm.gan.objectives import check_rejection
    from dgm.io import label_values, load
    from dgm.metrics import evaluate
    from dgm.models.base import sample_labelled
    from dgm.utils import resolve_device

    config = read_config(run)
    model = load(run, device=resolve_device(device))
    if rejection:
        model.core.use_rejection(check_rejection(model.core, config))
    classes = model.context_features
    metrics = evaluate(
        model,
        data,
        "test",
        n_samples=judged["n_samples"],
        seed=seed,
        importance_samples=judged["importance_samples"] if model.core.importance_sampled else 0,
        label_values=label_values(config, classes) if classes else None,
        max_points=judged["max_points"],
    )
    p = next(model.parameters())
    n = 10_000 if data.kind == "points" else 1000
    with torch.no_grad(), seeded(seed, p.device):
        t0 = time.perf_counter()
        sample_labelled(model, n)
        if p.device.type == "cuda":
            torch.cuda.synchronize()
        per_10k = (time.perf_counter() - t0) * 10_000 / n
    figs = plots.run_figures(run, model, data) if figures else []
    steps, seconds = training_clock(run / "metrics.csv")
    return Row(
        name=name,
        model=config["model"],
        family=family(config["model"]),
        density=model.reported_density(),
        run=str(run),
        steps=steps,
        train_seconds=seconds,
        sample_seconds_per_10k=per_10k,
        parameters=sum(t.numel() for t in model.parameters()),
        metrics=metrics,
        figures=[str(f) for f in figs],
    )


def training_clock(metrics_csv: Path) -> tuple[int, float]:
    """The run's last logged step and its training clock then, in seconds (0, 0: a closed-form fit)."""
    if not metrics_csv.exists():
        return 0, 0.0
    rows = [r for r in read_metrics(metrics_csv) if "wall_time" in r]
    last = max(rows, key=lambda r: r["step"], default=None)
    return (0, 0.0) if last is None else (int(last["step"]), float(last["wall_time"]))


def _headline(m: dict[str, float]) -> str:
    """The row's key figures for a progress line."""
    parts = [f"{k} {m[k]:.4g}" for k in ("nll", "nll_bound", "kl", "energy_distance", "fid") if k in m]
    return ", ".join(parts)


def write_json_report(rows: list[Row], path: Path, meta: dict[str, Any]) -> Path:
    """report.json: the meta data of the comparison and every row, written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(
            json.dumps(
                {**meta, "rows": [{**asdict(r), "metrics": valid_json(r.metrics)} for r in rows]},
                indent=1,
                allow_nan=False,
            )
        )
    return path
