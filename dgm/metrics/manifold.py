"""Precision, recall, density and coverage of samples against real data, from k-nearest-neighbour
balls (Naeem et al., "Reliable Fidelity and Diversity Metrics for Generative Models", ICML 2020;
precision and recall after Kynkäänniemi et al., 2019).

With r_k(a) the distance from a point to its k-th nearest neighbour in its own sample (itself
excluded) and B(a, r) the open ball, for real points X_1..X_N and fake points Y_1..Y_M:

    precision = (1/M) Σ_j 1[∃ i: Y_j ∈ B(X_i, r_k(X_i))]       (fakes on the real manifold)
    recall    = (1/N) Σ_i 1[∃ j: X_i ∈ B(Y_j, r_k(Y_j))]       (reals on the fake manifold)
    density   = (1/(kM)) Σ_j Σ_i 1[Y_j ∈ B(X_i, r_k(X_i))]     (≈ 1 when the laws agree)
    coverage  = (1/N) Σ_i 1[min_j ‖X_i − Y_j‖ < r_k(X_i)]       (real balls that hold a fake)

Strict inequalities, as in the authors' code (clovaai/generative-evaluation-prdc): the radius is the
(k+1)-th smallest distance to the own sample, the point itself being the first (so a duplicate of a
point counts as one of its neighbours). The radii shrink as N grows: compare values at one N and k.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class PRDC(NamedTuple):
    precision: float
    recall: float
    density: float
    coverage: float


def prdc(
    real: Tensor, fake: Tensor, k: int = 5, *, block: int = 2048, dtype: torch.dtype = torch.float64
) -> PRDC:
    """Return precision, recall, density and coverage (see the module) of `fake` (M, ...) against
    `real` (N, ...), both flattened per sample. Distances are computed `block` × `block` at a time in
    `dtype` (memory O(block²)); float32 halves the time of high-dimensional data and moves a count only
    where a distance lies within float32 rounding of a radius."""
    x, y = real.reshape(real.shape[0], -1).to(dtype), fake.reshape(fake.shape[0], -1).to(dtype)
    n, m = x.shape[0], y.shape[0]
    if min(n, m) <= k:
        raise ValueError(f"PRDC with k = {k} needs more than {k} points on each side, got {n} and {m}")
    real_r, fake_r = kth_neighbour_distance(x, k, block), kth_neighbour_distance(y, k, block)
    inside = torch.zeros(m, dtype=torch.long)  # per fake: number of real balls holding it
    recalled = torch.zeros(n, dtype=torch.bool)  # per real: inside some fake ball
    nearest = torch.full((n,), torch.inf, dtype=dtype)  # per real: distance to the nearest fake
    for j in range(0, m, block):
        for i in range(0, n, block):
            d = torch.cdist(y[j : j + block], x[i : i + block])  # (fake block, real block)
            inside[j : j + block] += (d < real_r[i : i + block]).sum(1)
            recalled[i : i + block] |= (d < fake_r[j : j + block, None]).any(0)
            nearest[i : i + block] = torch.minimum(nearest[i : i + block], d.min(0).values)
    return PRDC(
        precision=(inside > 0).double().mean().item(),
        recall=recalled.double().mean().item(),
        density=inside.double().mean().item() / k,
        coverage=(nearest < real_r).double().mean().item(),
    )


def kth_neighbour_distance(x: Tensor, k: int, block: int = 2048) -> Tensor:
    """The distance from each row of x (N, D) to its k-th nearest other row, (N,): the (k+1)-th
    smallest distance to all rows, the row itself (distance 0) included. Blocks of block × block
    distances; each is computed once and serves both its rows and its columns."""
    n = x.shape[0]
    best = torch.full((n, k + 1), torch.inf, dtype=x.dtype)  # the k+1 smallest so far, per row
    for i in range(0, n, block):
        for j in range(i, n, block):
            d = torch.cdist(x[i : i + block], x[j : j + block])
            if j == i:
                d.fill_diagonal_(0)  # exactly, where the matrix-product formula leaves rounding
            best[i : i + block] = torch.cat([best[i : i + block], d], 1).topk(k + 1, 1, largest=False).values
            if j != i:
                best[j : j + block] = (
                    torch.cat([best[j : j + block], d.T], 1).topk(k + 1, 1, largest=False).values
                )
    return best[:, k]
