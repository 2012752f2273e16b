"""Masked autoregressive transforms (MAF) and their inverse (IAF).

z_i = g(x_i; θ_i(x_{<i}, c)) with θ from a MADE: the Jacobian is triangular, so
log|det ∂z/∂x| = Σ_i log|g'(x_i)|. Density evaluation (x → z) is one parallel pass; the inverse
(z → x, i.e. sampling) is D sequential passes. IAF = Inverse(MAF layer) swaps the two costs.
"""

from __future__ import annotations

from torch import Tensor, nn

from dgm.bijection import Bijection
from dgm.flows.elementwise import Elementwise
from dgm.nn import MADE


class MaskedAutoregressive(Bijection):
    """Creates a masked autoregressive layer z = g(x; θ(x_{<i}, c)) (MAF direction: fast density).

    Args:
        features: D.
        transform: the elementwise map g (Affine gives MAF, RQSpline gives autoregressive NSF).
        hidden: MADE hidden sizes.
        context_features: size of the context c fed to every MADE layer.

    References: Papamakarios, Pavlakou & Murray, Masked Autoregressive Flow for Density Estimation (2017).
    """

    def __init__(
        self,
        features: int,
        transform: Elementwise,
        *,
        hidden: tuple[int, ...] = (64, 64),
        context_features: int = 0,
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.transform = transform
        self.made = MADE(
            features, transform.params, hidden, context_features=context_features, activation=activation
        )

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z, ladj = self.transform.forward(x, self.made(x, c))
        return z, ladj.sum(1)

    def inverse(self, z: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        # x_i depends on x_{<i} only, so after pass i the first i+1 coordinates are exact.
        x = z.new_zeros(z.shape)
        for _ in range(z.shape[1]):
            x, ladj = self.transform.inverse(z, self.made(x, c))
        return x, ladj.sum(1)
