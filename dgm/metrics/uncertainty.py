"""Standard errors of two-sample statistics from disjoint subsets, and seeded orders that depend on
the samples' content only (so a seeded subsample or split does not change when the input is permuted).

The rule every sample metric of `dgm.metrics.evaluate` follows: split the two samples into R disjoint
seeded subsets (subset r holds rows r, R + r, 2R + r, … of a seeded order), compute the statistic on
each, and report the standard deviation of the R values over √R. For a statistic whose variance falls
as 1/n (a mean, a non-degenerate U-statistic, an empirical OT cost) the variance on n/R points is R
times that on n, so std/√R estimates the standard error of the statistic on all n points as well as
that of the subset mean. Caveats, stated where a metric reports the SE: with R = 5 it is itself rough
(4 degrees of freedom); it is conservative for a degenerate U-statistic (MMD² of two samples of one
law, whose SD falls as 1/n: too large by about √R); and it describes sampling variability only, not
the bias of an estimate that depends on n (empirical Wasserstein distances, PRDC's k-NN radii).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

#: disjoint seeded subsets behind the standard errors of the sample metrics
SUBSETS = 5

#: the fixed seed of the projection that orders rows by content (not the user's seed)
_ORDER_SEED = 20200612


def content_order(*xs: Tensor) -> Tensor:
    """A permutation of rows 0..N−1 that depends only on the rows' values, not on their positions:
    the stable argsort of θᵀ·row for a fixed Gaussian θ. With several tensors (paired samples, one row
    each per index) the keys add, so pairs are ordered as units. Distinct rows get distinct keys
    almost surely; identical rows tie, and they are interchangeable."""
    n = xs[0].shape[0]
    g = torch.Generator().manual_seed(_ORDER_SEED)
    key = torch.zeros(n, dtype=torch.float64)
    for x in xs:
        if x.shape[0] != n:
            raise ValueError(f"paired tensors need as many rows, got {n} and {x.shape[0]}")
        flat = x.reshape(n, -1).double()
        key += flat @ torch.randn(flat.shape[1], generator=g, dtype=torch.float64)
    return torch.sort(key, stable=True).indices


def seeded_order(*xs: Tensor, seed: int) -> Tensor:
    """A uniformly random permutation (drawn from `seed`) of the rows in `content_order`: its first m
    entries are a seeded subsample without replacement, the same set whatever order the rows come in."""
    order = content_order(*xs)
    return order[torch.randperm(len(order), generator=torch.Generator().manual_seed(seed))]


def two_sample_orders(x: Tensor, y: Tensor, *, seed: int, paired: bool = False) -> tuple[Tensor, Tensor]:
    """`seeded_order`s of x's rows and of y's (seed + 1); `paired` rows (x_i drawn given something of
    y_i, as many of each) share one order, so that each pair stays together."""
    if not paired:
        return seeded_order(x, seed=seed), seeded_order(y, seed=seed + 1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"paired samples need as many x as y, got {x.shape[0]} and {y.shape[0]}")
    order = seeded_order(x, y, seed=seed)
    return order, order


def subset_values(
    statistic: Callable[[Tensor, Tensor], float | Sequence[float] | Tensor],
    x: Tensor,
    y: Tensor,
    *,
    subsets: int = 5,
    seed: int = 0,
    paired: bool = False,
) -> Tensor:
    """statistic(x_r, y_r) on R = `subsets` disjoint subsets, shape (R,) or (R, K) for K values.

    x's rows are put in `seeded_order` and dealt into R subsets of ⌊N/R⌋ rows (the remainder is left
    out), y's likewise with its own order (seed + 1); `paired` rows (x_i drawn given something of y_i)
    share one order, so every pair stays in one subset.
    """
    ox, oy = two_sample_orders(x, y, seed=seed, paired=paired)
    nx, ny = x.shape[0] // subsets, y.shape[0] // subsets
    if nx < 1 or ny < 1:
        raise ValueError(f"{subsets} subsets need at least {subsets} rows on each side")
    values = [
        torch.as_tensor(
            statistic(x[ox[r : nx * subsets : subsets]], y[oy[r : ny * subsets : subsets]]),
            dtype=torch.float64,
        )
        for r in range(subsets)
    ]
    return torch.stack(values)


def subset_se(values: Tensor) -> Tensor:
    """The standard error std/√R of R subset values (R,) or (R, K), per column (see the module)."""
    return values.double().std(0) / math.sqrt(values.shape[0])
