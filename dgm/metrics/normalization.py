"""Does a 2-D model's density integrate to one? A grid check every density must pass."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


@torch.no_grad()
def grid_mass(
    log_prob: Callable[[Tensor], Tensor], extent: tuple[float, float, float, float], n: int = 400
) -> float:
    """Return ∫∫ p(x) dx over the box extent = (x0, x1, y0, y1) by the midpoint rule on n × n cells.

    For a normalised density whose mass lies in the box this is 1 up to O(h²) discretisation error.
    """
    x0, x1, y0, y1 = extent
    hx, hy = (x1 - x0) / n, (y1 - y0) / n
    xs = torch.linspace(x0 + hx / 2, x1 - hx / 2, n, dtype=torch.float64)
    ys = torch.linspace(y0 + hy / 2, y1 - hy / 2, n, dtype=torch.float64)
    pts = torch.cartesian_prod(xs, ys)
    total = sum(log_prob(chunk).double().exp().sum().item() for chunk in pts.split(40_000))
    return total * hx * hy


def padded_extent(x: Tensor, pad: float = 0.5) -> tuple[float, float, float, float]:
    """The data's bounding box widened by `pad` times its size on each side."""
    lo, hi = x.double().min(0).values, x.double().max(0).values
    lo, hi = lo - pad * (hi - lo), hi + pad * (hi - lo)
    return lo[0].item(), hi[0].item(), lo[1].item(), hi[1].item()
