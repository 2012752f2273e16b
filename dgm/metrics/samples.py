"""Sample-based distances: they need no density, so they compare every family, GANs included."""

from __future__ import annotations

import torch
from torch import Tensor


def energy_distance(x: Tensor, y: Tensor) -> Tensor:
    """Return the squared energy distance (Székely & Rizzo, 2004) between samples x and y.

    E(X, Y) = 2 E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖ ≥ 0, zero iff the distributions agree.
    Within-sample means exclude the diagonal (U-statistics), so E ≈ 0 for two samples of one law.

    Args:
        x: samples, shape (N, ...); flattened per sample.
        y: samples, shape (M, ...).
    """
    x, y = x.reshape(x.shape[0], -1).double(), y.reshape(y.shape[0], -1).double()
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError("energy_distance needs at least two samples on each side")
    xy = torch.cdist(x, y).mean()
    xx = torch.cdist(x, x).sum() / (n * (n - 1))
    yy = torch.cdist(y, y).sum() / (m * (m - 1))
    return 2 * xy - xx - yy
