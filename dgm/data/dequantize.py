"""Dequantisation of discrete data and the bits-per-dimension it makes meaningful.

A continuous density p fitted to x̃ = (k + u)/L, k ∈ {0, …, L−1} the pixel level and u ~ U[0, 1)^D,
bounds the discrete likelihood (Theis, van den Oord & Bethge, 2016):

    log P(k) = log ∫_{cell(k)} p(x̃) dx̃ ≥ E_u[log p(x̃)] − D log L,

so bits/dim = (E[−log p(x̃)]/D + log L)/ln 2 is an upper bound on the discrete model's code length.
A model of binary data (a Bernoulli decoder) instead sees grey values binarised, b ~ Bern(x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from dgm.models.base import GenerativeModel


def dequantize(x: Tensor, levels: int, generator: torch.Generator | None = None) -> Tensor:
    """Return x̃ = (k + u)/L for data x = k/(L−1) in [0, 1]; u ~ U[0, 1) per element.

    With a generator the noise is reproducible (evaluation); without it, it comes from torch's
    global random stream (training, so that a resumed run draws the same noise).
    """
    k = (x * (levels - 1)).round()
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device="cpu" if generator else x.device)
    return (k + u.to(x.device)) / levels


def binarize(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Return b ~ Bern(x) per element for grey values x in [0, 1] (dynamic binarisation).

    As for `dequantize`: a generator makes the draw reproducible (evaluation binarises its split
    once, with the run's seed); without one, a fresh draw comes from torch's global stream.
    """
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device="cpu" if generator else x.device)
    return (u.to(x.device) < x).to(x.dtype)


def split_generator(seed: int, split: str) -> torch.Generator:
    """The generator of a split's one seeded noise draw. The training split's (static
    binarisation, and evaluation's view of the training set) is a stream apart from the held-out
    splits', so that training image j and test image j do not share their uniforms."""
    return torch.Generator().manual_seed(-(seed + 1) if split == "train" else seed)


@dataclass(frozen=True)
class PipelineNoise:
    """What the data pipeline does to discrete data x = k/(L−1) before a model sees them:
    "dequantize" (x̃ = (k + u)/L) or "binarize" (b ~ Bern(x)). Called without a generator it
    draws afresh (every training batch); with one, reproducibly (validation and test splits)."""

    kind: str
    levels: int

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.kind == "binarize":
            return binarize(x, generator)
        return dequantize(x, self.levels, generator)

    def mean(self, x: Tensor) -> Tensor:
        """E[noise(x)]: x itself for binarisation (E[b] = x), the cell's centre (k + ½)/L for
        dequantisation; what a model that encodes each sample once without noise reads."""
        if self.kind == "binarize":
            return x
        return ((x * (self.levels - 1)).round() + 0.5) / self.levels


def pipeline_noise(levels: int | None, model: GenerativeModel) -> PipelineNoise | None:
    """The one rule for what reaches a model of discrete data (levels L; None: continuous data,
    which arrive as they are): a model of binary data gets them binarised; a model that takes
    discrete data itself (a discretised likelihood, variational dequantisation, `model.discrete`)
    gets them as they are; every other model gets them uniformly dequantised."""
    if levels is None:
        return None
    if model.binary:
        return PipelineNoise("binarize", levels)
    return None if model.discrete else PipelineNoise("dequantize", levels)


def bits_per_dim(nll: float, dim: int, levels: int) -> float:
    """bits/dim = (nll/D + log L)/ln 2 for nll = E[−log p(x̃)] in nats on dequantised data in [0, 1)^D."""
    return (nll / dim + math.log(levels)) / math.log(2)


def bits_per_dim_se(nll_se: float, dim: int) -> float:
    """The standard error of `bits_per_dim`, an affine map of the NLL: se(nll)/(D ln 2)."""
    return nll_se / (dim * math.log(2))
