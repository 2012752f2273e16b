"""The bijection contract: y, ladj = f(x, c) and x, ladj_inv = f.inverse(y, c).

`ladj` is log|det ∂y/∂x| per sample, shape (B,); `c` is an optional context (e.g. a one-hot
label), shape (B, C), that conditions the map. Preprocessing transforms (standardisation, logit,
dequantisation) and flow layers share this contract, so their log-Jacobians enter `log_prob` the
same way. Flows map data to latent: a `Flow` evaluates log p(x) = log p_Z(f(x)) + log|det ∂f/∂x|.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn


class Bijection(nn.Module, ABC):
    """An invertible map with a tractable log-determinant of its Jacobian."""

    @abstractmethod
    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Return y = f(x; c) and log|det ∂f/∂x|, shape (B,)."""

    @abstractmethod
    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Return x = f⁻¹(y; c) and log|det ∂f⁻¹/∂y| = −log|det ∂f/∂x| at x, shape (B,)."""


class Compose(Bijection):
    """f = f_K ∘ … ∘ f_1 with ladj = Σ_k ladj_k (the change of variables, layer by layer)."""

    def __init__(self, *bijections: Bijection) -> None:
        super().__init__()
        self.bijections = nn.ModuleList(bijections)

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        ladj = x.new_zeros(x.shape[0])
        for f in self.bijections:
            x, ladj_k = f(x, c)
            ladj = ladj + ladj_k
        return x, ladj

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        ladj = y.new_zeros(y.shape[0])
        for f in reversed(self.bijections):
            y, ladj_k = f.inverse(y, c)
            ladj = ladj + ladj_k
        return y, ladj

    def trajectory(self, x: Tensor, c: Tensor | None = None) -> list[Tensor]:
        """The state after every layer, [x, f_1(x), f_2(f_1(x)), …], for plotting the flow."""
        states = [x]
        for f in self.bijections:
            states.append(f(states[-1], c)[0])
        return states


class Inverse(Bijection):
    """f⁻¹ as a bijection in its own right (e.g. IAF = Inverse(MAF layer))."""

    def __init__(self, bijection: Bijection) -> None:
        super().__init__()
        self.bijection = bijection

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.bijection.inverse(x, c)

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.bijection(y, c)
