"""Optimal-transport distances between two samples, each with uniform weights: the exact W_p (POT's
network simplex), the sliced W_p (sorting along random directions) and the debiased Sinkhorn divergence.

Empirical OT distances are biased upwards: W_p between two samples of one law falls towards 0 only
about as n^(−1/D) in D ≥ 3 dimensions (Fournier & Guillin, 2015). Compare values computed on the
same number of points only.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import Tensor


def wasserstein(x: Tensor, y: Tensor, p: float = 2) -> Tensor:
    """Return the exact W_p between the empirical measures of x (N, ...) and y (M, ...):

        W_p = (min_{π ∈ Π(a, b)} Σ_ij π_ij ‖x_i − y_j‖^p)^(1/p),  a = 1/N, b = 1/M,

    the p-th root taken (W_2, never W_2²). Solved by `ot.emd2` on the N × M cost matrix (float64),
    so memory and time grow as N·M: subsample first (a few thousand points at most)."""
    if p < 1:
        raise ValueError(f"W_p needs p ≥ 1, got {p}")
    x, y = x.reshape(x.shape[0], -1).double(), y.reshape(y.shape[0], -1).double()
    cost = torch.cdist(x, y).pow(p).numpy()
    a, b = np.full(x.shape[0], 1 / x.shape[0]), np.full(y.shape[0], 1 / y.shape[0])
    import ot  # POT (and scikit-learn under it) costs ~2 s to import: only when a W_p is asked for

    value, log = ot.emd2(a, b, cost, numItermax=100 * cost.size + 100_000, log=True)
    if log["result_code"] != 1:  # 1: optimal
        raise RuntimeError(f"ot.emd2 did not reach the optimum: {log['warning']}")
    return torch.tensor(float(value), dtype=torch.float64).clamp_min(0) ** (1 / p)


def sliced_wasserstein(
    x: Tensor, y: Tensor, projections: int = 200, p: float = 2, seed: int = 0, *, budget: int = 2**22
) -> Tensor:
    """Return the sliced W_p, SW_p = (E_θ W_p^p(θᵀx, θᵀy))^(1/p) over directions θ uniform on the
    sphere, the expectation a mean over `projections` directions drawn from `seed`. Each 1-D W_p^p is
    exact: ∫₀¹ |F⁻¹(t) − G⁻¹(t)|^p dt between the two empirical quantile functions, a sum over the
    pieces where both are constant (for N = M the sorted samples matched in order). Projections are
    processed `budget` // (N + M) at a time (memory O(budget)); float64 throughout.

    In 1-D (θ = ±1) SW_p is W_p. The directions do not depend on the samples, so the result does not
    depend on their order."""
    if p < 1:
        raise ValueError(f"SW_p needs p ≥ 1, got {p}")
    x, y = x.reshape(x.shape[0], -1).double(), y.reshape(y.shape[0], -1).double()
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"samples of dimension {x.shape[1]} and {y.shape[1]}")
    n, m = x.shape[0], y.shape[0]
    theta = torch.randn(x.shape[1], projections, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
    theta = theta / theta.norm(dim=0)
    # the pieces of [0, 1] where both quantile functions are constant: between consecutive i/N and j/M
    steps = [torch.arange(1, k + 1, dtype=torch.float64) / k for k in (n, m)]
    ends = torch.unique(torch.cat(steps))  # sorted
    starts = torch.cat([ends.new_zeros(1), ends[:-1]])
    width, mid = ends - starts, (ends + starts) / 2
    ix, iy = (mid * n).long().clamp_max(n - 1), (mid * m).long().clamp_max(m - 1)
    total = x.new_zeros(())
    step = max(1, budget // (n + m))
    for k in range(0, projections, step):
        px = (x @ theta[:, k : k + step]).sort(dim=0).values  # (N, P)
        py = (y @ theta[:, k : k + step]).sort(dim=0).values
        total += ((px[ix] - py[iy]).abs().pow(p) * width[:, None]).sum()
    return (total / projections) ** (1 / p)


def sinkhorn_divergence(
    x: Tensor, y: Tensor, reg: float = 0.05, *, tol: float = 1e-4, max_iter: int = 10_000
) -> Tensor:
    """Return the debiased Sinkhorn divergence (Genevay et al., 2018; Feydy et al., 2019)

        S_ε(x, y) = OT_ε(x, y) − ½ OT_ε(x, x) − ½ OT_ε(y, y),
        OT_ε(a, b) = min_π Σ_ij π_ij C_ij + ε KL(π ‖ a ⊗ b),  C_ij = ‖a_i − b_j‖²,

    with uniform weights, the entropic cost including its entropy term (with it S_ε ≥ 0, and S_ε = 0
    iff the two measures agree; POT's `sinkhorn2` returns only Σ π C, whose debiased combination has
    no such guarantee). ε = reg × the mean of the cross cost matrix C(x, y), one ε for all three
    terms: the blur √ε is then a fixed fraction of the samples' spread. Each OT_ε is solved to `tol`
    by `entropic_ot` rather than by POT: the same values as `ot.sinkhorn2(..., method="sinkhorn_log")`
    plus ε KL (the tests check it), but POT's alternating updates take thousands of iterations on the
    self terms OT_ε(x, x), which the averaged updates settle in tens. Each term is a dual lower bound
    within about tol × the cost scale of its value, so S_ε of two equal sets may come out at −1e-8 ×
    that scale rather than 0. Memory O(N·M): subsample first (≈ 1000 points at most).
    """
    x, y = x.reshape(x.shape[0], -1).double(), y.reshape(y.shape[0], -1).double()
    cxy = torch.cdist(x, y).square()
    eps = reg * cxy.mean().item()
    if not eps > 0:
        return x.new_zeros(())  # every cross distance is 0: x and y are one point
    oxy = entropic_ot(cxy, eps, tol=tol, max_iter=max_iter)
    oxx = entropic_ot(torch.cdist(x, x).square(), eps, symmetric=True, tol=tol, max_iter=max_iter)
    oyy = entropic_ot(torch.cdist(y, y).square(), eps, symmetric=True, tol=tol, max_iter=max_iter)
    return oxy - (oxx + oyy) / 2


def entropic_ot(
    cost: Tensor, eps: float, *, symmetric: bool = False, tol: float = 1e-4, max_iter: int = 10_000
) -> Tensor:
    """OT_ε = min_π ⟨π, C⟩ + ε KL(π ‖ a ⊗ b) for uniform a (N,), b (M,) and cost C (N, M), by
    log-domain Sinkhorn iterations on the dual potentials,

        f_i ← T(g)_i = −ε log Σ_j b_j exp((g_j − C_ij)/ε),   g_j ← −ε log Σ_i a_i exp((f_i − C_ij)/ε),

    until the plan π_ij = a_i b_j exp((f_i + g_j − C_ij)/ε) misplaces at most `tol` of its mass,
    Σ_i |Σ_j π_ij − a_i| ≤ tol (its columns are exact after each g-update); the result is the dual
    objective ⟨a, f⟩ + ⟨b, g⟩ − ε(Σ_ij π_ij − 1) ≤ OT_ε, equal to it at the fixed point. For a
    symmetric C (a sample against itself) f = g, and the averaged update f ← ½(f + T(f)) (Feydy et
    al., 2019) converges where the alternating one oscillates. Warns when max_iter is reached."""
    c = cost.double()
    n, m = c.shape
    log_a = torch.full((n, 1), -math.log(n), dtype=c.dtype)
    log_b = torch.full((1, m), -math.log(m), dtype=c.dtype)
    a = log_a.exp().flatten()

    def t_row(g: Tensor) -> Tensor:
        return -eps * torch.logsumexp(log_b + (g[None, :] - c) / eps, dim=1)

    f = t_row(c.new_zeros(m))
    for _ in range(max_iter):
        g = f if symmetric else -eps * torch.logsumexp(log_a + (f[:, None] - c) / eps, dim=0)
        f_next = t_row(g)
        rows = a * torch.exp((f - f_next) / eps)  # the plan's row sums
        if (rows - a).abs().sum() <= tol:
            break
        f = (f + f_next) / 2 if symmetric else f_next
    else:
        warnings.warn(f"Sinkhorn did not converge in {max_iter} iterations (ε = {eps:.3g})", stacklevel=2)
    return a @ f + g.mean() - eps * (rows.sum() - 1)
