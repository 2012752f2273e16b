"""Checks that every bijection must pass, shared by the test suite (and usable by contributors)."""

from __future__ import annotations

import torch
from torch import Tensor

from dgm.flows.base import Bijection


def autograd_log_abs_det(f: Bijection, x: Tensor) -> Tensor:
    """log|det ∂f(x)/∂x| per sample from the full autograd Jacobian, shape (B,). Use small D."""
    flat = x.reshape(x.shape[0], -1)

    def one(xi: Tensor) -> Tensor:
        return f(xi.reshape(1, *x.shape[1:]))[0].reshape(-1)

    jac = torch.stack([torch.autograd.functional.jacobian(one, xi) for xi in flat])
    return torch.linalg.slogdet(jac).logabsdet


def check_bijection(f: Bijection, x: Tensor, *, rtol: float = 1e-10, atol: float = 1e-8) -> None:
    """Assert f⁻¹(f(x)) = x, ladj = log|det J| (autograd) and ladj_inv = −ladj, in x's dtype."""
    y, ladj = f(x)
    x_back, ladj_inv = f.inverse(y)
    assert ladj.shape == (x.shape[0],), f"ladj has shape {tuple(ladj.shape)}, expected ({x.shape[0]},)"
    err = ((x_back - x).abs().max() / x.abs().max().clamp_min(1e-300)).item()
    assert err < rtol, f"inverse(forward(x)) differs from x: relative error {err:.3g}"
    ref = autograd_log_abs_det(f, x)
    assert torch.allclose(ladj, ref, atol=atol, rtol=0), f"ladj {ladj} != autograd {ref}"
    assert torch.allclose(ladj_inv, -ladj, atol=atol, rtol=0), "inverse ladj is not −ladj"
