"""Variational dequantisation (Flow++): a learned noise density q(u | k) in place of U[0, 1)^D.

For discrete data k ∈ {0, …, L−1}^D and a continuous density p on [0, 1)^D,

    log P(k) = log ∫ p((k + u)/L) L^{−D} du ≥ E_{u∼q(·|k)}[log p((k + u)/L) − log q(u | k)] − D log L,

with equality when q(u | k) ∝ p((k + u)/L). Uniform dequantisation (`dgm.data.dequantize`) is the
special case q = 1; a learned q tightens the bound, so bits/dim fall. Here q is a conditional flow:
u = σ(z), z = f(ε; k), ε ∼ N(0, I), so that

    log q(u | k) = log N(ε; 0, I) − log|det ∂f/∂ε| − Σ_i log σ'(z_i),
    log σ'(z) = −softplus(z) − softplus(−z).

References: Ho et al., Flow++ (2019); Hoogeboom, Cohen & Tomczak, Learning Discrete Distributions
by Dequantization (2020).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

from dgm.bijection import Bijection, Compose, Inverse
from dgm.flows.coupling import Coupling
from dgm.flows.elementwise import Affine
from dgm.flows.image import Squeeze, squeezed
from dgm.flows.linear import InvertibleLinear
from dgm.models.base import GenerativeModel, Preprocessed


class VariationalDequantizer(nn.Module):
    """Creates q(u | k) for discrete data of shape (D,) or (C, H, W) with `levels` values each.

    The flow f alternates invertible linear maps and affine couplings whose conditioners see the
    data k (scaled to [−½, ½]); images are squeezed to (4C, H/2, W/2) first, so H and W must be even.

    Args:
        event_shape: shape of one sample (D ≥ 2 for vectors).
        levels: L, the number of discrete values per element.
        transforms: number of coupling layers in f.
        hidden: conditioner width (conv channels for images, MLP units for vectors).
    """

    def __init__(self, event_shape: tuple[int, ...], levels: int, *, transforms: int = 4, hidden: int = 32):
        super().__init__()
        if levels < 2:
            raise ValueError(f"discrete data need at least 2 levels, got {levels}")
        self.levels = levels
        self.image = len(event_shape) == 3
        shape = squeezed(event_shape) if self.image else tuple(event_shape)
        hidden_sizes = (hidden,) if self.image else (hidden, hidden)
        layers: list[Bijection] = [Squeeze()] if self.image else []
        for k in range(transforms):
            coupling = Coupling(shape, Affine(), parity=k % 2, hidden=hidden_sizes, context_features=shape[0])
            layers += [InvertibleLinear(shape, seed=k), coupling]
        self.flow = Compose(*layers, *([Inverse(Squeeze())] if self.image else []))

    def context(self, k: Tensor) -> Tensor:
        """What the conditioners see: k/(L−1) − ½, squeezed for images (the couplings' resolution)."""
        h = k / (self.levels - 1) - 0.5
        return Squeeze()(h)[0] if self.image else h

    def sample(self, k: Tensor) -> tuple[Tensor, Tensor]:
        """Draw u ∼ q(· | k) for integer-valued k (B, *event); return u ∈ (0, 1) and log q(u | k), (B,)."""
        eps = torch.randn_like(k)
        z, ladj = self.flow(eps, self.context(k))
        return torch.sigmoid(z), _log_q(eps, z, ladj)

    def log_prob(self, u: Tensor, k: Tensor) -> Tensor:
        """log q(u | k) for u ∈ (0, 1)^D, by inverting the flow: ε = f⁻¹(logit u; k)."""
        z = torch.logit(u)
        eps, ladj_inv = self.flow.inverse(z, self.context(k))
        return _log_q(eps, z, -ladj_inv)


def _log_q(eps: Tensor, z: Tensor, ladj: Tensor) -> Tensor:
    """log q(u) = log N(ε) − log|det ∂f/∂ε| − Σ log σ'(z) for z = f(ε), u = σ(z); ladj = log|det ∂f/∂ε|."""
    log_normal = -0.5 * (eps**2).flatten(1).sum(1) - 0.5 * math.log(2 * math.pi) * eps[0].numel()
    log_sigmoid_grad = -(softplus(z) + softplus(-z)).flatten(1).sum(1)
    return log_normal - ladj - log_sigmoid_grad


class VariationallyDequantized(Preprocessed):
    """A preprocessed density model of discrete data, dequantised by a learned q(u | k).

    Its density is a bound (`density == "bound"`). `elbo(x)` takes the discrete data themselves,
    x = k/(L−1) (so the pipeline does not add uniform noise first: `discrete` is True), and returns
    a one-sample estimate of the bound above, shifted to the continuous scale:
    log p((k + u)/L) − log q(u | k), u ∼ q(· | k). Its expectation is at most log(P(k) L^D), the
    log-density of the discrete model spread uniformly over each cell, so nats and bits/dim are
    computed exactly as for uniform dequantisation. p and q train jointly.
    """

    discrete = True
    density = "bound"
    importance_sampled = True

    def __init__(self, model: GenerativeModel, transform: Bijection, dequantizer: VariationalDequantizer):
        super().__init__(model, transform)
        self.density = "bound"
        self.dequantizer = dequantizer

    def _log_weight(self, x: Tensor, c: Tensor | None) -> Tensor:
        """log w = log p((k + u)/L) − log q(u | k) for one draw u ∼ q(· | k), shape (B,)."""
        levels = self.dequantizer.levels
        k = (x * (levels - 1)).round().clamp(0, levels - 1)
        u, log_q = self.dequantizer.sample(k)
        return super().log_prob((k + u) / levels, c) - log_q

    def elbo(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self._log_weight(x, c)

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return GenerativeModel.log_prob(self, x, c)  # the bound's error: there is no exact density

    def log_prob_importance(self, x: Tensor, c: Tensor | None = None, k: int = 100) -> Tensor:
        """Estimate log(P(k) L^D) by importance sampling with K draws from q (Burda et al., 2016):

            log (1/K) Σ_j exp(log w_j),  log w_j = log p((k + u_j)/L) − log q(u_j | k),

        a lower bound in expectation that tightens as K grows; shape (B,)."""
        log_w = torch.stack([self._log_weight(x, c) for _ in range(k)])  # (K, B)
        return torch.logsumexp(log_w, 0) - math.log(k)
