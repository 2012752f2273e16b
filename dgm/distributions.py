"""Latent priors as `torch.distributions` objects, built on the device and dtype of the model, and
the diagonal-Gaussian formulas the VAEs score their latents (and Gaussian decoders their data) by."""

from __future__ import annotations

import math

import torch
from torch import Tensor
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


def log_normal(z: Tensor, mu: Tensor | float = 0.0, log_sigma: Tensor | float = 0.0) -> Tensor:
    """log N(z; μ, diag σ²) = Σ_i [−½ ((z_i − μ_i)/σ_i)² − log σ_i − ½ log 2π], summed over the last dim."""
    log_sigma = torch.as_tensor(log_sigma, dtype=z.dtype, device=z.device)
    return (-0.5 * ((z - mu) * torch.exp(-log_sigma)) ** 2 - log_sigma - 0.5 * math.log(2 * math.pi)).sum(-1)


def kl_standard_normal(mu: Tensor, log_sigma: Tensor) -> Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_i (μ_i² + σ_i² − 1 − 2 log σ_i), shape (B,)."""
    return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 1 - 2 * log_sigma).sum(-1)
