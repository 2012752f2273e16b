"""Preprocessing transforms are bijections: inverse, log|det J| against autograd, in float64."""

from __future__ import annotations

import pytest
import torch

from dgm.data.transforms import PREPROCESSING, make_preprocessing
from dgm.errors import DgmError
from dgm.testing import check_bijection


@pytest.mark.parametrize("name", sorted(PREPROCESSING))
@pytest.mark.parametrize("shape", [(3,), (1, 2, 2)])
def test_preprocessing_is_a_bijection(name: str, shape: tuple[int, ...]) -> None:
    x = torch.randn(64, *shape, dtype=torch.float64) * 3 + 2
    t = make_preprocessing(name, shape).double().fit(x)
    check_bijection(t, x[:8])


def test_standardize_whitens_the_training_data() -> None:
    x = torch.randn(1000, 2, dtype=torch.float64) * torch.tensor([5.0, 0.1], dtype=torch.float64) + 7
    y, ladj = make_preprocessing("standardize", (2,)).double().fit(x)(x)
    assert torch.allclose(y.mean(0), torch.zeros(2, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(y.std(0), torch.ones(2, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(ladj, -x.std(0).log().sum().expand(1000))


def test_standardize_floors_constant_features() -> None:
    x = torch.zeros(10, 2)
    t = make_preprocessing("standardize", (2,)).fit(x)
    assert torch.isfinite(t(x)[1]).all()


def test_unknown_preprocessing() -> None:
    with pytest.raises(DgmError, match="unknown preprocessing"):
        make_preprocessing("whiten", (2,))
