"""MMD²: the unbiased estimate against the closed form for Gaussians, its block-wise sums, pairs."""

from __future__ import annotations

import math

import pytest
import torch

from dgm.metrics.likelihood import mean_and_se
from dgm.metrics.mmd import median_bandwidths, mmd2


def _expected_kernel(h: float, d: int, s1: float, s2: float, mean_gap2: float) -> float:
    """E exp(−‖x − y‖²/(2h²)) for independent x ~ N(μ1, s1² I_d), y ~ N(μ2, s2² I_d)."""
    v = h**2 + s1**2 + s2**2
    return (h**2 / v) ** (d / 2) * math.exp(-mean_gap2 / (2 * v))


def _exact_mmd2(bandwidths: list[float], d: int, s1: float, s2: float, mean_gap2: float) -> float:
    return sum(
        _expected_kernel(h, d, s1, s1, 0)
        + _expected_kernel(h, d, s2, s2, 0)
        - 2 * _expected_kernel(h, d, s1, s2, mean_gap2)
        for h in bandwidths
    )


def _replicates(s2: float, shift: float, reps: int = 20, n: int = 200, d: int = 3) -> torch.Tensor:
    """mmd2 of N(0, I) against N(shift·1, s2² I) on `reps` independent pairs of n-point samples."""
    g = torch.Generator().manual_seed(1)
    return torch.stack(
        [
            mmd2(
                torch.randn(n, d, generator=g, dtype=torch.float64),
                torch.randn(n, d, generator=g, dtype=torch.float64) * s2 + shift,
                [0.7, 2.0],
            )
            for _ in range(reps)
        ]
    )


def test_mmd2_matches_the_closed_form_for_two_gaussians() -> None:
    """The estimate is unbiased: the mean of 20 replicates lies within 3 SE of the exact MMD², and
    the SE is small enough (a tenth of the value) for a wrong kernel or normalisation to fail."""
    exact = _exact_mmd2([0.7, 2.0], 3, 1.0, 0.8, 3 * 0.4**2)
    mean, se = mean_and_se(_replicates(0.8, 0.4))
    assert se < exact / 10
    assert abs(mean - exact) < 3 * se, (mean, exact, se)


def test_mmd2_is_unbiased_at_zero_for_one_law() -> None:
    values = _replicates(1.0, 0.0)
    mean, se = mean_and_se(values)
    assert abs(mean) < 3 * se, (mean, se)
    assert (values < 0).any()  # the U-statistic is not clipped at 0


def test_mmd2_blocks_and_pairs_equal_the_one_shot_formula() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(37, 4, generator=g, dtype=torch.float64)
    y = torch.randn(37, 4, generator=g, dtype=torch.float64) + 0.3
    h = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64)

    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(a, b).square()
        return sum(torch.exp(-d2 / (2 * b_**2)) for b_ in h)

    n = len(x)
    off = 1 - torch.eye(n, dtype=torch.float64)
    within = ((k(x, x) * off).sum() + (k(y, y) * off).sum()) / (n * (n - 1))
    unpaired = within - 2 * k(x, y).mean()
    paired = within - 2 * (k(x, y) * off).sum() / (n * (n - 1))
    for block in (4, 10, 37, 2048):
        assert mmd2(x, y, h, block=block).item() == pytest.approx(unpaired.item(), abs=1e-12)
        assert mmd2(x, y, h, paired=True, block=block).item() == pytest.approx(paired.item(), abs=1e-12)


def test_median_bandwidths_are_the_pooled_median_distance_times_the_scales() -> None:
    x = torch.tensor([[0.0], [1.0]])
    y = torch.tensor([[3.0]])
    # pooled distances 1, 2, 3: the median is 2
    assert median_bandwidths(x, y).tolist() == pytest.approx([0.5, 1.0, 2.0, 4.0, 8.0])
    big = torch.randn(3000, 2, generator=torch.Generator().manual_seed(0))
    h = median_bandwidths(big)  # on a 1000-point subsample
    # ‖x − y‖ = √2 × a Rayleigh variable, whose median is √(2 ln 2)
    assert h[2].item() == pytest.approx(math.sqrt(2) * math.sqrt(2 * math.log(2)), rel=0.03)
