"""The LightningModule that trains any model with any objective with one optimiser."""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from dgm.config import RunConfig
from dgm.data.dequantize import dequantize
from dgm.errors import TrainingDiverged
from dgm.models.base import GenerativeModel
from dgm.objectives.base import Objective
from dgm.train.data import StepBatches


def warmup_cosine(step: int, warmup: int, total: int | None) -> float:
    """Learning-rate factor: linear warm-up over `warmup` steps, then ½(1 + cos(π·progress)).

    With no known total (training bounded by time only) the factor stays 1 after warm-up.
    """
    if step < warmup:
        return (step + 1) / warmup
    if total is None or total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / (total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class DensityModule(L.LightningModule):
    """Trains `model` by minimising `objective(model, x)` over deterministic mini-batches."""

    def __init__(
        self,
        model: GenerativeModel,
        objective: Objective,
        config: RunConfig,
        train: tuple[Tensor, ...],
        val: tuple[Tensor, ...],
        total_steps: int | None,
        levels: int | None = None,
    ) -> None:
        """train and val are (x,) or, for class-conditional models, (x, c) with c one-hot; with
        `levels`, x is discrete and every batch is dequantised afresh (val with fixed noise)."""
        super().__init__()
        self.model, self.objective, self.config = model, objective, config
        self.train_data, self.total_steps, self.levels = train, total_steps, levels
        if levels is not None:
            val = (dequantize(val[0], levels, torch.Generator().manual_seed(config.seed)), *val[1:])
        self.val_data = val
        self._rng_before_val: dict[str, Tensor] | None = None

    def train_dataloader(self) -> DataLoader:
        batches = StepBatches(
            self.train_data,
            self.config.batch_size,
            self.config.seed,
            rank=self.global_rank,
            world_size=self.trainer.world_size,
        )
        batches.start_step = self.trainer.global_step  # restored from the checkpoint on --resume
        # An own generator: otherwise creating the iterator draws a seed from the global stream,
        # one draw that a resumed run would not make (breaking bit-for-bit resume).
        return DataLoader(batches, batch_size=None, generator=torch.Generator())

    def val_dataloader(self) -> DataLoader:
        chunks = list(zip(*(t.split(4096) for t in self.val_data), strict=True))
        return DataLoader(chunks, batch_size=None, generator=torch.Generator())

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        if self.levels is not None:
            batch = (dequantize(batch[0], self.levels), *batch[1:])
        x = batch[0]
        loss, terms = self.objective(self.model, *batch)
        # Agreed across processes, so that under DDP every rank stops together instead of hanging.
        finite = self.trainer.strategy.reduce_boolean_decision(bool(torch.isfinite(loss)), all=True)
        if not finite:
            raise TrainingDiverged(
                f"the training loss became {loss.item()} at step {self.global_step + 1}; "
                "training stopped, the last good checkpoint is kept "
                "(try a lower --lr, --set grad_clip=1.0, or check the data's scale)"
            )
        # Logging costs more than a step of a small model: record only the steps that are written.
        if (self.global_step + 1) % self.config.log_every == 0 or self.global_step + 1 == self.total_steps:
            self.log("train/loss", loss, prog_bar=True, batch_size=x.shape[0])
            for name, value in terms.items():
                self.log(f"train/{name}", value, batch_size=x.shape[0])
            self.log("lr", self.optimizers().param_groups[0]["lr"], batch_size=x.shape[0])
        return loss

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        x = batch[0]
        loss, terms = self.objective(self.model, *batch)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=x.shape[0])
        for name, value in terms.items():
            self.log(f"val/{name}", value, sync_dist=True, batch_size=x.shape[0])

    # Validation must not consume the training random stream, or a resumed run would diverge.
    def on_validation_epoch_start(self) -> None:
        self._rng_before_val = self._rng_state()

    def on_validation_epoch_end(self) -> None:
        if self._rng_before_val is not None:
            self._set_rng_state(self._rng_before_val)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint |= self._rng_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._set_rng_state(checkpoint)

    def _rng_state(self) -> dict[str, Tensor]:
        """The CPU stream and, on a GPU, this device's stream (noise drawn on the GPU comes from it)."""
        state = {"torch_rng_state": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda_rng_state"] = torch.cuda.get_rng_state(self.device)
        return state

    def _set_rng_state(self, state: dict) -> None:
        if "torch_rng_state" in state:
            torch.set_rng_state(state["torch_rng_state"])
        if "cuda_rng_state" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng_state"], self.device)

    def configure_optimizers(self) -> dict:
        c = self.config
        # The fused kernel updates all parameters at once: fewer small ops per step than the loop.
        opt = torch.optim.Adam(self.model.parameters(), lr=c.lr, weight_decay=c.weight_decay, fused=True)
        total = self.total_steps if c.lr_schedule == "cosine" else None
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: warmup_cosine(step, c.warmup_steps, total)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
