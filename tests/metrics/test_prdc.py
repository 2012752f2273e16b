"""Precision, recall, density and coverage: the authors' formulas in one shot, limits, published values."""

from __future__ import annotations

import pytest
import torch

from dgm.metrics.manifold import kth_neighbour_distance, prdc


def _reference_prdc(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float, float, float]:
    """The formulas of clovaai/generative-evaluation-prdc on full distance matrices (no blocks)."""
    real_r = torch.cdist(real, real).kthvalue(k + 1, dim=1).values  # itself first
    fake_r = torch.cdist(fake, fake).kthvalue(k + 1, dim=1).values
    d = torch.cdist(real, fake)  # (N real, M fake)
    inside = d < real_r[:, None]
    return (
        inside.any(0).double().mean().item(),
        (d < fake_r[None, :]).any(1).double().mean().item(),
        inside.sum(0).double().mean().item() / k,
        (d.min(1).values < real_r).double().mean().item(),
    )


def test_prdc_in_blocks_equals_the_one_shot_formulas() -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(230, 6, generator=g, dtype=torch.float64)
    fake = torch.randn(170, 6, generator=g, dtype=torch.float64) * 1.2 + 0.2
    expected = _reference_prdc(real, fake, 4)
    for block in (16, 100, 2048):
        assert tuple(prdc(real, fake, 4, block=block)) == pytest.approx(expected, abs=1e-12)


def test_kth_neighbour_distance_excludes_the_point_itself() -> None:
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    assert kth_neighbour_distance(x, 1, block=3).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert kth_neighbour_distance(x, 2, block=2).tolist() == [3.0, 2.0, 3.0, 6.0]


def test_prdc_of_identical_and_of_far_apart_sets() -> None:
    x = torch.randn(200, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    same = prdc(x, x.clone())
    assert (same.precision, same.recall, same.coverage) == (1.0, 1.0, 1.0)
    # each fake is a real point: inside its own ball, and each real ball holds k − 1 other points
    # strictly inside, the k-th lying on its boundary: density = (N + N(k − 1))/(kN) = 1, plus the
    # boundary ties that rounding puts inside (the radius and the cross distance of one pair are
    # computed in different blocks)
    assert 1.0 <= same.density <= 1.05
    far = prdc(x, x + 100)
    assert tuple(far) == (0.0, 0.0, 0.0, 0.0)


@pytest.mark.slow
def test_prdc_of_two_normal_samples_in_1000d_matches_the_published_example() -> None:
    """The example of the authors' README: 10,000 real and 10,000 fake points of N(0, I) in 1000-D,
    k = 5, printed precision 0.4772, recall 0.4705, density 1.0555, coverage 0.9735 — one unseeded
    draw ("may fluctuate due to randomness"). Over seeds 0-5 this implementation gives 0.463-0.495
    (mean 0.478), 0.457-0.480 (0.471), 0.946-1.129 (1.030) and 0.962-0.981 (0.972), SDs ≈ 0.012,
    0.009, 0.07 and 0.007 (density swings most: a few hub points sit in many balls). The tolerances
    are about three of those SDs; 0.01 would hold for the seed-mean but not for any one draw."""
    g = torch.Generator().manual_seed(0)
    real = torch.randn(10_000, 1000, generator=g)
    fake = torch.randn(10_000, 1000, generator=g)
    out = prdc(real, fake, 5, dtype=torch.float32)  # float32 distances: half the time of float64
    assert out.precision == pytest.approx(0.4772, abs=0.035)
    assert out.recall == pytest.approx(0.4705, abs=0.03)
    assert out.density == pytest.approx(1.0555, abs=0.2)
    assert out.coverage == pytest.approx(0.9735, abs=0.02)
