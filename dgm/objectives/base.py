"""The objective contract: players, their optimiser settings, an update schedule and step hooks.

An objective trains a model by one or more *players*, disjoint groups of the model's parameters,
each minimising its own loss with its own optimiser: maximum likelihood has one player (the whole
model); a GAN has a critic and a generator. One training step draws one batch and, for every
player due on that step (in the objective's order), computes the player's loss, backpropagates,
clips, steps its optimiser and runs `after_step` (where WGAN clips the critic's weights).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from dgm.errors import DgmError
from dgm.models.base import GenerativeModel

if TYPE_CHECKING:
    from dgm.data.dequantize import PipelineNoise

#: Optimisers a player may use.
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class OptimSettings:
    """How one player learns: the optimiser, its learning-rate schedule and its update cadence.

    The learning rate at step s is lr · f(s), f the linear warm-up followed by a cosine decay to 0
    over the run (schedule "cosine") or by a constant 1 ("constant"); see
    `dgm.train.optim.lr_factor`. `every` = 5 updates the player on every fifth step.
    """

    kind: str = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.0  # rmsprop and sgd
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_steps: int = 0
    grad_clip: float | None = None  # max gradient norm over the player's parameters
    every: int = 1

    def __post_init__(self) -> None:
        problems = {
            "kind": self.kind in OPTIMIZERS,
            "lr": _finite(self.lr) and self.lr > 0,
            "betas": len(self.betas) == 2 and all(_finite(b) and 0 <= b < 1 for b in self.betas),
            "momentum": _finite(self.momentum) and 0 <= self.momentum < 1,
            "weight_decay": _finite(self.weight_decay) and self.weight_decay >= 0,
            "schedule": self.schedule in SCHEDULES,
            "warmup_steps": self.warmup_steps >= 0,
            "grad_clip": self.grad_clip is None or (_finite(self.grad_clip) and self.grad_clip > 0),
            "every": self.every >= 1,
        }
        wanted = {
            "kind": f"one of {', '.join(OPTIMIZERS)}",
            "lr": "a positive finite number",
            "betas": "two numbers in [0, 1)",
            "momentum": "a number in [0, 1)",
            "weight_decay": "a non-negative finite number",
            "schedule": f"one of {', '.join(SCHEDULES)}",
            "warmup_steps": "a non-negative integer",
            "grad_clip": "a positive finite number or null",
            "every": "a positive integer",
        }
        for key, ok in problems.items():
            if not ok:
                raise DgmError(f"optimiser setting {key} must be {wanted[key]}, got {getattr(self, key)!r}")

    def updated(self, given: dict[str, Any], where: str) -> OptimSettings:
        """These settings with the keys in `given` replaced, converted to the fields' types."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        for key in given:
            if key not in fields:
                raise DgmError(f"{where}: unknown optimiser setting {key!r} (known: {', '.join(fields)})")
        return dataclasses.replace(
            self, **{k: _convert(f"{where}.{k}", v, getattr(self, k)) for k, v in given.items()}
        )

    def build(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        """The torch optimiser over `params` (fused Adam: one kernel for all parameters)."""
        params = list(params)
        if self.kind in ("adam", "adamw"):
            cls = torch.optim.Adam if self.kind == "adam" else torch.optim.AdamW
            return cls(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay, fused=True)
        if self.kind == "rmsprop":
            return torch.optim.RMSprop(
                params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
            )
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _convert(key: str, value: Any, like: Any) -> Any:
    """Convert a YAML/--set value to the type of the default (`like`)."""
    try:
        if isinstance(like, tuple) or key.endswith(".betas"):
            if not isinstance(value, (list, tuple)):
                raise ValueError
            return tuple(float(v) for v in value)
        if isinstance(like, bool) or isinstance(value, bool):
            raise ValueError
        if key.endswith((".warmup_steps", ".every")):
            if float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        if key.endswith((".kind", ".schedule")):
            return str(value)
        if value is None and key.endswith(".grad_clip"):
            return None
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise DgmError(f"{key} cannot be {value!r}") from None


@dataclass(frozen=True)
class Player:
    """A named group of parameters with its default optimiser settings."""

    name: str
    optim: OptimSettings = field(default_factory=OptimSettings)


@dataclass
class StepContext:
    """What an objective may know about the step: its index (for warm-ups and annealing), the
    data-parallel layout, so that noise can be drawn for the global batch, and whether the terms
    it returns are logged (`logging`), so that a diagnostic is computed only when it is written.

    `noise(shape)` draws standard normal noise for the *global* batch from torch's random stream
    and returns this process's share (rows rank, rank + W, …): every process draws the same
    numbers, so a run on W processes sees the noise a single process would.
    """

    step: int
    rank: int = 0
    world_size: int = 1
    logging: bool = False

    def noise(self, n: int, *shape: int, like: Tensor) -> Tensor:
        """Standard normal noise of shape (n, *shape), this process's rows of the global batch."""
        z = torch.randn(n * self.world_size, *shape, dtype=like.dtype, device=like.device)
        return z[self.rank :: self.world_size]

    def uniform(self, n: int, *shape: int, like: Tensor) -> Tensor:
        """U[0, 1) noise of shape (n, *shape), this process's rows of the global batch (as `noise`)."""
        u = torch.rand(n * self.world_size, *shape, dtype=like.dtype, device=like.device)
        return u[self.rank :: self.world_size]


def preprocessed(model: GenerativeModel, x: Tensor) -> tuple[Tensor, Tensor]:
    """y = T(x) and log|det ∂T/∂x| for a `Preprocessed` model (the identity otherwise): what an
    objective that reaches into the model's core trains on, and the Jacobian that keeps its
    likelihood terms in the data's units."""
    if hasattr(model, "preprocess"):
        return model.preprocess(x)
    return x, x.new_zeros(x.shape[0])


def postprocessed(model: GenerativeModel, y: Tensor) -> Tensor:
    """x = T⁻¹(y): the model's own values (e.g. a generator's output) in the data's units, for a
    `Preprocessed` model (the identity otherwise); the inverse of `preprocessed`."""
    return model.postprocess(y) if hasattr(model, "postprocess") else y


def noise_free(model: GenerativeModel, x: Tensor, noise: PipelineNoise | None) -> Iterator[Tensor]:
    """T(E[x̃]) in chunks on the model's device, x̃ the pipeline's `noise` of x (x itself without
    noise): what a model that reads each sample once, without noise, sees (M1+M2's M1)."""
    p = next(model.parameters())
    for chunk in x.split(4096):
        chunk = chunk.to(p)
        yield preprocessed(model, chunk if noise is None else noise.mean(chunk))[0]


class Objective:
    """Base class: one player, `model`, which minimises `loss`.

    Subclasses with several players override `players`, `parameters` and `loss`; `after_step`
    runs after a player's optimiser step (e.g. weight clipping), `terms` are logged as given.
    """

    players: tuple[Player, ...] = (Player("model"),)
    #: keyword arguments that may be 0 (every other number among them must be positive).
    may_be_zero: tuple[str, ...] = ()
    #: a registered model of vectors it trains, for objectives no model has as its default (tests).
    example_model: str | None = None
    #: the weights a run keeps unless it says (`keep`): the best validated ("best") or the last.
    keep: str = "best"
    #: model arguments the objective needs, filled in where the run gives none (wgan-sn's critic
    #: is spectrally normalised), for models that take them.
    model_defaults: dict[str, Any] = {}

    def parameters(self, player: str, model: GenerativeModel) -> list[nn.Parameter]:
        """The parameters that `player` updates."""
        return [p for p in model.parameters() if p.requires_grad]

    def loss(
        self, player: str, model: GenerativeModel, batch: tuple[Tensor, ...], ctx: StepContext
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Return the scalar loss `player` minimises on `batch` = (x,) or (x, c), and named terms."""
        raise NotImplementedError

    def after_step(self, player: str, model: GenerativeModel) -> None:
        """Run after `player`'s optimiser step (default: nothing)."""

    def training_data(
        self, model: GenerativeModel, tensors: tuple[Tensor, ...], noise: PipelineNoise | None
    ) -> tuple[Tensor, ...] | None:
        """What training batches are drawn from instead of the training split `tensors`, computed
        once when training starts (a resumed run: from the restored model), with no per-batch
        noise; None (the default): the split itself, with the pipeline's `noise` (binarisation,
        dequantisation) drawn afresh for every batch."""
        return None

    def setup(self, model: GenerativeModel, load_run: Callable[[str], GenerativeModel]) -> None:
        """Run once before training, with the model and a loader of finished runs: an objective
        checks here that it can train the model (a DgmError before any file is written) and loads
        the runs it learns from (reflow's teacher). Default: nothing."""
