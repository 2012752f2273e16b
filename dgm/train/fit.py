"""`train(config, out)`: config → data → model → trainer → fit, each step a function below."""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dgm.build import build_model, build_objective, model_arguments, resolved_arguments
from dgm.config import RunConfig, parse_duration
from dgm.data import DataSource, load_data
from dgm.data.dequantize import PipelineNoise, pipeline_noise, split_generator
from dgm.errors import DgmError, TrainingInterrupted
from dgm.io import CONFIG, load, read_config, save_model
from dgm.models import Preprocessed
from dgm.objectives.base import Objective, OptimSettings
from dgm.registry import DATASETS, MODELS, OBJECTIVES
from dgm.train.callbacks import (
    CHECKPOINT,
    AtomicCheckpointIO,
    GracefulStop,
    MetricsLog,
    Progress,
    write_checkpoint,
)
from dgm.train.data import steps_for_epochs
from dgm.train.folder import claim_run_folder, first_process
from dgm.train.module import Budget, TrainModule
from dgm.train.optim import player_settings
from dgm.utils import one_hot, resolve_device


@dataclass
class TrainResult:
    """The kept model (eval mode) and its step, the steps taken, the data-parallel processes."""

    model: Preprocessed
    global_step: int
    world_size: int
    is_global_zero: bool
    kept_step: int = 0
    stopped_early: bool = False  # by patience


#: Settings a resumed run may change: its length and where it runs. Everything else is the run's.
RESUMABLE = (
    "max_steps",
    "epochs",
    "max_time",
    "patience",
    "device",
    "devices",
    "num_nodes",
    "strategy",
    "threads",
)


def resume_config(out: str | Path, overrides: dict[str, Any]) -> RunConfig:
    """The saved config of the run in `out`, with the given length/placement settings applied.

    Any other setting given must equal the saved one: a resumed run is the same run.
    """
    if not (Path(out) / CHECKPOINT).exists():
        raise DgmError(f"cannot resume: {Path(out) / CHECKPOINT} does not exist")
    file = read_config(out)
    # The architecture as built (defaults filled in), so that a changed default cannot alter it.
    saved = {**file["train"], "model_args": file.get("model_args", file["train"].get("model_args", {}))}
    if "data" in overrides and Path(overrides["data"]).exists():  # files are saved as absolute paths
        overrides = {**overrides, "data": str(Path(overrides["data"]).expanduser().resolve())}
    # Compared after the same conversion (dequantize: true is "uniform", "1e-3" is 0.001).
    before, after = RunConfig.from_dict(saved), RunConfig.from_dict({**saved, **overrides})
    if "model_args" in overrides:
        after.model_args = {**before.model_args, **overrides["model_args"]}
        before.model_args, after.model_args = (
            resolved_arguments(before.model, a) for a in (before.model_args, after.model_args)
        )
    if "objective_args" in overrides:  # compared with the defaults filled in, as the run saved them
        objective = before.objective or MODELS.get(before.model).default_objective
        after.objective_args = {**before.objective_args, **overrides["objective_args"]}
        before.objective_args, after.objective_args = (
            resolved_arguments(objective, a, OBJECTIVES)
            for a in (before.objective_args, after.objective_args)
        )
    for key in overrides:
        if key not in RESUMABLE and getattr(after, key) != getattr(before, key):
            raise DgmError(
                f"--resume continues the saved run, whose {key} is {getattr(before, key)!r}, "
                f"not {overrides[key]!r}; only {', '.join(RESUMABLE)} may change"
            )
    if {"max_steps", "epochs"} & set(overrides):  # a new length replaces the old one
        saved["max_steps"] = saved["epochs"] = None
    saved.update({k: v for k, v in overrides.items() if k in RESUMABLE})
    return RunConfig.from_dict(saved)


def resolve(config: RunConfig, data: DataSource, *, fresh: bool = True) -> RunConfig:
    """The config with every default that depends on the data or the model filled in (`fresh`:
    for a new run; a resumed one has them already and needs no `--init-from` run any more)."""
    model = MODELS.get(config.model)
    c = dataclasses.replace(config, model_args=dict(config.model_args))
    if c.init_from:
        c.init_from = str(Path(c.init_from).expanduser().resolve())
        if fresh:  # before the pipeline's defaults, which may depend on what the run fixes
            c.model_args = model.arguments_from_run(c.model_args, read_config(c.init_from))
    elif model.init_from_required:
        raise DgmError(f"model {c.model!r} starts from {model.init_from_required}: give --init-from RUN")
    if fresh:
        try:
            model.check_arguments(config.model_args, data.event_shape)
        except ValueError as e:
            raise DgmError(f"model {c.model!r}: {e}") from None
    if c.data not in DATASETS:  # a user file: keep an absolute path so the run can find it again
        c.data = str(Path(c.data).expanduser().resolve())
    preprocess, dequantize = model.pipeline_defaults(data.kind, c.model_args)
    c.preprocess = c.preprocess or preprocess
    if c.dequantize is None:
        c.dequantize = "none" if data.levels is None else dequantize
    if c.dequantize != "none" and data.levels is None:
        raise DgmError(f"dequantize={c.dequantize} needs discrete data; {data.name!r} has no grey levels")
    discrete = data.levels is not None  # a run made before this check is resumed as it was
    if fresh and discrete and c.dequantize == "none" and dequantize != "none" and model.density != "none":
        raise DgmError(
            f"dequantize=none: {data.name!r} is discrete, and model {c.model!r}, a density of continuous "
            "data, would score its lattice points, where its NLL and bits/dim bound nothing: use "
            "uniform or variational"
        )
    c.objective = c.objective or model.default_objective
    c.objective_args = resolved_arguments(c.objective, c.objective_args, OBJECTIVES)
    c.keep = c.keep or OBJECTIVES.get(c.objective).keep
    takes = model_arguments(c.model)
    for name, value in OBJECTIVES.get(c.objective).model_defaults.items():
        if name in takes:
            c.model_args.setdefault(name, value)
    pack, processes = c.model_args.get("pack", 1), c.devices * c.num_nodes
    if pack > 1 and processes > 1 and c.batch_size % (pack * processes):  # whole packs per process
        raise DgmError(
            f"the critic packs {pack} samples and {processes} processes share each batch: give a "
            f"batch size that is a multiple of {pack * processes}, e.g. {pack * processes * 64}"
        )
    if c.objective_args.get("teacher"):  # a run folder: kept absolute, so that a resume finds it
        c.objective_args["teacher"] = str(Path(c.objective_args["teacher"]).expanduser().resolve())
    c.resolve(default_steps=model.default_steps)
    if c.labels is not None and not model.semi_supervised:
        raise DgmError(
            f"--set labels=N trains semi-supervised models (vae-m2, vae-m1m2); {c.model!r} is not one"
        )
    c.conditional = c.conditional or model.semi_supervised  # M2 always models the labels
    if c.labels is not None:
        n, k = data.split("train").shape[0], data.num_classes
        if k and not k <= c.labels <= n:
            raise DgmError(
                f"labels must be between the {k} classes and the {n} training samples, got {c.labels}"
            )
    if c.conditional:
        if data.num_classes == 0:
            why = (
                f"model {c.model!r} learns from labels" if model.semi_supervised else "--set conditional=true"
            )
            raise DgmError(f"{why} needs labelled data; {data.name!r} has no labels")
        if "context_features" not in model_arguments(c.model):
            raise DgmError(f"model {c.model!r} cannot be conditioned on a context")
        c.model_args["context_features"] = data.num_classes
    if c.init_from and fresh and model.init_from_required:
        _check_same_pipeline(c, read_config(c.init_from), data)
    if c.init_from and fresh:
        source = functools.partial(load, c.init_from)
        c.model_args = model.arguments_from_data(c.model_args, source, data)
    return c


def _check_same_pipeline(c: RunConfig, run: dict[str, Any], data: DataSource) -> None:
    """A model built on another run's encoder (vae-m1m2) must see the data as that run saw them."""
    seen = {
        "data": run.get("data", {}).get("name"),
        "event_shape": run["event_shape"],
        "preprocess": run["preprocess"],
        "dequantize": run.get("dequantize"),
        "binarize": run.get("train", {}).get("binarize", "dynamic"),
    }
    here = {
        "data": data.name,
        "event_shape": list(data.event_shape),
        "preprocess": c.preprocess,
        "dequantize": c.dequantize,
        "binarize": c.binarize,
    }
    for key, value in seen.items():
        if here[key] != value:
            raise DgmError(
                f"--init-from: {c.init_from} was trained with {key} {value!r}, this run has "
                f"{here[key]!r}: give it the same data and preprocessing"
            )


def build(config: RunConfig, data: DataSource, *, initialise: bool) -> Preprocessed:
    """The model, with its preprocessing fitted and its data-dependent initialisation unless resuming."""
    torch.manual_seed(config.seed)
    model = build_model(
        config.model,
        data.event_shape,
        config.preprocess,
        config.model_args,
        dequantize=config.dequantize,
        levels=data.levels,
    ).to(getattr(torch, config.dtype))
    if initialise:
        # The training split as it is: a semi-supervised run repeats its labelled samples, which
        # must not weigh on the preprocessing's fit.
        fixed = static_noise(config, model, data)
        x, *c = split(data, "train", dataclasses.replace(config, labels=None), fixed)
        noise = pipeline_noise(data.levels, model)
        if noise is not None and fixed is None:
            x = noise(x, torch.Generator())
        model.transform.fit(x)
        model.initialize(x, *c)
        if config.init_from:
            if not hasattr(model.core, "init_from"):
                raise DgmError(f"--init-from: model {config.model!r} cannot start from another run's weights")
            model.core.init_from(load(config.init_from).core)
    return model


def model_config(config: RunConfig, data: DataSource, settings: dict[str, OptimSettings]) -> dict[str, Any]:
    """What `dgm.load` needs to rebuild the model, the data's description, the optimisers as
    resolved and the run config. A conditional model's class k is the data's label value
    `label_values[k]` (`dgm sample --label V` and `dgm evaluate` map through it)."""
    return {
        "model": config.model,
        "model_args": resolved_arguments(config.model, config.model_args),
        "preprocess": config.preprocess,
        "event_shape": list(data.event_shape),
        "dtype": config.dtype,
        "dequantize": config.dequantize,
        "data": {
            "name": data.name,
            "kind": data.kind,
            "levels": data.levels,
            "classes": data.num_classes if config.conditional else 0,
            "label_values": list(data.label_values) if config.conditional else [],
            "columns": list(data.columns),
        },
        "objective": config.objective,
        "optim": {name: dataclasses.asdict(s) for name, s in settings.items()},
        "train": config.to_dict(),
    }


def split(
    data: DataSource, name: str, config: RunConfig, noise: PipelineNoise | None = None
) -> tuple[torch.Tensor, ...]:
    """(x,) or, for a conditional run, (x, one-hot labels) of one split, in the run's dtype. With
    `labels` = N (semi-supervised), the training split keeps N labels and has c = 0 elsewhere. With
    `noise`, x is drawn through it once, with the run's seed (static binarisation)."""
    x = data.split(name)
    if noise is not None:
        x = noise(x, split_generator(config.seed, name))
    x = x.to(getattr(torch, config.dtype))
    if not config.conditional:
        return (x,)
    c = one_hot(data.split_labels(name), data.num_classes, x)
    if name != "train" or config.labels is None:
        return x, c
    return semi_supervised(x, c, config.labels, config.seed)


def static_noise(config: RunConfig, model: Preprocessed, data: DataSource) -> PipelineNoise | None:
    """The binarisation drawn once into the training data (`binarize: static`), else None: the
    pipeline's noise is then drawn afresh every batch."""
    if config.binarize == "dynamic":
        return None
    noise = pipeline_noise(data.levels, model)
    if noise is None or noise.kind != "binarize":
        raise DgmError(
            f"binarize=static fixes the binarisation of a model of binary data, and {config.model!r} on "
            f"{config.data!r} is none (a Bernoulli likelihood on grey-value images is)"
        )
    return noise


def semi_supervised(x: Tensor, c: Tensor, n_labels: int, seed: int) -> tuple[Tensor, Tensor]:
    """The training set of a semi-supervised run: the labels of N samples, N/K per class (the first
    N mod K classes one more), chosen with the seed; every other sample unlabelled (c = 0). The
    labelled samples are repeated, so that about half of every batch is labelled however small N
    is (Kingma et al. (2014) drew labelled and unlabelled batches apart; this keeps one batch
    stream, so resuming stays exact)."""
    gen = torch.Generator().manual_seed(seed)
    classes = c.argmax(1)
    k = c.shape[1]
    chosen = []
    for j in range(k):
        members = (classes == j).nonzero().squeeze(1)
        take = n_labels // k + (j < n_labels % k)
        chosen.append(members[torch.randperm(len(members), generator=gen)[:take]])
    labelled = torch.cat(chosen)
    unlabelled = torch.ones(len(x), dtype=torch.bool)
    unlabelled[labelled] = False
    repeats = max(1, int(unlabelled.sum()) // len(labelled))
    xs = torch.cat([x[unlabelled], x[labelled].repeat(repeats, *[1] * (x.dim() - 1))])
    cs = torch.cat([torch.zeros_like(c[unlabelled]), c[labelled].repeat(repeats, 1)])
    return xs, cs


def budget(config: RunConfig, n_train: int) -> Budget:
    """Steps (from max_steps or epochs), seconds and patience of the run."""
    steps = config.max_steps
    if steps is None and config.epochs is not None:
        steps = steps_for_epochs(n_train, config.batch_size, config.epochs)
    seconds = parse_duration(config.max_time) if config.max_time else None
    return Budget(steps, seconds, config.patience)


def default_threads(kind: str, processes: int) -> int:
    """CPU threads per process: 1 for vectors, where small matrices gain little from threads and
    lose much to contention (benchmarks/threads.py); the cores shared out for images."""
    if kind == "points":
        return 1
    return max(1, (os.cpu_count() or 1) // processes)


def finished(run: str | Path) -> bool:
    """Whether the run in folder `run` has ended by its budget or patience, as its last checkpoint
    says (False: none, or one of a run interrupted or still going). A checkpoint written before
    checkpoints said so counts as finished when it reached the run's step budget."""
    path = Path(run) / CHECKPOINT
    if not path.exists():
        return False
    saved = AtomicCheckpointIO().load_checkpoint(path)["dgm"]
    if "finished" in saved:
        return bool(saved["finished"])
    steps = read_config(run).get("train", {}).get("max_steps")
    return steps is not None and saved["step"] >= steps


def train(
    config: RunConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    arrays: tuple[Any, Any] | None = None,
) -> TrainResult:
    """Train the model described by `config`, writing model files, logs and checkpoints into `out`.

    The run folder holds `config.json` + `model.safetensors` (the kept model, rewritten at every
    checkpoint), `metrics.csv`, `checkpoints/last.ckpt` (the last state, for --resume) and
    TensorBoard logs. `arrays` = (x, labels or None) are in-memory data, written into the run
    folder as the file `config.data` names once the folder is claimed.
    """
    out = Path(out)
    if resume and not (out / CHECKPOINT).exists():
        raise DgmError(f"cannot resume: {out / CHECKPOINT} does not exist")
    with claim_run_folder(out, resume=resume):
        if arrays is None:
            return _train(config, out, resume, progress)
        _write_arrays(Path(config.data), *arrays)
        try:
            return _train(config, out, resume, progress)
        except BaseException:
            if not (out / CONFIG).exists():  # nothing trained: leave the folder as it was
                Path(config.data).unlink(missing_ok=True)
            raise


def _write_arrays(path: Path, x: Any, labels: Any) -> None:
    """Save in-memory samples (and labels) as an .npz file, atomically."""
    import numpy as np

    from dgm.utils import atomic_path

    def plain(a: Any) -> np.ndarray:
        return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)

    arrays = {"x": plain(x), **({} if labels is None else {"y": plain(labels)})}
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez(f, **arrays)


def _train(config: RunConfig, out: Path, resume: bool, progress: bool) -> TrainResult:
    if resume and first_process():  # a killed run may have left temporaries of an atomic write
        for stale in out.rglob(".*.tmp"):
            stale.unlink(missing_ok=True)
    data = load_data(config.data)
    config = resolve(config, data, fresh=not resume)
    torch.set_num_threads(config.threads or default_threads(data.kind, config.devices))
    model = build(config, data, initialise=not resume)
    objective: Objective = build_objective(config.objective, config.objective_args)
    objective.setup(model, load)  # checks that the objective can train this model, before any file
    settings = player_settings(objective, config)
    fixed = static_noise(config, model, data)
    train_data, val_data = split(data, "train", config, fixed), split(data, "val", config, fixed)
    plan = budget(config, data.split("train").shape[0])  # epochs count the samples, not repeats
    meta = model_config(config, data, settings)
    if plan.steps == 0 and not resume:
        # The data-dependent initialisation is the fit (closed-form Gaussians): no trainer to start.
        save_model(out, model, {**meta, "kept": {"step": 0, "keep": config.keep}})
        return TrainResult(model.eval(), 0, 1, True, 0)
    module = TrainModule(
        model,
        objective,
        settings,
        config,
        (train_data, val_data),
        plan,
        None if fixed else pipeline_noise(data.levels, model),
        modes=getattr(data, "modes", None),  # toys of known modes (a user file has none)
    )
    trainer, stop = _trainer(config, out, progress, len(objective.players))
    log = MetricsLog(out / "metrics.csv", trainer.logger if trainer.is_global_zero else None)

    def save() -> None:
        state, step = module.kept_state()
        save_model(out, state, {**meta, "kept": {"step": step, "keep": config.keep}})

    module.on_log = log if trainer.is_global_zero else (lambda step, row: None)
    module.on_start = log.resume if trainer.is_global_zero else (lambda step: None)
    module.on_checkpoint = lambda: write_checkpoint(trainer, module, out, save)
    if trainer.is_global_zero and not resume:
        save()
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*(does not have many workers|LeafSpec|resuming from a checkpoint).*"
        )
        trainer.fit(module, ckpt_path=out / CHECKPOINT if resume else None, weights_only=True)
    if stop.signum is not None:
        raise TrainingInterrupted(
            f"interrupted by {signal.Signals(stop.signum).name} at step {module.step}; checkpoint "
            f"saved, continue with: dgm train {config.model} --out {out} --resume",
            stop.signum,
        )
    state, kept = module.kept_state()
    model.load_state_dict(state)
    return TrainResult(
        model.eval(), module.step, trainer.world_size, trainer.is_global_zero, kept, module.stopped_early
    )


def _trainer(config: RunConfig, out: Path, progress: bool, players: int) -> tuple[Any, GracefulStop]:
    """The Lightning Trainer: devices, precision, DDP, checkpoint files, TensorBoard, signals."""
    import logging

    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    # Lightning's start-up banners (GPU/TPU availability, tips) are noise in a CLI.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    strategy: Any = config.strategy
    if strategy == "ddp" and players > 1:
        from lightning.pytorch.strategies import DDPStrategy

        # Each player's loss reaches only part of the model: DDP must not wait for the rest.
        strategy = DDPStrategy(find_unused_parameters=True)
    stop = GracefulStop()
    gpu = resolve_device(config.device).type == "cuda"
    try:
        trainer = L.Trainer(
            accelerator="gpu" if gpu else "cpu",
            devices=config.devices,
            num_nodes=config.num_nodes,
            strategy=strategy,
            precision="64-true" if config.dtype == "float64" else "32-true",
            max_steps=-1,  # the module counts steps and stops the run itself
            max_epochs=-1,
            limit_val_batches=0,  # the module validates with its fixed estimator
            num_sanity_val_steps=0,
            logger=_tensorboard(out),
            enable_checkpointing=False,
            enable_progress_bar=False,  # ours (Progress) shows steps of the total
            enable_model_summary=False,
            plugins=[AtomicCheckpointIO()],
            # Under DDP torch's BatchNorm layers (GANs, VAEs) normalise by the whole batch, not
            # each process's share; torch syncs them on GPUs only. The flows' own batch-norm
            # bijection is not converted: each process uses its share's statistics.
            sync_batchnorm=gpu,
            default_root_dir=out,
            callbacks=[stop, *([Progress()] if progress else [])],
        )
    except (ValueError, TypeError, MisconfigurationException) as e:  # e.g. an unknown --strategy
        raise DgmError(f"cannot set up training: {e}") from None
    return trainer, stop


def _tensorboard(out: Path) -> Any:
    """TensorBoard logger when tensorboard is installed, else none (metrics.csv is always written)."""
    try:
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(out), name="tensorboard", version="", default_hp_metric=False)
    except ModuleNotFoundError:
        return False
