"""Invertible preprocessing: the model sees y = T(x), and log p(x) = log p(y) + log|det ∂T/∂x|.

Each transform is a `Bijection` fitted to the training split, with its statistics stored as
buffers so that they travel with the model file.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dgm.bijection import Bijection


class Standardize(Bijection):
    """y = (x − μ) / σ per dimension; log|det ∂y/∂x| = −Σ_i log σ_i.

    Args:
        event_shape: shape of one sample.
        min_std: floor on σ, so that a (near-)constant feature does not divide by zero. Points with a
            constant column have no density at all and are refused when read (`dgm.data.files`).
    """

    def __init__(self, event_shape: tuple[int, ...], *, min_std: float = 1e-3) -> None:
        super().__init__()
        self.min_std = min_std
        self.register_buffer("mean", torch.zeros(event_shape))
        self.register_buffer("std", torch.ones(event_shape))

    def fit(self, x: Tensor) -> Standardize:
        """Set μ and σ to the per-dimension mean and standard deviation of x, shape (N, *event)."""
        self.mean.copy_(x.mean(0))
        std = x.std(0) if len(x) > 1 else torch.ones_like(self.std)  # one sample has no spread
        self.std.copy_(std.clamp_min(self.min_std))
        return self

    def _ladj(self, x: Tensor) -> Tensor:
        return (-self.std.log().sum()).expand(x.shape[0]).to(x.dtype)

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return (x - self.mean) / self.std, self._ladj(x)

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return y * self.std + self.mean, -self._ladj(y)


class Identity(Bijection):
    """y = x, log|det| = 0."""

    def fit(self, x: Tensor) -> Identity:
        return self

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return x, x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return y, y.new_zeros(y.shape[0])


class Logit(Bijection):
    """y = logit(α + (1 − 2α) x) for x in [0, 1]; log|dy/dx| = Σ_i [log(1 − 2α) − log s_i − log(1 − s_i)]
    with s = α + (1 − 2α) x. Maps dequantised images to ℝ^D; α keeps the ends finite.

    References: Dinh et al., Real NVP (2017), section 4.1.
    """

    def __init__(self, event_shape: tuple[int, ...], *, alpha: float = 1e-6) -> None:
        super().__init__()
        self.alpha = alpha

    def fit(self, x: Tensor) -> Logit:
        return self

    def _ladj(self, s: Tensor) -> Tensor:
        per_dim = math.log(1 - 2 * self.alpha) - s.log() - (-s).log1p()
        return per_dim.reshape(s.shape[0], -1).sum(1)

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s = self.alpha + (1 - 2 * self.alpha) * x
        return s.log() - (-s).log1p(), self._ladj(s)

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s = torch.sigmoid(y)
        return (s - self.alpha) / (1 - 2 * self.alpha), -self._ladj(s)


PREPROCESSING = {"standardize": Standardize, "logit": Logit, "none": Identity}


def make_preprocessing(name: str, event_shape: tuple[int, ...]) -> Bijection:
    """Return an unfitted preprocessing transform by name ("standardize", "logit" or "none")."""
    from dgm.errors import DgmError

    if name not in PREPROCESSING:
        raise DgmError(f"unknown preprocessing {name!r} (choose from {', '.join(PREPROCESSING)})")
    cls = PREPROCESSING[name]
    return cls() if cls is Identity else cls(event_shape)
