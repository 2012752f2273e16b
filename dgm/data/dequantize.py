"""Dequantisation of discrete data and the bits-per-dimension it makes meaningful.

A continuous density p fitted to x̃ = (k + u)/L, k ∈ {0, …, L−1} the pixel level and u ~ U[0, 1)^D,
bounds the discrete likelihood (Theis, van den Oord & Bethge, 2016):

    log P(k) = log ∫_{cell(k)} p(x̃) dx̃ ≥ E_u[log p(x̃)] − D log L,

so bits/dim = (E[−log p(x̃)]/D + log L)/ln 2 is an upper bound on the discrete model's code length.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def dequantize(x: Tensor, levels: int, generator: torch.Generator | None = None) -> Tensor:
    """Return x̃ = (k + u)/L for data x = k/(L−1) in [0, 1]; u ~ U[0, 1) per element.

    With a generator the noise is reproducible (evaluation); without it, it comes from torch's
    global random stream (training, so that a resumed run draws the same noise).
    """
    k = (x * (levels - 1)).round()
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device="cpu" if generator else x.device)
    return (k + u.to(x.device)) / levels


def pipeline_levels(levels: int | None, model_is_discrete: bool) -> int | None:
    """The one rule for who dequantises: the pipeline adds uniform noise (returns L) to discrete
    data, unless the model takes the discrete data itself (variational dequantisation,
    `model.discrete`); continuous data (levels None) get no noise."""
    return None if levels is None or model_is_discrete else levels


def bits_per_dim(nll: float, dim: int, levels: int) -> float:
    """bits/dim = (nll/D + log L)/ln 2 for nll = E[−log p(x̃)] in nats on dequantised data in [0, 1)^D."""
    return (nll / dim + math.log(levels)) / math.log(2)
