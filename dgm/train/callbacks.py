"""Callbacks: periodic atomic checkpoints plus model files, and the run's metrics.csv."""

from __future__ import annotations

import csv
import io
import math
import pickle
import signal
import threading
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from dgm.errors import DgmError, TrainingDiverged
from dgm.utils import atomic_path

CHECKPOINT = "checkpoints/last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write checkpoints to a temporary file and rename, so a kill never leaves half a file;
    read them back with torch's restricted `weights_only` unpickler, which executes no code."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict:
        try:
            return torch.load(path, map_location=map_location or "cpu", weights_only=True)
        except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DgmError(f"checkpoint {path} is corrupt or not a dgm checkpoint ({first})") from None


class PeriodicCheckpoint(L.Callback):
    """Every `every` steps and at the end: save the resumable checkpoint and the model files."""

    def __init__(self, run_dir: Path, every: int, save_model: Any) -> None:
        self.run_dir, self.every, self.save_model = run_dir, every, save_model

    def _save(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Never let a diverged state replace the last good checkpoint.
        if not all(torch.isfinite(p).all() for p in pl_module.parameters()):
            raise TrainingDiverged(
                f"the parameters became NaN or infinite at step {trainer.global_step}; training stopped, "
                "the last good checkpoint is kept (try a lower --lr or --set grad_clip=1.0)"
            )
        trainer.save_checkpoint(self.run_dir / CHECKPOINT, weights_only=False)
        if trainer.is_global_zero:
            self.save_model()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step == 0:  # so that even a run killed before its first period resumes
            self._save(trainer, pl_module)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.global_step % self.every == 0:
            self._save(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer, pl_module)


class GracefulStop(L.Callback):
    """On SIGINT or SIGTERM, finish the current step, then stop: `on_train_end` writes the
    checkpoint and model files, and `signum` tells the caller the run was interrupted."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        self.signum = signum

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.signum is not None:
            trainer.should_stop = True

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore()


class MetricsCSV(L.Callback):
    """Keep one row per logged step and rewrite metrics.csv atomically.

    On resume the rows past the checkpoint's step are dropped, so the file shows one history.
    """

    def __init__(self, path: Path, every: int) -> None:
        self.path, self.every = path, every
        self.rows: dict[int, dict[str, float]] = {}
        self.t0 = time.time()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        step = trainer.global_step
        if step > 0 and self.path.exists():
            with self.path.open() as f:
                for row in csv.DictReader(f):
                    if int(row["step"]) <= step:
                        self.rows[int(row["step"])] = {k: float(v) for k, v in row.items() if v != ""}
        else:
            self.rows.clear()

    def _record(self, trainer: L.Trainer, prefix: str | tuple[str, ...]) -> None:
        step = trainer.global_step
        row = self.rows.setdefault(step, {"step": step})
        row["wall_time"] = time.time() - self.t0
        for k, v in trainer.callback_metrics.items():
            if k.startswith(prefix):
                row[k] = float(v)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step % self.every == 0:
            self._record(trainer, ("train/", "lr"))
            self._write(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step > 0:
            self._record(trainer, "val/")
            self._write(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step > 0:  # the last step, even when it is not a multiple of log_every
            self._record(trainer, ("train/", "lr"))
        self._write(trainer)

    def _write(self, trainer: L.Trainer) -> None:
        if not trainer.is_global_zero or not self.rows:
            return
        keys = sorted({k for r in self.rows.values() for k in r} - {"step", "wall_time"})
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["step", "wall_time", *keys])
        w.writeheader()
        for step in sorted(self.rows):
            w.writerow({k: _fmt(v) for k, v in self.rows[step].items()})
        with atomic_path(self.path) as tmp:
            tmp.write_text(buf.getvalue())


def _fmt(v: float) -> str | int:
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else repr(v) if math.isfinite(v) else str(v)
