"""The LightningModule that trains any model with any objective: one step, every player.

Optimisation is manual, so that the whole algorithm reads top to bottom in `training_step`: for
each player due on this step, in the objective's order, compute its loss, check it is finite,
backpropagate, clip, set the learning rate, step, run the objective's hook. The step counter is
ours (one step = one batch, whatever the number of players), as are validation, the choice of
the kept model, early stopping and the time budget; Lightning provides devices, precision, DDP,
checkpoint files and loggers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from dgm.config import RunConfig
from dgm.data.dequantize import PipelineNoise, split_generator
from dgm.errors import DgmError, TrainingDiverged
from dgm.models.base import GenerativeModel
from dgm.objectives.base import Objective, OptimSettings, StepContext
from dgm.train.data import StepBatches
from dgm.train.ema import EMA
from dgm.train.optim import lr_factor, progress
from dgm.train.validation import score_name, validation_modes, validation_score


@dataclass
class Budget:
    """How long the run lasts: steps (None: unbounded), seconds of training (None: unbounded),
    and the number of validations without improvement that stops it early (None: never)."""

    steps: int | None
    seconds: float | None = None
    patience: int | None = None


@dataclass
class Selection:
    """The best validation score so far, its step and the weights that reached it."""

    score: float = math.inf
    step: int | None = None
    state: dict[str, Tensor] | None = None
    stale: int = 0  # validations since the last improvement


class TrainModule(L.LightningModule):
    """Trains `model` by `objective` over deterministic mini-batches, one player after another.

    `train` and `val` are (x,) or, for class-conditional models, (x, c) with c one-hot; with
    `noise` (dequantisation or binarisation of discrete data), every training batch gets fresh noise
    and the validation split gets it once, with the run's seed. An objective may train on data of
    its own instead (`Objective.training_data`), made when training starts, from the restored
    model on `--resume`, and drawn without noise.
    """

    def __init__(
        self,
        model: GenerativeModel,
        objective: Objective,
        settings: dict[str, OptimSettings],
        config: RunConfig,
        data: tuple[tuple[Tensor, ...], tuple[Tensor, ...]],
        budget: Budget,
        noise: PipelineNoise | None = None,
        modes: tuple[Tensor, float] | None = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.model, self.objective, self.settings, self.config = model, objective, settings, config
        (self.train_data, val), self.budget = data, budget
        if noise is not None:
            val = (noise(val[0], split_generator(config.seed, "val")), *val[1:])
        self.val_data = val
        self.noise = self.batch_noise = noise
        # A model without a density on data of known modes logs their coverage at each check.
        self.modes = modes if model.density == "none" else None
        self.coverage: tuple[int, int] | None = None  # (covered, total) modes at the last check
        self.step, self.elapsed = 0, 0.0
        self.ema = EMA(model, config.ema) if config.ema else None
        self.selection = Selection()  # over the periodic validations (every val_every steps)
        self.final: tuple[float, int, dict[str, Tensor]] | None = None  # the end of this part, if off-period
        self.stopped_early = False  # by patience
        self.finished = False  # the budget (or patience) ended the run, not a signal
        self._saved_rng: dict | None = None  # a checkpoint's random streams, set at train start
        self.row: dict[str, float] = {}  # what this step logs
        self.last_row: dict[str, float] = {}  # what was logged last (the progress display shows it)
        self.on_log = lambda step, row: None  # set by the trainer set-up: writes metrics.csv, TensorBoard
        self.on_checkpoint = lambda: None  # set by the trainer set-up: writes checkpoint and model files
        self.on_start = lambda step: None  # set by the trainer set-up: keeps metrics.csv up to `step`
        self._clock = 0.0

    # ---- one training step -------------------------------------------------------------------
    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        if self.batch_noise is not None:
            batch = (self.batch_noise(batch[0]), *batch[1:])
        due = self._log_due(self.step)
        elapsed = self.shared_elapsed()
        for player, optimizer in zip(self.objective.players, self.trainer.optimizers, strict=True):
            s = self.settings[player.name]
            if self.step % s.every:
                continue
            # A player records its last step before the row is written: a WGAN's generator, which
            # steps every 5th step, would otherwise never meet a row written every 10th.
            logging = due < self.step + s.every
            ctx = StepContext(self.step, self.global_rank, self.trainer.world_size, logging)
            loss, terms = self.objective.loss(player.name, self.model, batch, ctx)
            self._check_finite(loss, player.name)
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            norm = self._clip(optimizer, s.grad_clip, measure=logging)
            fraction = progress(self.step, s.warmup_steps, self.budget.steps, elapsed, self.budget.seconds)
            lr = s.lr * lr_factor(self.step, s.warmup_steps, fraction, s.schedule)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.step()
            self.objective.after_step(player.name, self.model)
            if logging:
                self._record(player.name, loss, terms, lr, norm)
        self.step += 1
        if self.ema is not None:
            self.ema.update(self.model)

    def _log_due(self, index: int) -> int:
        """The 0-based index of the first step from `index` on after which metrics.csv gets a row:
        every log_every-th step, and the last one."""
        due = index + self.config.log_every - 1 - index % self.config.log_every
        return due if self.budget.steps is None else min(due, self.budget.steps - 1)

    def _check_finite(self, loss: Tensor, player: str) -> None:
        # Agreed across processes, so that under DDP every rank stops together instead of hanging.
        if not self.trainer.strategy.reduce_boolean_decision(bool(torch.isfinite(loss)), all=True):
            who = "" if len(self.objective.players) == 1 else f" of player {player!r}"
            raise TrainingDiverged(
                f"the training loss{who} became {loss.item()} at step {self.step + 1}; training stopped, "
                "the last good checkpoint is kept (try a lower --lr, --set grad_clip=1.0, or check "
                "the data's scale)"
            )

    def _clip(self, optimizer: torch.optim.Optimizer, max_norm: float | None, measure: bool) -> float | None:
        """Clip the player's gradient norm to max_norm; return the norm before clipping when asked."""
        if max_norm is None and not measure:
            return None
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, math.inf if max_norm is None else max_norm)
        return norm.item() if measure else None

    def _record(
        self, player: str, loss: Tensor, terms: dict[str, Tensor], lr: float, norm: float | None
    ) -> None:
        # One player keeps the short names of a likelihood run: train/loss, lr, grad_norm.
        suffix = "" if len(self.objective.players) == 1 else f"/{player}"
        self.row[f"train/loss{suffix}"] = loss.item()
        self.row[f"lr{suffix}"] = lr
        if norm is not None:
            self.row[f"grad_norm{suffix}"] = norm
        for name, value in terms.items():
            self.row[f"train/{name}"] = float(value.detach())

    # ---- after each step: log, validate, checkpoint, stop ------------------------------------
    def on_train_start(self) -> None:
        if self._saved_rng is not None:  # now that the module is on its device (a GPU's stream)
            self._set_rng_state(self._saved_rng)
            self._saved_rng = None
        if self.step > 0:
            self._check_budget_left()
        self._clock = time.monotonic() - self.elapsed
        self.on_start(self.step)
        if self.step == 0:  # so that even a run killed before its first period resumes
            self.on_checkpoint()

    def _check_budget_left(self) -> None:
        """A resumed run whose budget is spent would train 0 steps: say how to extend it instead."""
        b = self.budget
        if b.patience is not None and self.selection.stale >= b.patience:
            raise DgmError(
                f"the run stopped early: {self.selection.stale} validations without improvement, its "
                f"patience is {b.patience}; resume with a larger --set patience=P to continue it"
            )
        if b.steps is not None and self.step >= b.steps:
            raise DgmError(
                f"the run has already taken {self.step} steps of its {b.steps}; resume with a larger "
                f"--max-steps (or --epochs) to continue it"
            )
        if b.seconds is not None and self.elapsed >= b.seconds:
            raise DgmError(
                f"the run has already trained for {self.elapsed:.0f} s of its --max-time "
                f"{self.config.max_time}, which is the total over all its parts; resume with a longer "
                f"--max-time (e.g. {2 * b.seconds:.0f}s) to continue it"
            )

    def fraction_done(self) -> float:
        """How much of the budget is spent, in [0, 1] (steps or time, whichever is further)."""
        return progress(self.step, 0, self.budget.steps, self.elapsed, self.budget.seconds)

    def elapsed_now(self) -> float:
        """Seconds of training in this run, resumed parts included."""
        return time.monotonic() - self._clock

    def shared_elapsed(self) -> float:
        """Elapsed training time, rank 0's under DDP when time bounds the run, so that every process
        sets the same learning rate and decides to stop at the same step."""
        elapsed = self.elapsed_now()
        if self.budget.seconds is not None and self.trainer.world_size > 1:
            elapsed = float(self.trainer.strategy.broadcast(elapsed, src=0))
        return elapsed

    def on_fit_start(self) -> None:
        if self.ema is not None:  # the model has just moved to its device: the average follows it
            self.ema.to(self.device)

    def on_train_batch_end(self, *args: object) -> None:
        self.elapsed = self.shared_elapsed()
        c, step = self.config, self.step
        if step % c.val_every == 0:
            self.validate()
        # Values waiting for their row are written before a checkpoint too, which does not hold them.
        due = self._log_due(step - 1) == step - 1 or step % c.checkpoint_every == 0
        if self.row and (due or step % c.val_every == 0):
            self.on_log(step, {**self.row, "wall_time": self.elapsed})
            self.last_row, self.row = self.row, {}
        done = False
        if self.budget.steps is not None and step >= self.budget.steps:
            done = True
        if self.budget.seconds is not None and self.elapsed >= self.budget.seconds:
            done = True
        if self.budget.patience is not None and self.selection.stale >= self.budget.patience:
            self.stopped_early = done = True
        self.finished = done  # before the checkpoint of this step, which records it
        if step % c.checkpoint_every == 0:
            self.on_checkpoint()
        stop = done or self.trainer.should_stop  # should_stop: a signal, on this process (GracefulStop)
        # Every process stops at the same step, or the others would wait forever in the next one.
        self.trainer.should_stop = self.trainer.strategy.reduce_boolean_decision(stop, all=False)

    def on_train_end(self) -> None:
        """Score the last weights too when the last step was no periodic validation: they may be the
        best. That candidate enters the model file but not the checkpoint's selection, so a run
        interrupted (or extended) here and resumed chooses as an uninterrupted run would."""
        if self.step > 0 and self.step % self.config.val_every != 0:
            state = self.current_state()
            score = self._score(state)
            self.final = (score, self.step, state)
            # with the clock, as every periodic row: the run's last step and its training time
            self.on_log(
                self.step, {**self.row, f"val/{score_name(self.model)}": score, "wall_time": self.elapsed}
            )
            self.row = {}
        self.on_checkpoint()

    def validate(self) -> None:
        """Score the weights the run would keep (the average, with EMA) and remember the best."""
        state = self.current_state()
        score = self._score(state)
        sel = self.selection
        self.row[f"val/{score_name(self.model)}"] = score
        if score < sel.score:
            sel.score, sel.step, sel.state, sel.stale = score, self.step, state, 0
        else:
            sel.stale += 1

    def _score(self, state: dict[str, Tensor]) -> float:
        """The validation score of the weights `state` (rank 0's under DDP, so all processes agree)."""
        backup = None
        if self.ema is not None:
            backup = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.model.load_state_dict(state)
        score = validation_score(
            self.model,
            self.val_data,
            self.config.seed,
            rank=self.global_rank,
            world_size=self.trainer.world_size,
            reduce_sum=lambda t: self.trainer.strategy.reduce(t, reduce_op="sum"),
        )
        if self.modes is not None:  # logged with the score, of the same samples
            stats = validation_modes(self.model, self.val_data, self.config.seed, self.modes)
            self.row.update({f"val/{k}": stats[k] for k in ("modes_covered", "high_quality")})
            self.coverage = int(stats["modes_covered"]), int(stats["modes_total"])
        if backup is not None:
            self.model.load_state_dict(backup)
        if self.trainer.world_size > 1:
            score = float(self.trainer.strategy.broadcast(score, src=0))
        return score

    def current_state(self) -> dict[str, Tensor]:
        """The weights as they stand (averaged when EMA is on), detached copies."""
        if self.ema is not None:
            return self.ema.state_dict(self.model)
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def kept_state(self) -> tuple[dict[str, Tensor], int]:
        """The run's model and its step: the best validated weights (keep=best; the periodic
        validations and the end of this part), else the current ones."""
        sel = self.selection
        candidates = [(sel.score, int(sel.step or 0), sel.state)] if sel.state is not None else []
        candidates += [self.final] if self.final is not None else []
        if self.config.keep == "best" and candidates:
            _, step, state = min(candidates, key=lambda c: c[0])  # ties: the periodic one
            return state, step
        return self.current_state(), self.step

    # ---- data, optimisers, checkpoints -------------------------------------------------------
    def train_dataloader(self) -> DataLoader:
        # Lightning asks for the data after restoring a checkpoint's weights, which the
        # objective's own data may be computed from (M1+M2's codes from M1).
        prepared = self.objective.training_data(self.model, self.train_data, self.noise)
        if prepared is not None:
            self.batch_noise = None
        batches = StepBatches(
            prepared or self.train_data,
            self.config.batch_size,
            self.config.seed,
            rank=self.global_rank,
            world_size=self.trainer.world_size,
        )
        batches.start_step = self.step  # restored from the checkpoint on --resume
        # An own generator: otherwise creating the iterator draws a seed from the global stream,
        # one draw that a resumed run would not make (breaking bit-for-bit resume).
        return DataLoader(batches, batch_size=None, generator=torch.Generator())

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [
            self.settings[p.name].build(self.objective.parameters(p.name, self.model))
            for p in self.objective.players
        ]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        sel = self.selection
        checkpoint["dgm"] = {
            "step": self.step,
            "elapsed": self.elapsed,
            "best": {"score": sel.score, "step": sel.step, "state": sel.state, "stale": sel.stale},
            "ema": None if self.ema is None else self.ema.shadow,
            "rng": self._rng_state(),
            "finished": self.finished,
            "coverage": self.coverage,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint["dgm"]
        self.step, self.elapsed = saved["step"], saved["elapsed"]
        best = saved["best"]
        self.selection = Selection(best["score"], best["step"], best["state"], best["stale"])
        if self.ema is not None and saved["ema"] is not None:
            self.ema.load(saved["ema"])
        # Lightning restores the checkpoint before it moves the module to its device: the streams
        # are set in on_train_start, where a GPU's can be.
        self._saved_rng = saved["rng"]
        self.finished = saved.get("finished", False)
        self.coverage = saved.get("coverage")  # the progress line shows it until the next check

    def _rng_state(self) -> dict[str, Tensor]:
        """The CPU stream and, on a GPU, this device's stream (noise drawn on the GPU comes from it)."""
        state = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _set_rng_state(self, state: dict) -> None:
        torch.set_rng_state(state["cpu"])
        if "cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"], self.device)
