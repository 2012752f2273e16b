"""Fréchet distance, KID and the Inception score against closed forms and their invariances."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch

from dgm.metrics.frechet import frechet_distance, frechet_from_moments, inception_score, kid, moments


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One thread: on two contended cores these small matrices run 3-5× slower with two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _spd(d: int, g: torch.Generator) -> torch.Tensor:
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_frechet_distance_of_a_set_with_itself_is_zero() -> None:
    x = torch.randn(500, 8, dtype=torch.float64) * torch.linspace(0.1, 3, 8, dtype=torch.float64)
    assert abs(frechet_distance(x, x)) < 1e-8


def test_frechet_distance_of_a_rank_deficient_set_with_itself_is_near_zero() -> None:
    """Fewer samples than features and dead (constant) features, as post-ReLU features have: Σ is
    singular, and the clipped eigenvalues leave an error of order 1e-8 √‖Σ‖ (not NaN, not < −1e-6)."""
    x = torch.randn(20, 40, dtype=torch.float64).relu()
    x[:, :10] = 0
    assert abs(frechet_distance(x, x)) < 1e-6


def test_frechet_from_moments_matches_the_diagonal_closed_form() -> None:
    """Commuting (diagonal) covariances: d² = ‖μ₁ − μ₂‖² + Σᵢ (σ₁ᵢ − σ₂ᵢ)²."""
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([0.5, 1.0, 0.0])
    s1, s2 = torch.tensor([1.0, 0.2, 3.0]), torch.tensor([2.0, 0.2, 0.5])
    exact = (mu1 - mu2).pow(2).sum() + (s1 - s2).pow(2).sum()
    got = frechet_from_moments(mu1, torch.diag(s1**2), mu2, torch.diag(s2**2))
    assert got == pytest.approx(exact.item(), rel=1e-12)


def test_frechet_from_moments_matches_the_2x2_closed_form() -> None:
    """Non-commuting 2×2 covariances: tr (Σ₁Σ₂)^{1/2} = √(tr Σ₁Σ₂ + 2 √(det Σ₁ det Σ₂)), since
    √λ₁ + √λ₂ = √(λ₁ + λ₂ + 2√(λ₁λ₂)) for the eigenvalues λ of Σ₁Σ₂."""
    s1 = torch.tensor([[2.0, 0.9], [0.9, 1.0]], dtype=torch.float64)
    s2 = torch.tensor([[0.5, -0.3], [-0.3, 1.5]], dtype=torch.float64)
    mu1, mu2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    tr_sqrt = math.sqrt((s1 @ s2).trace().item() + 2 * math.sqrt(s1.det().item() * s2.det().item()))
    exact = 5.0 + s1.trace().item() + s2.trace().item() - 2 * tr_sqrt
    assert frechet_from_moments(mu1, s1, mu2, s2) == pytest.approx(exact, rel=1e-12)


def test_frechet_from_moments_matches_scipy_sqrtm() -> None:
    from scipy.linalg import sqrtm

    g = torch.Generator().manual_seed(1)
    s1, s2 = _spd(6, g), _spd(6, g)
    mu1, mu2 = torch.randn(6, generator=g, dtype=torch.float64), torch.zeros(6, dtype=torch.float64)
    root = sqrtm((s1 @ s2).numpy())
    assert abs(root.imag).max() < 1e-8
    exact = ((mu1 - mu2).pow(2).sum() + (s1 + s2).trace()).item() - 2 * root.real.trace()
    assert frechet_from_moments(mu1, s1, mu2, s2) == pytest.approx(exact, rel=1e-10)


def test_frechet_distance_of_large_samples_approaches_the_exact_one() -> None:
    """2·10⁵ samples of two correlated 3-D Gaussians: the estimate's bias (∝ d/n) and noise are ≲ 1e-2."""
    g = torch.Generator().manual_seed(2)
    s1, s2 = _spd(3, g), _spd(3, g)
    mu2 = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
    n = 200_000
    x = torch.randn(n, 3, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(s1).T
    y = torch.randn(n, 3, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(s2).T + mu2
    exact = frechet_from_moments(torch.zeros(3), s1, mu2, s2)
    assert frechet_distance(x, y) == pytest.approx(exact, abs=1e-2)


def test_frechet_distance_is_symmetric_order_blind_and_dtype_stable() -> None:
    """Swapping the sets or permuting rows changes only rounding (1e-10); float32 inputs of the same
    values agree with float64 to 1e-6 relative (the work is done in float64 either way: what differs
    is the inputs' own rounding, ~6e-8)."""
    x = torch.randn(400, 5, dtype=torch.float64)
    y = torch.randn(300, 5, dtype=torch.float64) * 1.5 + 0.2
    d = frechet_distance(x, y)
    assert d > 0.1
    assert frechet_distance(y, x) == pytest.approx(d, rel=1e-10)
    assert frechet_distance(x[torch.randperm(400)], y[torch.randperm(300)]) == pytest.approx(d, rel=1e-10)
    assert frechet_distance(x.float(), y.float()) == pytest.approx(d, rel=1e-6)
    mu, sigma = moments(x.float())
    assert mu.dtype == sigma.dtype == torch.float64


def _mmd2_direct(x: torch.Tensor, y: torch.Tensor) -> float:
    """The unbiased MMD² of the cubic kernel written out over all pairs."""
    d = x.shape[1]

    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a @ b.T / d + 1) ** 3

    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return (
        (kxx.sum() - kxx.trace()) / (n * (n - 1))
        + (kyy.sum() - kyy.trace()) / (m * (m - 1))
        - 2 * k(x, y).mean()
    ).item()


def test_kid_on_whole_sets_is_the_unbiased_mmd2() -> None:
    """With subsets as large as both sets, every subset is a permutation of all rows: the U-statistic."""
    x, y = torch.randn(60, 4, dtype=torch.float64), torch.randn(60, 4, dtype=torch.float64) + 0.3
    value, _ = kid(x, y, subsets=3, subset_size=60)
    assert value == pytest.approx(_mmd2_direct(x, y), rel=1e-10)


def test_kid_is_near_zero_for_one_law_and_positive_for_a_shift() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2000, 16, generator=g, dtype=torch.float64)
    y = torch.randn(2000, 16, generator=g, dtype=torch.float64)
    value, se = kid(x, y, subsets=40, subset_size=500)
    assert se > 0 and abs(value) < 3 * se
    shifted, shifted_se = kid(x, y + 0.5, subsets=40, subset_size=500)
    assert shifted > 10 * shifted_se and shifted > 10 * abs(value)
    assert kid(x, y, subsets=40, subset_size=500) == (value, se)  # seeded


def test_kid_standard_error_matches_the_spread_over_data_sets() -> None:
    """Over 60 independent data sets the reported standard error is about the standard deviation
    of KID itself (the spread over overlapping subsets alone understated it by ~1.6×); with one
    subset pair per permutation (m = N) there is no independent pair to measure it: NaN."""
    g = torch.Generator().manual_seed(0)
    values, ses = [], []
    for i in range(60):
        x = torch.randn(400, 4, generator=g, dtype=torch.float64)
        y = torch.randn(400, 4, generator=g, dtype=torch.float64) + 0.15
        value, se = kid(x, y, subsets=20, seed=i)  # m = 200: two disjoint pairs per permutation
        values.append(value)
        ses.append(se)
    ratio = torch.tensor(ses).mean() / torch.tensor(values).std()
    assert 0.75 < ratio < 1.6, ratio
    assert math.isnan(kid(x, y, subsets=4, subset_size=400)[1])
    # fewer pairs than one permutation holds (5 of B = 20): the error of a mean of 5, not of 20
    values, ses = [], []
    for i in range(60):
        x = torch.randn(400, 4, generator=g, dtype=torch.float64)
        y = torch.randn(400, 4, generator=g, dtype=torch.float64) + 0.3
        value, se = kid(x, y, subsets=5, subset_size=20, seed=i)
        values.append(value)
        ses.append(se)
    ratio = torch.tensor(ses).mean() / torch.tensor(values).std()
    assert 0.75 < ratio < 1.6, ratio
    assert math.isnan(kid(x[:3], y[:3])[1])  # three rows: one pair of two, no error to give


def test_inception_score_of_known_probabilities() -> None:
    """Confident and balanced predictions over K classes score K; one shared prediction scores 1."""
    eye = torch.eye(10, dtype=torch.float64)
    value, se = inception_score(eye.repeat(50, 1), splits=1)
    assert value == pytest.approx(10.0, rel=1e-12) and math.isnan(se)
    # in 5 parts dealt at random each part's classes are unbalanced: below 10, with an error
    value, se = inception_score(eye.repeat(50, 1), splits=5)
    assert 8 < value < 10 and se > 0
    flat, _ = inception_score(torch.full((100, 10), 0.1, dtype=torch.float64), splits=5)
    assert flat == pytest.approx(1.0, rel=1e-12)
    two = torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float64).repeat(10, 1)
    # p(y) = (3/4, 1/4): the mean of KL((½, ½) ‖ p(y)) and KL((1, 0) ‖ p(y)) = log(4/3)
    kl = 0.5 * (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)) + 0.5 * math.log(1 / 0.75)
    assert inception_score(two, splits=1)[0] == pytest.approx(math.exp(kl), rel=1e-12)


def test_kid_and_inception_score_do_not_depend_on_the_order_of_the_rows() -> None:
    """Their subsets and parts are dealt from an order fixed by the rows' content and the seed."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 4, generator=g, dtype=torch.float64)
    y = torch.randn(500, 4, generator=g, dtype=torch.float64) + 0.2
    p = torch.randn(400, 10, generator=g, dtype=torch.float64).mul(2).softmax(1)
    px, py, pp = (torch.randperm(len(t), generator=g) for t in (x, y, p))
    assert kid(x[px], y[py], subsets=10) == pytest.approx(kid(x, y, subsets=10), rel=1e-12)
    assert inception_score(p[pp]) == pytest.approx(inception_score(p), rel=1e-12)
    assert inception_score(p, seed=1) != inception_score(p)  # the seed deals other parts
