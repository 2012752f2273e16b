"""Elementwise (univariate) monotone transforms y_i = g(x_i; θ_i), shared by coupling and
autoregressive flows: the structure decides where θ comes from, these decide what g is.

Each has `params` (the number of values θ_i per dimension) and `forward(x, θ)` / `inverse(y, θ)`
returning the output and the elementwise log|dg/dx|, both of shape (B, D); θ has shape (B, D, params).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor


class Elementwise(ABC):
    """A family of monotone scalar maps g(·; θ), applied independently to every coordinate."""

    params: int

    @abstractmethod
    def forward(self, x: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
        """Return y = g(x; θ) and log|∂g/∂x|, both (B, D)."""

    @abstractmethod
    def inverse(self, y: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
        """Return x = g⁻¹(y; θ) and log|∂g⁻¹/∂y|, both (B, D)."""


class Affine(Elementwise):
    """g(x) = x·exp(s) + t with a bounded log-scale s = b·tanh(ŝ/b) (RealNVP; bounded for stability).

    θ = (ŝ, t); log|g'| = s. At θ = 0, g is the identity.
    """

    params = 2

    def __init__(self, scale_bound: float = 3.0) -> None:
        self.scale_bound = scale_bound

    def _scale_shift(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        b = self.scale_bound
        return b * (theta[..., 0] / b).tanh(), theta[..., 1]

    def forward(self, x: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self._scale_shift(theta)
        return x * s.exp() + t, s

    def inverse(self, y: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self._scale_shift(theta)
        return (y - t) * (-s).exp(), -s


class Additive(Elementwise):
    """g(x) = x + t (NICE): volume preserving, log|g'| = 0."""

    params = 1

    def forward(self, x: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
        return x + theta[..., 0], x.new_zeros(x.shape)

    def inverse(self, y: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
        return y - theta[..., 0], y.new_zeros(y.shape)
