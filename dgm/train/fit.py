"""`train(config, out)`: build everything from a RunConfig and fit it with a Lightning Trainer."""

from __future__ import annotations

import datetime
import os
import signal
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dgm.config import RunConfig, parse_duration
from dgm.data import DataSource, load_data
from dgm.data.dequantize import dequantize
from dgm.errors import DgmError, TrainingInterrupted
from dgm.io import CONFIG, read_config, save_model
from dgm.models import Preprocessed, build_model
from dgm.models.build import model_arguments, resolved_arguments
from dgm.registry import DATASETS, MODELS, OBJECTIVES, load_all
from dgm.train.callbacks import CHECKPOINT, AtomicCheckpointIO, GracefulStop, MetricsCSV, PeriodicCheckpoint
from dgm.train.data import steps_for_epochs
from dgm.utils import one_hot, resolve_device


def model_config(config: RunConfig, data: DataSource) -> dict[str, Any]:
    """What `dgm.load` needs to rebuild the model, plus the data's description and the run config."""
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
        },
        "train": config.to_dict(),
    }


#: Settings a resumed run may change: its length and where it runs. Everything else is the run's.
RESUMABLE = ("max_steps", "epochs", "max_time", "device", "devices", "num_nodes", "strategy")


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


def prepare(config: RunConfig, out: Path, resume: bool) -> tuple[RunConfig, DataSource, Preprocessed]:
    """Resolve the config, load the data and build the model (initialised from data unless resuming)."""
    load_all()
    data = load_data(config.data)
    if config.data not in DATASETS:  # a user file: keep an absolute path so the run can find it again
        config.data = str(Path(config.data).expanduser().resolve())
    config.preprocess = config.preprocess or ("standardize" if data.kind == "points" else "logit")
    if config.dequantize is None:
        config.dequantize = "none" if data.levels is None else "uniform"
    if config.dequantize != "none" and data.levels is None:
        raise DgmError(
            f"dequantize={config.dequantize} needs discrete data; {data.name!r} has no grey levels"
        )
    config.objective = config.objective or MODELS.get(config.model).default_objective
    OBJECTIVES.get(config.objective)
    config.resolve(default_steps=MODELS.get(config.model).default_steps)
    if config.conditional:
        _condition_on_labels(config, data)
    torch.manual_seed(config.seed)
    dtype = getattr(torch, config.dtype)
    model = build_model(
        config.model,
        data.event_shape,
        config.preprocess,
        config.model_args,
        dequantize=config.dequantize,
        levels=data.levels,
    ).to(dtype)
    if not resume:
        train_data = _split(data, "train", config)
        if config.dequantize != "none":
            train_data = (dequantize(train_data[0], data.levels, torch.Generator()), *train_data[1:])
        model.transform.fit(train_data[0])
        model.initialize(*train_data)
    return config, data, model


@dataclass
class TrainResult:
    """The trained model (eval mode), the steps taken and the number of data-parallel processes."""

    model: Preprocessed
    global_step: int
    world_size: int
    is_global_zero: bool


def _condition_on_labels(config: RunConfig, data: DataSource) -> None:
    """Check that a class-conditional run is possible and size the model's context to K classes."""
    if data.num_classes == 0:
        raise DgmError(f"--set conditional=true needs labelled data; {data.name!r} has no labels")
    if "context_features" not in model_arguments(config.model):
        raise DgmError(f"model {config.model!r} cannot be conditioned on a context")
    config.model_args["context_features"] = data.num_classes


def _split(data: DataSource, name: str, config: RunConfig) -> tuple[torch.Tensor, ...]:
    """(x,) or, for a conditional run, (x, one-hot labels) of one split, in the run's dtype."""
    x = data.split(name).to(getattr(torch, config.dtype))
    if not config.conditional:
        return (x,)
    return x, one_hot(data.split_labels(name), data.num_classes, x)


def train(config: RunConfig, out: str | Path, *, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train the model described by `config`, writing model files, logs and checkpoints into `out`.

    The run folder holds `config.json` + `model.safetensors` (rewritten at every checkpoint),
    `metrics.csv`, `checkpoints/last.ckpt` (for --resume) and TensorBoard logs.
    """
    import logging

    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    # Lightning's start-up banners (GPU/TPU availability, tips) are noise in a CLI.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

    from dgm.train.module import DensityModule

    out = Path(out)
    ckpt = out / CHECKPOINT
    if resume and not ckpt.exists():
        raise DgmError(f"cannot resume: {ckpt} does not exist")
    # Only the first process checks: under DDP the others start after it has written config.json.
    first_process = os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("RANK", "0") == "0"
    if not resume and first_process and (out / CONFIG).exists():
        raise DgmError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if resume:  # a killed run may have left temporary files from an interrupted atomic write
        for stale in out.rglob(".*.tmp"):
            stale.unlink()
    config, data, model = prepare(config, out, resume)
    train_data, val_data = _split(data, "train", config), _split(data, "val", config)
    total = config.max_steps
    if total is None and config.epochs is not None:
        total = steps_for_epochs(train_data[0].shape[0], config.batch_size, config.epochs)
    device = resolve_device(config.device)
    meta = model_config(config, data)
    levels = data.levels if config.dequantize == "uniform" else None  # variational: the model's own
    module = DensityModule(
        model, OBJECTIVES.get(config.objective)(), config, train_data, val_data, total, levels
    )

    stop = GracefulStop()
    try:
        trainer = L.Trainer(
            accelerator="gpu" if device.type == "cuda" else "cpu",
            devices=config.devices,
            num_nodes=config.num_nodes,
            strategy=config.strategy,
            precision="64-true" if config.dtype == "float64" else "32-true",
            max_steps=total if total is not None else -1,
            max_time=datetime.timedelta(seconds=parse_duration(config.max_time)) if config.max_time else None,
            gradient_clip_val=config.grad_clip,
            val_check_interval=config.val_every,
            check_val_every_n_epoch=None,
            num_sanity_val_steps=0,
            log_every_n_steps=config.log_every,
            logger=_tensorboard(out),
            enable_checkpointing=False,
            enable_progress_bar=progress,
            enable_model_summary=False,
            plugins=[AtomicCheckpointIO()],
            default_root_dir=out,
            callbacks=[
                stop,
                MetricsCSV(out / "metrics.csv", config.log_every),
                PeriodicCheckpoint(out, config.checkpoint_every, lambda: save_model(out, model, meta)),
            ],
        )
    except (ValueError, TypeError, MisconfigurationException) as e:  # e.g. an unknown --strategy
        raise DgmError(f"cannot set up training: {e}") from None
    if trainer.is_global_zero and not resume:
        save_model(out, model, meta)
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*(does not have many workers|LeafSpec|resuming from a checkpoint).*"
        )
        trainer.fit(module, ckpt_path=ckpt if resume else None, weights_only=True)
    if stop.signum is not None:
        raise TrainingInterrupted(
            f"interrupted by {signal.Signals(stop.signum).name} at step {trainer.global_step}; checkpoint "
            f"saved, continue with: dgm train {config.model} --out {out} --resume",
            stop.signum,
        )
    return TrainResult(model.eval(), trainer.global_step, trainer.world_size, trainer.is_global_zero)


def _tensorboard(out: Path) -> Any:
    """TensorBoard logger when tensorboard is installed, else none (metrics.csv is always written)."""
    try:
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(out), name="tensorboard", version="", default_hp_metric=False)
    except ModuleNotFoundError:
        return False
