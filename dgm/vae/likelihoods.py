"""Decoder likelihoods p(x | z): how a decoder's output h = decode(z) scores data.

Each likelihood reads `params` values per data element from h (shape (B, params·C, H, W) for
images, (B, params·D) for vectors), and returns log p(x | z) summed over the elements, shape (B,).

- `gaussian`: N(x; μ, σ²), σ learned per element (or fixed, `sigma` > 0); for continuous data.
- `bernoulli`: Bern(x; σ(ℓ)) on binary data; grey values are binarised by the data pipeline.
- `continuous-bernoulli`: the normalised density on [0, 1] (Loaiza-Ganem & Cunningham, 2019),
  what the binary cross-entropy of grey values becomes once it is a density.
- `logistic`: a logistic distribution discretised to the L grey levels k/(L−1) (Salimans et al.,
  2017), reported on the continuous scale log P(k) + D log L so that bits/dim compare with flows.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import ContinuousBernoulli as _CB
from torch.nn.functional import binary_cross_entropy_with_logits, logsigmoid

from dgm.distributions import log_normal


class Likelihood:
    """Base class: `params` values per element; what data it takes; log p(x | h), sample, mean."""

    #: values per data element the decoder produces.
    params: int = 1
    #: the data are discrete grey values k/(L−1), taken as they are (no dequantisation).
    discrete: bool = False
    #: the data are binary: the pipeline binarises grey values b ~ Bern(x) before they arrive.
    binary: bool = False
    #: the data must lie in [0, 1] (so they are not standardised or logit-transformed first).
    unit_interval: bool = False

    def split(self, h: Tensor) -> tuple[Tensor, ...]:
        """The decoder output h as `params` tensors shaped like the data."""
        return h.chunk(self.params, dim=1) if self.params > 1 else (h,)

    def log_prob(self, x: Tensor, h: Tensor) -> Tensor:
        """log p(x | z) summed over the elements of each sample, shape (B,)."""
        raise NotImplementedError

    def sample(self, h: Tensor) -> Tensor:
        """Draw x ~ p(x | z)."""
        raise NotImplementedError

    def mean(self, h: Tensor) -> Tensor:
        """E[x | z], the image a decoder 'draws' (reconstructions, latent maps)."""
        raise NotImplementedError


def _sum(t: Tensor) -> Tensor:
    return t.flatten(1).sum(1)


class Gaussian(Likelihood):
    """log N(x; μ, σ²) = −½ ((x − μ)/σ)² − log σ − ½ log 2π per element; σ = softplus(s) + σ_min, or
    the fixed `sigma`."""

    unit_interval = False

    def __init__(self, sigma: float = 0.0, min_sigma: float = 1e-3) -> None:
        self.sigma, self.min_sigma = sigma, min_sigma
        self.params = 1 if sigma > 0 else 2

    def _loc_scale(self, h: Tensor) -> tuple[Tensor, Tensor]:
        if self.sigma > 0:
            return h, torch.full_like(h, self.sigma)
        loc, s = self.split(h)
        return loc, torch.nn.functional.softplus(s) + self.min_sigma

    def log_prob(self, x: Tensor, h: Tensor) -> Tensor:
        loc, scale = self._loc_scale(h)
        return log_normal(x.flatten(1), loc.flatten(1), scale.log().flatten(1))

    def sample(self, h: Tensor) -> Tensor:
        loc, scale = self._loc_scale(h)
        return loc + scale * torch.randn_like(loc)

    def mean(self, h: Tensor) -> Tensor:
        return self._loc_scale(h)[0]


class Bernoulli(Likelihood):
    """log Bern(x; p) = x log p + (1 − x) log(1 − p), p = σ(ℓ), for x ∈ {0, 1}."""

    discrete = binary = unit_interval = True

    def log_prob(self, x: Tensor, h: Tensor) -> Tensor:
        return -_sum(binary_cross_entropy_with_logits(h, x, reduction="none"))

    def sample(self, h: Tensor) -> Tensor:
        return torch.bernoulli(torch.sigmoid(h))

    def mean(self, h: Tensor) -> Tensor:
        return torch.sigmoid(h)


class ContinuousBernoulli(Likelihood):
    """log CB(x; λ) = x log λ + (1 − x) log(1 − λ) + log C(λ), x ∈ [0, 1], λ = σ(ℓ), with the
    normaliser C(λ) = 2 artanh(1 − 2λ)/(1 − 2λ) (2 at λ = ½) that the binary cross-entropy lacks."""

    unit_interval = True

    def log_prob(self, x: Tensor, h: Tensor) -> Tensor:
        return _sum(_continuous_bernoulli(h).log_prob(x))

    def sample(self, h: Tensor) -> Tensor:
        return _continuous_bernoulli(h).sample()

    def mean(self, h: Tensor) -> Tensor:
        return _continuous_bernoulli(h).mean


def _continuous_bernoulli(logits: Tensor) -> _CB:
    # Validation checks the support on every call: our data are in [0, 1] by construction.
    return _CB(logits=logits, validate_args=False)


class DiscretizedLogistic(Likelihood):
    """P(k) = F(x + δ) − F(x − δ) for x = k/(L−1), δ = 1/(2(L−1)), F the logistic CDF with mean μ and
    scale s; the first and last levels take the tails (F(x + δ) and 1 − F(x − δ)).

    log_prob returns log P(k) + log L per element: the log-density of the discrete model spread
    uniformly over each level's cell of width 1/L, the scale on which flows of dequantised data
    report, so nats and bits/dim compare. With a = (x + δ − μ)/s, b = (x − δ − μ)/s,
    log(F(a) − F(b)) = log σ(a) + log σ(−b) + log(1 − e^{b−a}), stable since b < a.
    """

    params = 2
    discrete = unit_interval = True

    def __init__(self, levels: int, min_log_scale: float = -8.0) -> None:
        if levels < 2:
            raise ValueError(f"a discretised likelihood needs at least 2 levels, got {levels}")
        self.levels, self.min_log_scale = levels, min_log_scale

    def _loc_log_scale(self, h: Tensor) -> tuple[Tensor, Tensor]:
        loc, log_scale = self.split(h)
        return loc, log_scale.clamp_min(self.min_log_scale)

    def log_prob(self, x: Tensor, h: Tensor) -> Tensor:
        loc, log_scale = self._loc_log_scale(h)
        half = 0.5 / (self.levels - 1)
        inv_scale = torch.exp(-log_scale)
        a, b = (x + half - loc) * inv_scale, (x - half - loc) * inv_scale
        interior = logsigmoid(a) + logsigmoid(-b) + torch.log(-torch.expm1(b - a))
        first, last = x < half, x > 1 - half
        log_p = torch.where(first, logsigmoid(a), torch.where(last, logsigmoid(-b), interior))
        return _sum(log_p + math.log(self.levels))

    def sample(self, h: Tensor) -> Tensor:
        loc, log_scale = self._loc_log_scale(h)
        u = torch.rand_like(loc).clamp(1e-6, 1 - 1e-6)
        x = loc + log_scale.exp() * (u.log() - (-u).log1p())  # inverse logistic CDF
        return (x.clamp(0, 1) * (self.levels - 1)).round() / (self.levels - 1)

    def mean(self, h: Tensor) -> Tensor:
        """E[x] = Δ Σ_{k=1}^{L−1} P(x ≥ kΔ) = Δ Σ_k σ((μ − (k − ½)Δ)/s), Δ = 1/(L−1): the tail sum
        of a variable on the levels 0, Δ, …, 1 (accumulated level by level, in the input's memory)."""
        loc, log_scale = self._loc_log_scale(h)
        step, inv_scale = 1.0 / (self.levels - 1), torch.exp(-log_scale)
        total = torch.zeros_like(loc)
        for k in range(1, self.levels):
            total += torch.sigmoid((loc - (k - 0.5) * step) * inv_scale)
        return total * step


#: Names accepted by `VAE(likelihood=...)`.
LIKELIHOODS = ("gaussian", "bernoulli", "continuous-bernoulli", "logistic")


def make_likelihood(name: str, *, sigma: float = 0.0, levels: int = 256) -> Likelihood:
    """The likelihood called `name` (one of LIKELIHOODS)."""
    if name == "gaussian":
        return Gaussian(sigma)
    if name == "bernoulli":
        return Bernoulli()
    if name == "continuous-bernoulli":
        return ContinuousBernoulli()
    if name == "logistic":
        return DiscretizedLogistic(levels)
    raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {name!r}")
