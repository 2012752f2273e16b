"""The classifier two-sample test: chance for one law, perfect for separated laws, a calibrated p."""

from __future__ import annotations

import math

import pytest
import torch

from dgm.metrics.c2st import c2st
from dgm.metrics.likelihood import mean_and_se


@pytest.mark.parametrize("classifier", ["trees", "knn"])
def test_c2st_of_one_law_is_at_chance(classifier: str) -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(1000, 4, generator=g, dtype=torch.float64)
    fake = torch.randn(1000, 4, generator=g, dtype=torch.float64)
    r = c2st(real, fake, seed=0, classifier=classifier)
    assert r.n_test == 1000 and r.k == (31 if classifier == "knn" else 0)  # ⌊√1000⌋ = 31, odd
    assert abs(r.accuracy - 0.5) < 3 * r.se, r
    assert r.p_value > 0.01


@pytest.mark.parametrize("classifier", ["trees", "knn"])
def test_c2st_of_shifted_laws_is_near_one_with_a_tiny_p_value(classifier: str) -> None:
    g = torch.Generator().manual_seed(1)
    real = torch.randn(600, 4, generator=g, dtype=torch.float64)
    fake = torch.randn(600, 4, generator=g, dtype=torch.float64) + torch.tensor([6.0, 0, 0, 0])
    r = c2st(real, fake, seed=0, classifier=classifier)
    assert r.accuracy > 0.97 and r.p_value < 1e-50
    if classifier == "knn":
        assert r.k == 25  # ⌊√600⌋ = 24, made odd


def test_trees_separate_laws_of_different_spread_where_knn_cannot() -> None:
    """N(0, ¼I) against N(0, I) in 20-D: every point's nearest neighbours belong to the tighter law,
    so k-NN scores chance; the trees see the larger coordinates of the wider law."""
    g = torch.Generator().manual_seed(2)
    real, fake = 0.5 * torch.randn(500, 20, generator=g), torch.randn(500, 20, generator=g)
    assert c2st(real, fake, classifier="knn").accuracy < 0.55
    assert c2st(real, fake, classifier="trees").accuracy > 0.9


def test_c2st_p_values_under_the_null_are_not_too_small() -> None:
    """Over 20 independent null pairs the mean accuracy stays within 3 SE of ½, and no p-value falls
    below 0.001 (a test that is anti-conservative by much would show it here). The p-value's formula
    does not depend on the classifier: the cheaper k-NN serves."""
    g = torch.Generator().manual_seed(3)
    runs = [
        c2st(torch.randn(200, 2, generator=g), torch.randn(200, 2, generator=g), seed=s, classifier="knn")
        for s in range(20)
    ]
    mean, se = mean_and_se(torch.tensor([r.accuracy for r in runs]))
    assert abs(mean - 0.5) < 3 * se
    assert min(r.p_value for r in runs) > 1e-3
    assert runs[0].se == pytest.approx(math.sqrt(runs[0].accuracy * (1 - runs[0].accuracy) / 200))


def test_c2st_keeps_pairs_together_and_subsamples_the_larger_side() -> None:
    g = torch.Generator().manual_seed(4)
    real, fake = torch.randn(300, 2, generator=g), torch.randn(120, 2, generator=g)
    assert c2st(real, fake).n_test == 120  # 120 of each side, half held out
    with pytest.raises(ValueError, match="paired"):
        c2st(real, fake, paired=True)
    with pytest.raises(ValueError, match="unknown classifier"):
        c2st(real, fake, classifier="svm")  # type: ignore[arg-type]
