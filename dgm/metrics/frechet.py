"""Distances between feature sets: the Fréchet distance (FID's formula), the kernel inception distance
(KID) and the Inception score, in float64 whatever the inputs' dtype.

These functions take features, shape (N, F), from any network: `dgm.metrics.features` ships
in-domain ones (MNIST, digits) that need no download. A number computed in dgm's features is not
comparable with one computed in Inception-v3's ("FID" in papers): name the feature space with it.

References:
    Heusel et al. (2017), GANs trained by a two time-scale update rule converge to a local Nash
    equilibrium (FID). Bińkowski et al. (2018), Demystifying MMD GANs (KID; the bias of FID).
    Salimans et al. (2016), Improved techniques for training GANs (Inception score).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dgm.metrics.uncertainty import content_order, seeded_order


def moments(f: Tensor) -> tuple[Tensor, Tensor]:
    """Return the mean μ (F,) and the unbiased covariance Σ (F, F) of features f (N, F), in float64."""
    f = f.reshape(f.shape[0], -1).double()
    if f.shape[0] < 2:
        raise ValueError("moments need at least two samples")
    mu = f.mean(0)
    d = f - mu
    return mu, d.T @ d / (f.shape[0] - 1)


def _psd_sqrt(s: Tensor) -> Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix (negative rounding in
    its eigenvalues clipped to 0)."""
    w, v = torch.linalg.eigh((s + s.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_from_moments(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """Return ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^{1/2}), the squared 2-Wasserstein distance between
    N(μ₁, Σ₁) and N(μ₂, Σ₂), in float64.

    tr (Σ₁Σ₂)^{1/2} = Σᵢ √λᵢ with λᵢ the eigenvalues of the symmetric PSD matrix Σ₁^{1/2} Σ₂ Σ₁^{1/2}
    (similar to Σ₁Σ₂, so it has the same spectrum): two symmetric eigendecompositions, no complex
    `sqrtm`, and no ε added to singular covariances. Rounding leaves eigenvalues of size ~1e-16 ‖Σ‖
    where the exact ones are 0 (rank-deficient Σ: fewer samples than features, dead ReLU units), and
    their square roots add up to ~1e-8 √‖Σ‖ each: the result is exact to about that, not to 1e-16.
    """
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    root1 = _psd_sqrt(sigma1)
    m = root1 @ sigma2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    return ((mu1 - mu2).pow(2).sum() + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt).item()


def frechet_distance(f1: Tensor, f2: Tensor) -> float:
    """Return the Fréchet distance between the Gaussians fitted to features f1 (N₁, F) and f2 (N₂, F):

        d² = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^{1/2}),

    FID's formula (Heusel et al., 2017) with μ, Σ the sample means and unbiased covariances, in
    float64 (see `frechet_from_moments` for how the square root is taken). Symmetric in f1, f2 and
    blind to the order of the samples.

    Bias: the plug-in estimate is biased upwards in the sample sizes, roughly by a term ∝ 1/N₁ + 1/N₂
    (Bińkowski et al., 2018), so two samples of one law score > 0 and scores at different N do not
    compare: always report N₁ and N₂ beside it, and compare with a real-data floor at the same N.

    Example:
        >>> x = torch.randn(500, 3, dtype=torch.float64)
        >>> abs(frechet_distance(x, x)) < 1e-8
        True
    """
    return frechet_from_moments(*moments(f1), *moments(f2))


def _mmd2_cubic(x: Tensor, y: Tensor) -> Tensor:
    """The unbiased MMD² of x (m, F) and y (n, F) under k(a, b) = (aᵀb/F + 1)³: the means of k over
    pairs of distinct rows within x and within y, minus twice the mean over all cross pairs."""
    d = x.shape[1]

    def k(a: Tensor, b: Tensor) -> Tensor:
        t = a @ b.T / d + 1
        return t * t * t  # 10× faster than t.pow(3) on the CPU

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m, n = x.shape[0], y.shape[0]
    xx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return xx + yy - 2 * kxy.mean()


def kid(
    f1: Tensor, f2: Tensor, *, subsets: int = 100, subset_size: int | None = None, seed: int = 0
) -> tuple[float, float]:
    """Return the kernel inception distance (Bińkowski et al., 2018) of features f1 (N₁, F) and f2
    (N₂, F) and its standard error: the unbiased estimate of

        MMD² = E k(X, X') + E k(Y, Y') − 2 E k(X, Y),   k(a, b) = (aᵀb/F + 1)³,

    averaged over `subsets` pairs of subsets of m = min(subset_size, N₁, N₂) rows, in float64
    (default m = min(1000, ⌊min(N₁, N₂)/2⌋), at least 2, so that a standard error exists).

    Unlike the Fréchet distance, each subset's estimate is unbiased, so KID ≈ 0 (and may be < 0)
    for two samples of one law whatever the sizes; its variance still shrinks with m.

    The subsets are cut from seeded permutations of the rows in `content_order` (so the value does
    not depend on the order the rows come in): each permutation yields B = ⌊min(N₁, N₂)/m⌋
    disjoint, hence independent, subset pairs, and permutations are drawn until `subsets` pairs are
    had. s² is the variance of the estimates within a permutation (pooled over the permutations),
    and the standard error s·Σ_g √k_g / Σ_g k_g over permutations g of k_g pairs: s/√B when each
    permutation gives all B, exact for one permutation's mean and conservative for an average of
    several, however correlated. (The spread over all pairs would understate s: pairs of
    different permutations share rows.) With B = 1
    (m = the smaller N) no two pairs are independent and the standard error is NaN: give both
    sides ≥ 2m rows.
    """
    f1, f2 = (f.reshape(f.shape[0], -1).double() for f in (f1, f2))
    f1, f2 = f1[content_order(f1)], f2[content_order(f2)]
    smaller = min(f1.shape[0], f2.shape[0])
    m = min(1000, max(2, smaller // 2)) if subset_size is None else min(subset_size, smaller)
    if m < 2 or smaller < 2:
        raise ValueError("kid needs at least two samples on each side")
    blocks = smaller // m
    g = torch.Generator().manual_seed(seed)
    groups: list[Tensor] = []  # per permutation, its pairs' estimates: independent of one another
    while sum(map(len, groups)) < subsets:
        p1, p2 = torch.randperm(f1.shape[0], generator=g), torch.randperm(f2.shape[0], generator=g)
        take = min(blocks, subsets - sum(map(len, groups)))
        groups.append(
            torch.stack(
                [_mmd2_cubic(f1[p1[b * m : (b + 1) * m]], f2[p2[b * m : (b + 1) * m]]) for b in range(take)]
            )
        )
    within = [v - v.mean() for v in groups if len(v) > 1]
    dof = sum(len(v) - 1 for v in within)
    s = math.sqrt(sum(v.pow(2).sum().item() for v in within) / dof) if dof else float("nan")
    # sd(Σ_g S_g) ≤ Σ_g sd(S_g) = s Σ_g √k_g for permutations g of k_g pairs, however correlated
    se = s * sum(math.sqrt(len(v)) for v in groups) / sum(map(len, groups))
    return torch.cat(groups).mean().item(), se


def inception_score(probs: Tensor, splits: int = 10, *, seed: int = 0) -> tuple[float, float]:
    """Return the Inception score (Salimans et al., 2016) of class probabilities p(y | x) (N, K) and
    its standard error over `splits` equal parts:

        IS = exp(E_x KL(p(y | x) ‖ p(y))),   p(y) = E_x p(y | x),

    computed on each part (p(y) the part's mean), then averaged, SE = std/√splits. The parts are
    consecutive rows of a `seeded_order`, so the score does not depend on the rows' order.

    It lies in [1, K]; K is reached by confident predictions spread evenly over the classes
    (MNIST's test set scores 9.65 under dgm's shipped classifier, ≈ 9.9 under sharper ones: the
    ceiling of a model of MNIST in that classifier). It ignores the real data altogether, and it too
    depends on N (through the size of each part, whose p(y) is estimated): report N and `splits`.
    """
    p = probs.double()
    p = p[seeded_order(p, seed=seed)]
    n = p.shape[0] // splits
    if n < 1:
        raise ValueError(f"inception_score needs at least {splits} samples, got {p.shape[0]}")
    scores = []
    for part in p[: n * splits].split(n):
        py = part.mean(0, keepdim=True)
        kl = torch.xlogy(part, part) - torch.xlogy(part, py)  # p log p − p log p(y), 0 where p = 0
        scores.append(kl.sum(1).mean().exp())
    s = torch.stack(scores)
    return s.mean().item(), (s.std().item() / math.sqrt(splits) if splits > 1 else float("nan"))
