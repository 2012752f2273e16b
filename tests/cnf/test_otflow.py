"""OT-Flow's hand-written gradient and exact Hessian trace against autograd, in float64."""

from __future__ import annotations

import pytest
import torch

from dgm.cnf.otflow import OTFlow, Potential, log_cosh


def _perturb(module: torch.nn.Module, scale: float = 0.5) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))


def _autograd(phi: Potential, s: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    s = s.clone().requires_grad_()
    (grad,) = torch.autograd.grad(phi(s).sum(), s, create_graph=True)
    trace = sum(torch.autograd.grad(grad[:, k].sum(), s, retain_graph=True)[0][:, k] for k in range(d))
    return grad.detach(), trace.detach()


@pytest.mark.parametrize("layers", [2, 3, 4])
@pytest.mark.parametrize("perturbed", [False, True])
@pytest.mark.parametrize(("d", "extra"), [(2, 1), (5, 1), (3, 4)])  # extra: t (and a context)
def test_gradient_and_laplacian_equal_autograd(layers: int, perturbed: bool, d: int, extra: int) -> None:
    torch.manual_seed(layers + 10 * d)
    phi = Potential(d + extra, width=16, layers=layers, rank=3).double()
    if perturbed:
        _perturb(phi)
    s = torch.randn(7, d + extra, dtype=torch.float64)
    grad, trace = phi.gradient_and_laplacian(s, d)
    want_grad, want_trace = _autograd(phi, s, d)
    assert torch.allclose(grad, want_grad, atol=1e-10, rtol=0)
    assert torch.allclose(phi.gradient(s), want_grad, atol=1e-10, rtol=0)
    assert (trace - want_trace).abs().max() < 1e-8


def test_log_cosh_is_stable_and_exact() -> None:
    a = torch.tensor([-800.0, -3.0, 0.0, 2.5, 800.0], dtype=torch.float64)
    assert torch.isfinite(log_cosh(a)).all()
    assert torch.allclose(log_cosh(a[1:4]), torch.log(2 * torch.cosh(a[1:4])))


def test_parameter_count_matches_the_paper() -> None:
    """POWER (d = 6, m = 128, nTh = 2, r = 10): 17,721 parameters in the OT-Flow paper's table, one
    of them the constant c of Φ, which no derivative sees (dgm leaves it out)."""
    model = OTFlow((6,), width=128, layers=2, rank=10)
    assert sum(p.numel() for p in model.parameters()) == 17_721 - 1


def test_rates_equal_the_generic_autograd_rates() -> None:
    """The closed-form rates (v, tr ∂v/∂x, ½‖v‖²) equal the base class's autograd ones."""
    torch.manual_seed(0)
    model = OTFlow((3,), width=8).double()
    _perturb(model)
    x = torch.randn(5, 3, dtype=torch.float64)
    with torch.no_grad():
        v, div, costs = model.rates(x, 0.3, None, None)
        generic = super(OTFlow, model).rates(x, 0.3, None, None)
    assert torch.allclose(v, generic[0], atol=1e-12)
    assert torch.allclose(div, generic[1], atol=1e-10)
    assert torch.allclose(costs[:, 0], generic[2][:, 0], atol=1e-12)  # transport: ½‖v‖²
    s = torch.cat([x, torch.full((5, 1), 0.3, dtype=torch.float64)], 1).requires_grad_()
    (grad,) = torch.autograd.grad(model.potential(s).sum(), s)
    hjb = (grad[:, 3] - 0.5 * grad[:, :3].pow(2).sum(1)).abs()  # |∂ₜΦ − ½‖∇ₓΦ‖²| by autograd
    assert torch.allclose(costs[:, 1], hjb, atol=1e-12)
