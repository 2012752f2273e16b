"""Gaussian mixtures in d dimensions with exact densities: where the cost of a flow's trace and
the fit of every model can be measured against the truth above two dimensions.

gmmD (D = 8, 16): p(x) = (1/K) Σ_k N(x; μ_k, σ²I) with K = 8 components, σ = 0.5 and means
μ_k ~ N(0, 2²I) drawn once from Generator().manual_seed(1000 + D). The entropy H = −E log p(x)
has no closed form: `monte_carlo_entropy(D, 10**6)` (seed 2000 + D) gives the values stored in
ENTROPIES with their standard errors, so KL = NLL − H carries that error too (a test re-checks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from dgm.data.base import DataSource
from dgm.data.toy import SPLIT_SIZES
from dgm.errors import DgmError
from dgm.registry import DATASETS

COMPONENTS, STD, SPREAD = 8, 0.5, 2.0
DIMENSIONS = (8, 16)


def _means(d: int) -> Tensor:
    return SPREAD * torch.randn(
        COMPONENTS, d, generator=torch.Generator().manual_seed(1000 + d), dtype=torch.float64
    )


def _sample(means: Tensor, n: int, g: torch.Generator) -> Tensor:
    k = torch.randint(COMPONENTS, (n,), generator=g)
    return means[k] + STD * torch.randn(n, means.shape[1], generator=g, dtype=torch.float64)


def _log_density(means: Tensor, x: Tensor) -> Tensor:
    """log (1/K) Σ_k N(x; μ_k, σ²I), shape (N,)."""
    d = means.shape[1]
    sq = torch.cdist(x.double(), means.to(x.device)).pow(2)  # (N, K), on x's device
    log_normal = -0.5 * sq / STD**2 - d * math.log(STD) - 0.5 * d * math.log(2 * math.pi)
    return torch.logsumexp(log_normal, 1) - math.log(COMPONENTS)


def monte_carlo_entropy(d: int, n: int, seed: int | None = None) -> tuple[float, float]:
    """H = −E log p(x) estimated on n samples drawn from `seed` (default 2000 + d), and its
    standard error."""
    means, g = _means(d), torch.Generator().manual_seed(2000 + d if seed is None else seed)
    nll = -torch.cat(
        [_log_density(means, _sample(means, min(100_000, n - i), g)) for i in range(0, n, 100_000)]
    )
    return nll.mean().item(), nll.std().item() / math.sqrt(n)


#: monte_carlo_entropy(d, 10**6) for each dimension d, in nats.
ENTROPIES = {8: (7.885480, 0.002001), 16: (13.690692, 0.002829)}


@dataclass
class MixtureDataset(DataSource):
    """Fixed splits of a d-dimensional Gaussian mixture and its true density."""

    means: Tensor | None = None
    has_true_density: bool = True

    def log_prob(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.means.shape[1]:
            d = self.means.shape[1]
            raise DgmError(f"{self.name} log_prob expects points of shape (N, {d}), got {tuple(x.shape)}")
        return _log_density(self.means, x.detach().double())

    @property
    def entropy(self) -> tuple[float, float]:
        return ENTROPIES[self.means.shape[1]]


def make_mixture(d: int) -> MixtureDataset:
    means = _means(d)
    g = torch.Generator().manual_seed(d)
    splits = {split: _sample(means, n, g).float() for split, n in SPLIT_SIZES.items()}
    return MixtureDataset(name=f"gmm{d}", kind="points", splits=splits, means=means)


for _d in DIMENSIONS:
    DATASETS.add(
        f"gmm{_d}",
        lambda d=_d: make_mixture(d),
        f"{COMPONENTS} Gaussians (std {STD}) in {_d} dimensions, means ~ N(0, {SPREAD:g}²I): exact density",
    )
