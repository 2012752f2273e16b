"""Every registered flow: the model contract, exact inverse, and — once trained on a toy — a
density that integrates to 1 and never beats the data's true entropy."""

from __future__ import annotations

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model
from dgm.data import load_data
from dgm.flows.flow import Flow
from dgm.metrics.normalization import grid_mass
from dgm.registry import MODELS

FLOWS = [e.name for e in MODELS if issubclass(e.obj, Flow)]
IMAGE_FLOWS = {"glow"}
VECTOR_FLOWS = [n for n in FLOWS if n not in IMAGE_FLOWS]
SMALL = {"transforms": 3, "hidden": (16, 16)}
SMALL_IMAGE = {"levels": 2, "steps": 2, "hidden": 8}


def _shape(name: str) -> tuple[int, ...]:
    return (2, 4, 4) if name in IMAGE_FLOWS else (3,)


def _flow(name: str, **kwargs: object) -> Flow:
    small = SMALL_IMAGE if name in IMAGE_FLOWS else SMALL
    return MODELS.get(name)(_shape(name), **{**small, **kwargs}).double()


@pytest.mark.parametrize("name", FLOWS)
def test_contract(name: str) -> None:
    flow = _flow(name)
    x = torch.randn(32, *_shape(name), dtype=torch.float64)
    flow.initialize(x)
    lp = flow.log_prob(x)
    assert lp.shape == (32,) and torch.isfinite(lp).all()
    (-lp.mean()).backward()
    missing = [n for n, p in flow.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    flow.eval()
    assert flow.sample(7).shape == (7, *_shape(name))
    z = flow.inverse(x)
    assert torch.allclose(flow.transform.inverse(z)[0], x, atol=1e-10)
    states = flow.trajectory(x)
    assert torch.equal(states[0], x) and torch.allclose(states[-1], z)


@pytest.mark.parametrize("name", FLOWS)
def test_conditional_flow_uses_the_context(name: str) -> None:
    flow = _flow(name, context_features=2)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.1 * torch.randn_like(p))
    flow.eval()
    x = torch.randn(16, *_shape(name), dtype=torch.float64)
    c = torch.nn.functional.one_hot(torch.arange(16) % 2, 2).double()
    lp0, lp1 = flow.log_prob(x, c), flow.log_prob(x, 1 - c)
    assert lp0.shape == (16,) and not torch.allclose(lp0, lp1)
    assert flow.sample(4, c[:4]).shape == (4, *_shape(name))


@pytest.mark.parametrize("name", FLOWS)
def test_flows_refuse_data_of_the_wrong_kind(name: str) -> None:
    wrong, message = ((3,), "images") if name in IMAGE_FLOWS else ((1, 4, 4), "vectors")
    with pytest.raises(Exception, match=message):
        build_model(name, wrong, "none")


def test_glow_needs_sizes_divisible_by_two_per_level() -> None:
    with pytest.raises(Exception, match="even"):
        build_model("glow", (1, 6, 6), "logit", {"levels": 2})


def _fit(flow: Flow, x: torch.Tensor, steps: int) -> Flow:
    opt = torch.optim.Adam(flow.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    flow.initialize(x)
    for _ in range(steps):
        batch = x[torch.randint(len(x), (256,), generator=g)]
        loss = -flow.log_prob(batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return flow.eval()


@pytest.mark.slow
@pytest.mark.parametrize("name", VECTOR_FLOWS)
def test_trained_flow_is_normalised_and_respects_the_entropy(name: str) -> None:
    data = load_data("moons")
    model = build_model(name, (2,), "standardize", {"transforms": 4, "hidden": (32, 32)}).double()
    x = data.split("train").double()
    model.transform.fit(x)
    _fit(model.model, model.transform(x)[0], 300)
    model.eval()
    with torch.no_grad():
        mass = grid_mass(model.log_prob, (-3.0, 4.0, -3.0, 3.5), n=500)
        nll = -model.log_prob(data.split("test").double())
    assert abs(mass - 1) < 0.01, mass
    h, h_err = data.entropy
    se = (nll.std() / len(nll) ** 0.5).item()
    assert nll.mean().item() > h - 4 * (se + h_err), (nll.mean().item(), h)
    assert nll.mean().item() < 1.5, "the flow did not learn moons at all"
