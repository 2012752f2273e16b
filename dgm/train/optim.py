"""Per-player optimiser settings from the objective's defaults and the run config, and the
learning-rate schedule as a pure function of the run's progress."""

from __future__ import annotations

import math
from typing import Any

from dgm.config import RunConfig
from dgm.errors import DgmError
from dgm.objectives.base import Objective, OptimSettings

#: Top-level config keys that set the same setting for every player (--lr, …).
SHARED = {
    "lr": "lr",
    "weight_decay": "weight_decay",
    "grad_clip": "grad_clip",
    "warmup_steps": "warmup_steps",
    "lr_schedule": "schedule",
}


def player_settings(objective: Objective, config: RunConfig) -> dict[str, OptimSettings]:
    """Each player's settings: its objective's defaults < top-level keys (`--lr`) < `optim.PLAYER.KEY`."""
    names = [p.name for p in objective.players]
    unknown = sorted(set(config.optim) - set(names))
    if unknown:
        raise DgmError(
            f"optim.{unknown[0]}: objective {config.objective!r} has no player {unknown[0]!r} "
            f"(its players: {', '.join(names)})"
        )
    shared = {key: getattr(config, name) for name, key in SHARED.items() if getattr(config, name) is not None}
    settings = {}
    for player in objective.players:
        given: Any = config.optim.get(player.name, {})
        if not isinstance(given, dict):
            raise DgmError(f"optim.{player.name} must be a mapping of settings, got {given!r}")
        settings[player.name] = player.optim.updated(shared, "config").updated(given, f"optim.{player.name}")
    return settings


def progress(step: int, warmup: int, total: int | None, elapsed: float, max_time: float | None) -> float:
    """How far the run is past its warm-up, in [0, 1]: by steps, by time, or the further of the two
    when both bound it, so that a run bounded by time alone still decays to zero at its end."""
    done = 0.0
    if total is not None and total > warmup:
        done = max(done, (step - warmup) / (total - warmup))
    if max_time:
        done = max(done, elapsed / max_time)
    return min(1.0, max(0.0, done))


def lr_factor(step: int, warmup: int, fraction: float, schedule: str = "cosine") -> float:
    """Learning-rate factor: (s + 1)/warmup during the warm-up, then ½(1 + cos(π·fraction)) for the
    cosine schedule (1 for constant), with `fraction` the run's `progress`."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * fraction))
