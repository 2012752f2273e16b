"""The divergence tr ∂v/∂x of a velocity field, exactly (d backward passes) or by Hutchinson's
estimator εᵀ(∂v/∂x)ε with E[εεᵀ] = I (one backward pass), each with the squared Frobenius norm
‖∂v/∂x‖²_F of the same Jacobian (RNODE's regulariser; its estimate ‖εᵀ∂v/∂x‖² is free)."""

from __future__ import annotations

import torch
from torch import Tensor

#: Distributions of Hutchinson's probe ε: Rademacher (±1, the lower-variance choice) or Gaussian.
PROBES = ("rademacher", "gaussian")


def exact_divergence(v: Tensor, x: Tensor, create_graph: bool) -> tuple[Tensor, Tensor]:
    """Return tr ∂v/∂x and ‖∂v/∂x‖²_F per sample, shape (B,), from the d rows ∂v_i/∂x."""
    trace = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    frobenius = torch.zeros_like(trace)
    for i in range(x.shape[1]):
        (row,) = torch.autograd.grad(v[:, i].sum(), x, create_graph=create_graph, retain_graph=True)
        trace = trace + row[:, i]
        frobenius = frobenius + row.pow(2).sum(1)
    return trace, frobenius


def hutchinson_divergence(v: Tensor, x: Tensor, probe: Tensor, create_graph: bool) -> tuple[Tensor, Tensor]:
    """Return the unbiased estimates εᵀ(∂v/∂x)ε of the trace and ‖εᵀ∂v/∂x‖² of ‖∂v/∂x‖²_F, shape (B,)."""
    (vjp,) = torch.autograd.grad(v, x, probe, create_graph=create_graph, retain_graph=True)
    return (vjp * probe).sum(1), vjp.pow(2).sum(1)


def draw_probe(like: Tensor, kind: str) -> Tensor:
    """A probe ε shaped like `like`: Rademacher ±1 or standard normal; E[εεᵀ] = I either way."""
    if kind == "gaussian":
        return torch.randn_like(like)
    return torch.randint(0, 2, like.shape, device=like.device).to(like.dtype) * 2 - 1
