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
    if name == "logit":  # its domain is [0, 1]
        x = torch.rand(64, *shape, dtype=torch.float64)
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


def test_dequantised_uniform_density_has_log_levels_bits_per_dim() -> None:
    """A standard logistic density seen through the logit (α = 0) is uniform on [0, 1]^D, so every
    dequantised image has log p = 0 and costs exactly log2(L) bits per dimension."""
    from dgm.data.dequantize import bits_per_dim, dequantize
    from dgm.data.transforms import Logit

    levels, shape = 256, (1, 4, 4)
    x = torch.randint(0, levels, (500, *shape)).double() / (levels - 1)
    x_tilde = dequantize(x, levels, torch.Generator().manual_seed(0))
    assert ((x_tilde * levels).floor() == (x * (levels - 1)).round()).all()  # stays in its cell
    y, ladj = Logit(shape, alpha=0.0)(x_tilde)
    logistic = (-y - 2 * torch.nn.functional.softplus(-y)).reshape(500, -1).sum(1)  # log σ'(y)
    log_p = logistic + ladj
    assert torch.allclose(log_p, torch.zeros_like(log_p), atol=1e-9)
    assert bits_per_dim(-log_p.mean().item(), 16, levels) == pytest.approx(8.0, abs=1e-9)
