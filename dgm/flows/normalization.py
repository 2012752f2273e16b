"""Normalisation layers as bijections: ActNorm (data-initialised affine) and batch normalisation."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dgm.bijection import Bijection


def _stat_shape(event_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Per-channel statistics that broadcast over (B, C, *spatial)."""
    return (1, event_shape[0], *([1] * (len(event_shape) - 1)))


def _reduce_dims(x: Tensor) -> list[int]:
    return [0, *range(2, x.dim())]


class ActNorm(Bijection):
    """y = (x − b) · exp(−log σ) per channel; log|det| = −spatial · Σ log σ.

    b and σ are set from the first training batch so that y has zero mean and unit variance per
    channel (data-dependent initialisation), then trained freely.

    References: Kingma & Dhariwal, Glow (2018).
    """

    def __init__(self, event_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.spatial = math.prod(event_shape[1:])
        self.bias = nn.Parameter(torch.zeros(_stat_shape(event_shape)))
        self.log_scale = nn.Parameter(torch.zeros(_stat_shape(event_shape)))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _initialize(self, x: Tensor) -> None:
        dims = _reduce_dims(x)
        self.bias.copy_(x.mean(dims, keepdim=True))
        self.log_scale.copy_(x.std(dims, keepdim=True).clamp_min(1e-6).log())
        self.initialized.fill_(True)

    def _ladj(self, x: Tensor) -> Tensor:
        return (-self.spatial * self.log_scale.sum()).expand(x.shape[0])

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self.training and not self.initialized and x.shape[0] > 1:
            self._initialize(x)
        return (x - self.bias) * (-self.log_scale).exp(), self._ladj(x)

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return y * self.log_scale.exp() + self.bias, -self._ladj(y)


class BatchNorm(Bijection):
    """y = (x − m) / √(v + ε) · exp(γ) + β with batch statistics (m, v) in training and running
    averages in evaluation; log|det| = spatial · Σ (γ − ½ log(v + ε)).

    In training the statistics depend on the batch, so the layer is a bijection per sample only in
    eval mode (where it is tested); the log-determinant treats (m, v) as constants, as is standard.

    References: Dinh et al., Real NVP (2017), section 3.7.
    """

    def __init__(self, event_shape: tuple[int, ...], momentum: float = 0.05, eps: float = 1e-5) -> None:
        super().__init__()
        self.spatial, self.momentum, self.eps = math.prod(event_shape[1:]), momentum, eps
        shape = _stat_shape(event_shape)
        self.log_gamma = nn.Parameter(torch.zeros(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        self.register_buffer("running_mean", torch.zeros(shape))
        self.register_buffer("running_var", torch.ones(shape))

    def _stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if not self.training:
            return self.running_mean, self.running_var
        dims = _reduce_dims(x)
        mean, var = x.mean(dims, keepdim=True), x.var(dims, keepdim=True, unbiased=False)
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
        return mean, var

    def _ladj(self, x: Tensor, var: Tensor) -> Tensor:
        return (self.spatial * (self.log_gamma - 0.5 * (var + self.eps).log()).sum()).expand(x.shape[0])

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        mean, var = self._stats(x)
        y = (x - mean) * (var + self.eps).rsqrt() * self.log_gamma.exp() + self.beta
        return y, self._ladj(x, var)

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        mean, var = self.running_mean, self.running_var  # sampling always uses the running averages
        x = (y - self.beta) * (-self.log_gamma).exp() * (var + self.eps).sqrt() + mean
        return x, -self._ladj(y, var)
