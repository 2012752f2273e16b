"""Run files: atomic checkpoints read without unpickling code, model files, metrics.csv; graceful stop."""

from __future__ import annotations

import csv
import io
import math
import pickle
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from dgm.errors import DgmError, TrainingDiverged
from dgm.io import read_metrics
from dgm.utils import atomic_path

CHECKPOINT = "checkpoints/last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write checkpoints to a temporary file and rename, so a kill never leaves half a file;
    read them back with torch's restricted `weights_only` unpickler, which executes no code."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict:
        """The checkpoint, if it is one dgm wrote: a dict with Lightning's and dgm's keys whose model
        tensors have the shapes of the run's model file. Anything else is one line, exit code 2."""
        from dgm.io import WEIGHTS, header_shapes

        try:
            with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error says it all
                warnings.simplefilter("ignore")
                checkpoint = torch.load(path, map_location=map_location or "cpu", weights_only=True)
        except pickle.UnpicklingError:  # torch's message advises weights_only=False: it would run the file
            raise DgmError(
                f"checkpoint {path} holds Python objects that are not tensors or plain values: it was "
                "not written by dgm and is not loaded (loading it could run code)"
            ) from None
        except (RuntimeError, EOFError, OSError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DgmError(f"checkpoint {path} is corrupt or not a dgm checkpoint ({first})") from None
        keys = ("state_dict", "dgm", "optimizer_states", "pytorch-lightning_version")
        missing = [k for k in keys if not isinstance(checkpoint, dict) or k not in checkpoint]
        if missing or not isinstance(checkpoint["state_dict"], dict):
            lacks = repr(missing[0]) if missing else "a state_dict mapping"
            raise DgmError(f"{path} is not a dgm checkpoint (it lacks {lacks})")
        weights = Path(path).parent.parent / WEIGHTS  # written with every checkpoint, checked by dgm.load
        shapes = header_shapes(weights) if weights.is_file() else {}
        state = checkpoint["state_dict"]
        wrong = [k for k, s in shapes.items() if tuple(getattr(state.get(f"model.{k}"), "shape", ())) != s]
        if wrong:
            raise DgmError(f"checkpoint {path} does not match the model in {weights} (in model.{wrong[0]})")
        return checkpoint


def write_checkpoint(trainer: L.Trainer, module: L.LightningModule, run_dir: Path, save_model: Any) -> None:
    """Save, on the first process, the model files, then the resumable checkpoint: a run killed
    between the two resumes from the checkpoint before and rewrites the model files, so a
    checkpoint never stands beside model files older than itself."""
    # Never let a diverged state replace the last good checkpoint.
    if not all(torch.isfinite(p).all() for p in module.parameters()):
        raise TrainingDiverged(
            f"the parameters became NaN or infinite at step {module.step}; training stopped, "
            "the last good checkpoint is kept (try a lower --lr or --set grad_clip=1.0)"
        )
    if trainer.is_global_zero:
        save_model()
    trainer.save_checkpoint(run_dir / CHECKPOINT, weights_only=False)


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

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()  # after the final checkpoint: a second Ctrl-C cannot cut it short

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore()


#: the terminal's erase-to-end-of-line: a shorter line rewritten in place leaves nothing of the last
CLEAR_LINE = "\x1b[K"


class Progress(L.Callback):
    """Training progress on stderr: one line rewritten in place on a terminal (steps of the total,
    or seconds of the time budget, the losses and, on data of known modes, the modes the last
    check's samples covered, marked "collapse?" while some are missing); elsewhere (logs, pipes) a
    line per tenth."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown, self.last_tenth = 0.0, 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, *args: Any) -> None:
        if not trainer.is_global_zero:
            return
        fraction = pl_module.fraction_done()
        now = time.monotonic()
        if self.tty and now - self.shown > 0.2:
            self.shown = now
            print(f"\r{self._line(pl_module)}{CLEAR_LINE}", end="", file=sys.stderr, flush=True)
        elif not self.tty and int(10 * fraction) > self.last_tenth:
            self.last_tenth = int(10 * fraction)
            print(self._line(pl_module), file=sys.stderr, flush=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if self.tty and trainer.is_global_zero and self.shown:
            print(f"\r{self._line(pl_module)}{CLEAR_LINE}", file=sys.stderr, flush=True)

    @staticmethod
    def _line(module: Any) -> str:
        b = module.budget
        where = f"step {module.step}" + (f"/{b.steps}" if b.steps is not None else "")
        if b.seconds is not None:
            where += f", {module.elapsed_now():.0f}/{b.seconds:.0f} s"
        parts = [where] + [
            f"{k.removeprefix('train/')} {v:.4g}"
            for k, v in module.last_row.items()
            if k.startswith("train/loss")
        ]
        if module.coverage is not None:
            covered, total = module.coverage
            parts.append(f"modes {covered}/{total}" + (" (collapse?)" if covered < total else ""))
        return "  ".join(parts)


class MetricsLog:
    """One row per logged step in metrics.csv and in TensorBoard.

    A row whose columns the file has is appended as one complete line; a new column, or a second
    row for a step already written (the last validation), rewrites the file atomically. Appending
    keeps a long run's logging linear in its length (rewriting the file at every row made it
    quadratic: an M1+M2 run's rate fell from 52 to 39 steps/s over 118,000 steps). A line cut
    short by a crash has no newline and is dropped on resume, with the rows past the checkpoint's
    step, so that the file shows one history.
    """

    def __init__(self, path: Path, tensorboard: Any = None) -> None:
        self.path, self.tensorboard = path, tensorboard
        self.rows: dict[int, dict[str, float]] = {}
        self.columns: list[str] = []  # the file's header as written

    def resume(self, step: int) -> None:
        """Keep the rows of steps up to `step` from an earlier part of the run."""
        self.rows.clear()
        self.columns = []  # so that the first row rewrites the file
        if step > 0 and self.path.exists():
            for row in read_metrics(self.path):
                if int(row["step"]) <= step:
                    self.rows[int(row["step"])] = row
            self._rewrite()

    def __call__(self, step: int, values: dict[str, float]) -> None:
        if not values:
            return
        again = step in self.rows
        row = self.rows.setdefault(step, {"step": step})
        row.update(values)
        if self.tensorboard is not None:
            self.tensorboard.log_metrics(values, step=step)
        if again or not set(row) <= set(self.columns):
            self._rewrite()
            return
        buf = io.StringIO()
        csv.DictWriter(buf, fieldnames=self.columns).writerow({k: _fmt(v) for k, v in row.items()})
        with self.path.open("a") as f:
            f.write(buf.getvalue())

    def _rewrite(self) -> None:
        keys = sorted({k for r in self.rows.values() for k in r} - {"step", "wall_time"})
        self.columns = ["step", "wall_time", *keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns)
        w.writeheader()
        for s in sorted(self.rows):
            w.writerow({k: _fmt(v) for k, v in self.rows[s].items()})
        with atomic_path(self.path) as tmp:
            tmp.write_text(buf.getvalue())


def _fmt(v: float) -> str | int:
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else repr(v) if math.isfinite(v) else str(v)
