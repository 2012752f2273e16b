"""The memorisation ratio: 0 for the training set itself, ≈ 1 for fresh data; exact neighbours."""

from __future__ import annotations

import pytest
import torch

from dgm.metrics.memorisation import memorisation_ratio, nearest_neighbours


def _normal(n: int, seed: int, d: int = 5) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_training_points_score_zero_and_find_themselves() -> None:
    train, heldout = _normal(3000, 0), _normal(500, 1)
    r = memorisation_ratio(train[:800], train, heldout)
    assert r.ratio == 0.0 and r.se == 0.0
    assert torch.equal(r.nearest, torch.arange(800))


def test_fresh_samples_of_the_true_law_score_one() -> None:
    train, heldout, samples = _normal(3000, 0), _normal(1000, 1), _normal(1000, 2)
    r = memorisation_ratio(samples, train, heldout)
    assert r.ratio == pytest.approx(1.0, abs=0.1)
    assert abs(r.ratio - 1) < 3 * r.se + 0.02, r.ratio
    # noisy copies of training points sit far closer than fresh data
    copies = train[:1000] + 0.05 * _normal(1000, 3)
    assert memorisation_ratio(copies, train, heldout).ratio < 0.2


def test_nearest_neighbours_in_blocks_equal_the_brute_force_search() -> None:
    queries, reference = _normal(90, 4, d=3), _normal(250, 5, d=3)
    d, i = torch.cdist(queries, reference).min(1)
    for block in (7, 64, 4096):
        got_d, got_i = nearest_neighbours(queries, reference, block=block)
        assert torch.equal(got_i, i)
        assert torch.allclose(got_d, d, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="dimension"):
        nearest_neighbours(queries, reference[:, :2])
