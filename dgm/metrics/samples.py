"""Sample-based distances: they need no density, so they compare every family, GANs included."""

from __future__ import annotations

import torch
from torch import Tensor


def energy_distance(x: Tensor, y: Tensor, *, paired: bool = False, block: int = 2048) -> Tensor:
    """Return the squared energy distance (Székely & Rizzo, 2004) between samples x and y.

    E(X, Y) = 2 E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖ ≥ 0, zero iff the distributions agree.
    Within-sample means exclude the diagonal (U-statistics), so E ≈ 0 for two samples of one law.
    The sums of distances are accumulated over blocks of block × block pairs, so memory stays
    O(block²) however many samples there are.

    Args:
        x: samples, shape (N, ...); flattened per sample.
        y: samples, shape (M, ...).
        paired: x_i was drawn given something of y_i (a conditional model's sample for y_i's label),
            so x_i and y_i are not independent (N = M). The cross mean then leaves out these N pairs:
            over the others x and y are independent, and the estimate stays unbiased (with the
            pairs in, a perfect conditional model scores below 0).
        block: rows of x or y per block.
    """
    x, y = two_samples(x, y, paired, "energy_distance")
    n, m = x.shape[0], y.shape[0]
    if paired:
        xy = (_distance_sum(x, y, block) - (x - y).norm(dim=1).sum()) / (n * (m - 1))
    else:
        xy = _distance_sum(x, y, block) / (n * m)
    xx = _distance_sum(x, x, block) / (n * (n - 1))
    yy = _distance_sum(y, y, block) / (m * (m - 1))
    return 2 * xy - xx - yy


def two_samples(x: Tensor, y: Tensor, paired: bool, what: str) -> tuple[Tensor, Tensor]:
    """x (N, ...) and y (M, ...) flattened per sample, in float64, for a U-statistic `what`: at
    least two samples on each side, and N = M when they are paired."""
    x, y = x.reshape(x.shape[0], -1).double(), y.reshape(y.shape[0], -1).double()
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(f"{what} needs at least two samples on each side")
    if paired and x.shape[0] != y.shape[0]:
        raise ValueError(f"paired samples need as many x as y, got {x.shape[0]} and {y.shape[0]}")
    return x, y


def _distance_sum(a: Tensor, b: Tensor, block: int = 2048) -> Tensor:
    """Σ_ij ‖a_i − b_j‖ over all pairs of rows, one block of block × block pairs at a time.

    For b = a the sum is symmetric: blocks below the diagonal are the transposes of those above,
    so only the upper ones are computed (off-diagonal blocks counted twice).
    """
    same = a is b
    total = a.new_zeros(())
    for i in range(0, a.shape[0], block):
        for j in range(i if same else 0, b.shape[0], block):
            part = torch.cdist(a[i : i + block], b[j : j + block]).sum()
            total += 2 * part if same and j != i else part
    return total


def seed_energy_statistic(x: Tensor, y: Tensor, eps: float = 0.1) -> Tensor:
    """The seed paper's two-sample statistic (its `epsTest`, after Székely & Rizzo, 2004), exactly:

        T = nm/(n + m) · [2/(nm) Σ_ij c(x_i, y_j) − 1/n² Σ_ij c(x_i, x_j) − 1/m² Σ_ij c(y_i, y_j)] / (n + m)

    with smoothed distances c(a, b) = √(‖a − b‖² + ε) and every sum over all pairs, i = j included
    (V-statistics, so T > 0 even for two samples of one law). The seed computed it on 64 generated
    against 64 real images per step and logged its sum over 1,000 steps as "ProbDist"."""
    x, y = x.reshape(x.shape[0], -1).double(), y.reshape(y.shape[0], -1).double()
    n, m = x.shape[0], y.shape[0]

    def c(a: Tensor, b: Tensor) -> Tensor:
        return (torch.cdist(a, b).square() + eps).sqrt().sum()

    return n * m / (n + m) * (2 * c(x, y) / (n * m) - c(x, x) / n**2 - c(y, y) / m**2) / (n + m)
