"""Latent priors as `torch.distributions` objects, built on the device and dtype of the model."""

from __future__ import annotations

import torch
from torch.distributions import Distribution, Independent, Normal


def standard_normal(shape: tuple[int, ...], like: torch.Tensor) -> Distribution:
    """Return N(0, I) over events of `shape`, on the device and dtype of `like`.

    log p(z) = −½‖z‖² − (D/2) log 2π, summed over the event dimensions.
    """
    zero = like.new_zeros(shape)
    # Argument validation costs more than the density itself in a training step; ours are constants.
    return Independent(
        Normal(zero, torch.ones_like(zero), validate_args=False), len(shape), validate_args=False
    )
