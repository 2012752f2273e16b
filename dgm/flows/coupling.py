"""Coupling layers (NICE, RealNVP, spline couplings, Glow): part of x conditions the rest.

Split x = (x_A, x_B) along the feature (channel) axis; y_A = x_A and y_B = g(x_B; θ(x_A, c))
with g elementwise and monotone, so log|det ∂y/∂x| = Σ_{i∈B} log|g'(x_i)|: only the transformed
coordinates count (the seed code's RealNVP summed over all coordinates; `tests/flows` checks every
layer against autograd). Vectors use an MLP conditioner; images (C, H, W) a small conv net, with
the channels split in two (Glow).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dgm.bijection import Bijection
from dgm.flows.elementwise import Elementwise
from dgm.nn import MLP, ConvNet


class Coupling(Bijection):
    """Creates a coupling layer on vectors (D,) or images (C, H, W), split along the first axis.

    Args:
        event_shape: (D,) for vectors or (C, H, W) for images; D or C must be at least 2.
        transform: the elementwise map g applied to the transformed part.
        parity: 0 transforms the second part, 1 the first (alternate between layers).
        hidden: conditioner hidden sizes (MLP layers, or the conv net's channels: one value).
        context_features: size (channels) of the context c, concatenated to the conditioner
            input: a vector (B, K) is broadcast over the pixels of an image; an image context
            (B, K, H, W) of the layer's spatial size is used pixel by pixel.

    References: Dinh et al., NICE (2015); Dinh et al., Density estimation using Real NVP (2017);
    Kingma & Dhariwal, Glow (2018).
    """

    def __init__(
        self,
        event_shape: tuple[int, ...] | int,
        transform: Elementwise,
        *,
        parity: int = 0,
        hidden: tuple[int, ...] = (64, 64),
        context_features: int = 0,
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        shape = (event_shape,) if isinstance(event_shape, int) else tuple(event_shape)
        features, self.spatial = shape[0], shape[1:]
        if features < 2:
            raise ValueError("a coupling layer needs at least 2 features (channels)")
        half = features // 2
        # Contiguous parts (split/cat) are cheaper than index gathers; parity picks which moves.
        self.sizes = (half, features - half)
        self.parity = parity
        n_cond, self.n_trans = self.sizes if parity == 0 else self.sizes[::-1]
        self.transform = transform
        n_in, n_out = n_cond + context_features, self.n_trans * transform.params
        if self.spatial:
            self.conditioner = ConvNet(n_in, n_out, hidden[0], activation=activation)
        else:
            self.conditioner = MLP(n_in, n_out, hidden, activation=activation, zero_last=True)

    def _couple(self, x: Tensor, c: Tensor | None, inverse: bool) -> tuple[Tensor, Tensor]:
        first, second = x.split(self.sizes, dim=1)
        x_cond, x_trans = (first, second) if self.parity == 0 else (second, first)
        h = x_cond
        if c is not None:
            if c.dim() == 2 and self.spatial:  # a vector context is broadcast over the pixels
                c = c.reshape(*c.shape, *[1] * len(self.spatial)).expand(-1, -1, *self.spatial)
            h = torch.cat([x_cond, c], 1)
        theta = self.conditioner(h).reshape(x.shape[0], self.n_trans, self.transform.params, *self.spatial)
        g = self.transform.inverse if inverse else self.transform.forward
        y_trans, ladj = g(x_trans, theta.movedim(2, -1))
        y = torch.cat([x_cond, y_trans] if self.parity == 0 else [y_trans, x_cond], dim=1)
        return y, ladj.reshape(x.shape[0], -1).sum(1)

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._couple(x, c, inverse=False)

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._couple(y, c, inverse=True)
