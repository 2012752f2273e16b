"""Coupling layers (NICE, RealNVP, spline couplings): half the coordinates condition the other half.

Split x = (x_A, x_B); y_A = x_A and y_B = g(x_B; θ(x_A, c)) with g elementwise and monotone, so
log|det ∂y/∂x| = Σ_{i∈B} log|g'(x_i)|: only the transformed coordinates count (the seed code's
RealNVP summed over all coordinates; `tests/flows` checks every layer against autograd).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dgm.flows.base import Bijection
from dgm.flows.elementwise import Elementwise
from dgm.nn import MLP


class Coupling(Bijection):
    """Creates a coupling layer on vectors of `features` coordinates.

    Args:
        features: D.
        transform: the elementwise map g applied to the transformed half.
        parity: 0 transforms the second half, 1 the first half (alternate between layers).
        hidden: conditioner MLP hidden sizes.
        context_features: size of the context c, concatenated to the conditioner input.

    References: Dinh et al., NICE (2015); Dinh et al., Density estimation using Real NVP (2017).
    """

    def __init__(
        self,
        features: int,
        transform: Elementwise,
        *,
        parity: int = 0,
        hidden: tuple[int, ...] = (64, 64),
        context_features: int = 0,
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        if features < 2:
            raise ValueError("a coupling layer needs at least 2 features")
        half = features // 2
        # Contiguous halves (split/cat) are cheaper than index gathers; parity picks which moves.
        self.sizes = (half, features - half)
        self.parity = parity
        n_cond, n_trans = self.sizes if parity == 0 else self.sizes[::-1]
        self.transform = transform
        self.n_trans = n_trans
        self.conditioner = MLP(
            n_cond + context_features,
            n_trans * transform.params,
            hidden,
            activation=activation,
            zero_last=True,
        )

    def _couple(self, x: Tensor, c: Tensor | None, inverse: bool) -> tuple[Tensor, Tensor]:
        first, second = x.split(self.sizes, dim=1)
        x_cond, x_trans = (first, second) if self.parity == 0 else (second, first)
        h = x_cond if c is None else torch.cat([x_cond, c], dim=1)
        theta = self.conditioner(h).reshape(x.shape[0], self.n_trans, self.transform.params)
        g = self.transform.inverse if inverse else self.transform.forward
        y_trans, ladj = g(x_trans, theta)
        y = torch.cat([x_cond, y_trans] if self.parity == 0 else [y_trans, x_cond], dim=1)
        return y, ladj.sum(1)

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._couple(x, c, inverse=False)

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._couple(y, c, inverse=True)
