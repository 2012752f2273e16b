"""Every registered model honours the contract: sample, log_prob (or NoDensityError), gradients,
and — for density models — a density that integrates to one on a grid at initialisation."""

from __future__ import annotations

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model
from dgm.errors import NoDensityError
from dgm.models import GenerativeModel
from dgm.registry import MODELS
from dgm.testing import example_batch

DENSITY_MODELS = [e.name for e in MODELS if e.obj.density == "exact" and "points" in e.obj.data_kinds]
# Continuous flows integrate to one in tests/cnf (with random rather than initial weights, so the
# density is not the latent Gaussian moved by a near-identity map): the grid costs 12 s each.
GRID_MODELS = [name for name in DENSITY_MODELS if not MODELS.get(name).__module__.startswith("dgm.cnf")]


def _data(n: int) -> torch.Tensor:
    a = torch.tensor([[1.0, 0.0], [0.8, 0.4]], dtype=torch.float64)
    return torch.randn(n, 2, dtype=torch.float64) @ a.T + torch.tensor([1.0, -2.0], dtype=torch.float64)


@pytest.mark.parametrize("name", GRID_MODELS)  # in 2-D: the models of points
def test_density_integrates_to_one_on_a_grid(name: str) -> None:
    model = build_model(name, (2,), "standardize").double()
    x = _data(500)
    model.transform.fit(x)
    model.initialize(x)
    with torch.no_grad():  # the grid covers the data and the model's samples (OT-Flow starts wide)
        reach = torch.cat([torch.tensor([[-6.0, -8.0], [8.0, 4.0]]), model.sample(2000).double()])
    (x0, y0), (x1, y1) = reach.min(0).values - 1, reach.max(0).values + 1
    xs = torch.linspace(x0.item(), x1.item(), 200, dtype=torch.float64)
    ys = torch.linspace(y0.item(), y1.item(), 200, dtype=torch.float64)
    grid = torch.cartesian_prod(xs, ys)
    with torch.no_grad():  # the trained model's density (a CNF's exact trace, not its training estimate)
        mass = model.eval().log_prob(grid).exp().sum() * (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert abs(mass.item() - 1) < 5e-3


@pytest.mark.parametrize("name", [e.name for e in MODELS])
def test_every_model_honours_the_contract(name: str) -> None:
    preprocess, x = example_batch(name, 64)
    model = build_model(name, tuple(x.shape[1:]), preprocess).double()
    model.transform.fit(x)
    model.initialize(x)
    assert isinstance(model, GenerativeModel)
    assert model.sample(7).shape == (7, *x.shape[1:])
    if model.has_density:
        lp = model.log_prob(x)
        assert lp.shape == (64,) and torch.isfinite(lp).all()
        (-lp.mean()).backward()
        # Every parameter shapes the density, but a Flow-GAN's critic, which only judges samples.
        density = [p for n, p in model.named_parameters() if p.requires_grad and ".critic." not in n]
        assert density and all(p.grad is not None for p in density)
    else:
        with pytest.raises(NoDensityError):
            model.log_prob(x)
