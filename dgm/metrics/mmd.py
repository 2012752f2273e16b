"""Maximum mean discrepancy with a sum of Gaussian (RBF) kernels (Gretton et al., JMLR 2012)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from dgm.metrics.samples import two_samples
from dgm.metrics.uncertainty import seeded_order

#: multiples of the median distance used as bandwidths by default
SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def mmd2(
    x: Tensor,
    y: Tensor,
    bandwidths: Sequence[float] | Tensor | None = None,
    *,
    paired: bool = False,
    block: int = 2048,
) -> Tensor:
    """Return the unbiased estimate (a U-statistic) of the squared MMD between samples x and y:

        MMD²_u = Σ_{i≠i'} k(x_i, x_i')/(n(n−1)) + Σ_{j≠j'} k(y_j, y_j')/(m(m−1)) − 2 Σ_ij k(x_i, y_j)/(nm)

    with the kernel k(a, b) = Σ_h exp(−‖a − b‖²/(2h²)) summed over the bandwidths h. MMD² ≥ 0 is zero
    iff the laws agree (the kernel is characteristic); the estimate is unbiased, so it scatters around
    0 for two samples of one law and can be slightly negative. Computed in float64, block × block
    pairs at a time (memory O(block²)).

    Args:
        x: samples, shape (N, ...); flattened per sample.
        y: samples, shape (M, ...).
        bandwidths: the h; None: `median_bandwidths(x, y)`, the pooled median distance × SCALES.
        paired: x_i was drawn given something of y_i (N = M): the cross mean leaves out the N pairs
            (i, i), as `energy_distance` does, and stays unbiased.
        block: rows per block.
    """
    x, y = two_samples(x, y, paired, "mmd2")
    n, m = x.shape[0], y.shape[0]
    h = median_bandwidths(x, y) if bandwidths is None else torch.as_tensor(bandwidths, dtype=torch.float64)
    gamma = 1 / (2 * h.reshape(-1) ** 2)
    xx = _kernel_sum(x, x, gamma, block) / (n * (n - 1))
    yy = _kernel_sum(y, y, gamma, block) / (m * (m - 1))
    if paired:
        diagonal = torch.exp(-(x - y).pow(2).sum(1, keepdim=True) * gamma).sum()
        xy = (_kernel_sum(x, y, gamma, block) - diagonal) / (n * (m - 1))
    else:
        xy = _kernel_sum(x, y, gamma, block) / (n * m)
    return xx + yy - 2 * xy


def median_bandwidths(
    *samples: Tensor, scales: Sequence[float] = SCALES, max_points: int = 1000, seed: int = 0
) -> Tensor:
    """The median heuristic: the (lower) median of the pairwise distances ‖a − b‖, a ≠ b, of the
    pooled samples times each of `scales`, shape (len(scales),). Above `max_points` pooled points the
    median is taken on a seeded subsample of that many (the same subset whatever the samples' order)."""
    pooled = torch.cat([s.reshape(s.shape[0], -1).double() for s in samples])
    if pooled.shape[0] > max_points:
        pooled = pooled[seeded_order(pooled, seed=seed)[:max_points]]
    if pooled.shape[0] < 2:
        raise ValueError("the median distance needs at least two points")
    median = torch.pdist(pooled).median()
    return median * torch.as_tensor(scales, dtype=torch.float64)


def _kernel_sum(a: Tensor, b: Tensor, gamma: Tensor, block: int) -> Tensor:
    """Σ_ij Σ_h exp(−γ_h ‖a_i − b_j‖²) over all pairs, i ≠ j when b is a (the diagonal left out);
    for b = a only blocks on and above the diagonal are computed (those above counted twice)."""
    same = a is b
    total = a.new_zeros(())
    for i in range(0, a.shape[0], block):
        for j in range(i if same else 0, b.shape[0], block):
            d2 = torch.cdist(a[i : i + block], b[j : j + block]).square()
            k = sum(torch.exp(-g * d2) for g in gamma)
            if same and i == j:
                k.fill_diagonal_(0)
            total += 2 * k.sum() if same and j != i else k.sum()
    return total
