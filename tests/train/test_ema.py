"""The exponential moving average against its closed form."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dgm.train.ema import EMA


def test_ema_is_the_geometrically_weighted_average() -> None:
    """θ̄_k = β^k θ_0 + (1 − β) Σ_{j=1..k} β^{k−j} θ_j for the weights θ_j after each step."""
    model = nn.Linear(3, 2).double()
    beta = 0.9
    ema = EMA(model, beta)
    thetas = [model.weight.detach().clone()]
    for _ in range(5):
        with torch.no_grad():
            model.weight.add_(torch.randn_like(model.weight))
        thetas.append(model.weight.detach().clone())
        ema.update(model)
    k = len(thetas) - 1
    expected = beta**k * thetas[0] + (1 - beta) * sum(beta ** (k - j) * thetas[j] for j in range(1, k + 1))
    torch.testing.assert_close(ema.state_dict(model)["weight"], expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(model.weight, thetas[-1])  # the model itself is untouched


def test_spectral_norm_vectors_follow_the_model_and_stay_unit() -> None:
    """The averaged weights are averaged; the power iteration's u and v are copied (their average
    would not be a unit vector, and σ = uᵀ W v would come out too small)."""
    from torch.nn.utils.parametrizations import spectral_norm

    torch.manual_seed(0)
    model = spectral_norm(nn.Linear(4, 3)).double()
    ema = EMA(model, 0.5)
    for _ in range(5):
        with torch.no_grad():
            model.parametrizations.weight.original.add_(torch.randn(3, 4, dtype=torch.float64))
        model(torch.randn(2, 4, dtype=torch.float64))  # a training forward runs one power iteration
        ema.update(model)
    state, now = ema.state_dict(model), model.state_dict()
    for name in ("parametrizations.weight.0._u", "parametrizations.weight.0._v"):
        assert torch.equal(state[name], now[name])
        assert state[name].norm().item() == pytest.approx(1.0, abs=1e-12)
    assert not torch.equal(state["parametrizations.weight.original"], now["parametrizations.weight.original"])
