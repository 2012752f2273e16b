"""The exponential moving average against its closed form."""

from __future__ import annotations

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
