"""The bijection contract: y, ladj = f(x) and x, ladj_inv = f.inverse(y).

`ladj` is log|det ∂y/∂x| per sample, shape (B,). Preprocessing transforms (standardisation,
later logit and dequantisation) and flow layers share this contract, so that their
log-Jacobians enter `log_prob` the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn


class Bijection(nn.Module, ABC):
    """An invertible map with a tractable log-determinant of its Jacobian."""

    @abstractmethod
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return y = f(x) and log|det ∂f/∂x|, shape (B,)."""

    @abstractmethod
    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """Return x = f⁻¹(y) and log|det ∂f⁻¹/∂y| = −log|det ∂f/∂x| at x, shape (B,)."""


class Compose(Bijection):
    """f = f_K ∘ … ∘ f_1 with ladj = Σ_k ladj_k (the change of variables, layer by layer)."""

    def __init__(self, *bijections: Bijection) -> None:
        super().__init__()
        self.bijections = nn.ModuleList(bijections)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        ladj = x.new_zeros(x.shape[0])
        for f in self.bijections:
            x, ladj_k = f(x)
            ladj = ladj + ladj_k
        return x, ladj

    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        ladj = y.new_zeros(y.shape[0])
        for f in reversed(self.bijections):
            y, ladj_k = f.inverse(y)
            ladj = ladj + ladj_k
        return y, ladj
