"""OT-Flow (Onken, Wu Fung, Li & Ruthotto, 2021): a continuous flow whose velocity is the gradient
of a potential, with the exact trace of its Hessian in closed form.

The state s = (x, t, c). The potential

    Φ(s) = wᵀ N(s) + ½ sᵀAᵀA s + bᵀs

N a ResNet u₀ = σ(K₀s + b₀), u_i = u_{i−1} + h·σ(K_i u_{i−1} + b_i) (i = 1…L−1, h = 1/(L−1)),
σ(a) = log(2 cosh a) (so σ' = tanh, σ'' = 1 − tanh²), A of rank r (the paper's Φ adds a
constant, which no derivative sees: left out here). The velocity is v = −∇ₓΦ (the paper's
−∇ₓΦ/α_L with α_L = 1, its every experiment's choice); the objective
`otflow` penalises the transport cost ½‖v‖² and the Hamilton-Jacobi-Bellman residual
|∂ₜΦ − ½‖∇ₓΦ‖²| along the path, the optimality conditions of the L² transport problem.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dgm.cnf.cnf import ContinuousFlow, time_features
from dgm.registry import MODELS


def log_cosh(a: Tensor) -> Tensor:
    """σ(a) = log(2 cosh a) = |a| + log(1 + e^{−2|a|}), stable for large |a|."""
    return a.abs() + torch.log1p(torch.exp(-2 * a.abs()))


class Potential(nn.Module):
    """Creates Φ(s) on s ∈ R^n with a ResNet of `layers` layers of `width` units and a rank-`rank`
    quadratic; w starts at ones, b at zero, A Xavier-uniform (OT-Flow's initialisation)."""

    def __init__(self, n: int, width: int = 32, layers: int = 2, rank: int = 10) -> None:
        super().__init__()
        if layers < 2:
            raise ValueError(f"layers must be at least 2 (an opening layer and a residual one), got {layers}")
        self.opening = nn.Linear(n, width)
        self.residual = nn.ModuleList(nn.Linear(width, width) for _ in range(layers - 1))
        self.h = 1.0 / (layers - 1)
        self.w = nn.Parameter(torch.ones(width))
        self.A = nn.Parameter(nn.init.xavier_uniform_(torch.empty(min(rank, n), n)))
        self.b = nn.Parameter(torch.zeros(n))

    def forward(self, s: Tensor) -> Tensor:
        """Φ(s), shape (B,)."""
        u = log_cosh(self.opening(s))
        for layer in self.residual:
            u = u + self.h * log_cosh(layer(u))
        return u @ self.w + 0.5 * (s @ self.A.T).pow(2).sum(1) + s @ self.b

    def _backward(self, s: Tensor) -> tuple[list[Tensor], list[Tensor], Tensor]:
        """σ'(a_i) = tanh(a_i) of every layer, the adjoints z_i = ∂(wᵀu_{L−1})/∂u_{i−1} (z_L = w)
        and ∇_sΦ."""
        a = self.opening(s)
        u, slopes = log_cosh(a), [torch.tanh(a)]
        for layer in self.residual:
            a = layer(u)
            slopes.append(torch.tanh(a))
            u = u + self.h * log_cosh(a)
        z = [self.w.expand_as(u)]  # built from the last layer down, reversed below
        for slope, layer in zip(reversed(slopes[1:]), reversed(self.residual), strict=True):
            z.append(z[-1] + self.h * (slope * z[-1]) @ layer.weight)
        z.reverse()  # z[i] multiplies layer i's output: z[0] = z_1, …, z[L−1] = w
        grad = (slopes[0] * z[0]) @ self.opening.weight + s @ (self.A.T @ self.A) + self.b
        return slopes, z, grad

    def gradient(self, s: Tensor) -> Tensor:
        """∇_sΦ(s), shape (B, n), by the hand-written backward pass."""
        return self._backward(s)[2]

    def gradient_and_laplacian(self, s: Tensor, d: int) -> tuple[Tensor, Tensor]:
        """∇_sΦ and the exact trace of the Hessian over the first d coordinates, Σ_{k<d} ∂²Φ/∂s_k²:

        tr = Σ_j σ''(a₀)_j z₁_j ‖K₀[j, :d]‖² + h Σ_i Σ_j σ''(a_i)_j z_{i+1,j} ‖(K_i J_{i−1})_j‖²
             + tr((AᵀA)[:d, :d]),
        with J_i = ∂u_i/∂x propagated forward: J₀ = diag(σ'(a₀)) K₀[:, :d] and
        J_i = J_{i−1} + h diag(σ'(a_i)) K_i J_{i−1}.
        """
        slopes, z, grad = self._backward(s)
        k0 = self.opening.weight[:, :d]
        trace = ((1 - slopes[0].pow(2)) * z[0]) @ k0.pow(2).sum(1)
        jac = slopes[0][:, :, None] * k0  # (B, width, d)
        for i, layer in enumerate(self.residual, start=1):
            kj = torch.einsum("mn,bnd->bmd", layer.weight, jac)
            trace = trace + self.h * ((1 - slopes[i].pow(2)) * z[i] * kj.pow(2).sum(2)).sum(1)
            jac = jac + self.h * slopes[i][:, :, None] * kj
        quadratic = self.A[:, :d].pow(2).sum()  # tr((AᵀA)[:d, :d])
        return grad, trace + quadratic


@MODELS.register("otflow", "OT-Flow: potential flow, exact Hessian trace, transport + HJB penalties")
class OTFlow(ContinuousFlow):
    """Creates an OT-Flow model: v(x, t; c) = −∇ₓΦ(x, t, c). Trained by the `otflow` objective
    (α_L·transport + α_C·NLL + α_R·HJB, parameters clamped to [−1.5, 1.5]); the divergence is
    always exact (closed form, no autograd). Defaults follow the seed's moons experiment.

    Args:
        width: units m of the ResNet.
        layers: ResNet layers (OT-Flow's nTh, ≥ 2).
        rank: rank r of the quadratic term (at most d + 1 + context).
        solver, steps, eval_solver, eval_steps, atol, rtol: see `ContinuousFlow`.
    """

    cost_names = ("transport", "hjb")
    default_objective = "otflow"
    default_steps = 20000  # the seed's moons run: 20k steps of batch 256, RK4 with 4 steps
    may_be_zero = ("context_features",)

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        width: int = 32,
        layers: int = 2,
        rank: int = 10,
        context_features: int = 0,
        solver: str = "rk4",
        steps: int = 4,
        eval_solver: str = "rk4",
        eval_steps: int = 16,
        atol: float = 1e-5,
        rtol: float = 1e-5,
    ) -> None:
        super().__init__(
            event_shape,
            context_features=context_features,
            solver=solver,
            steps=steps,
            eval_solver=eval_solver,
            eval_steps=eval_steps,
            atol=atol,
            rtol=rtol,
        )
        self.potential = Potential(self.dim + 1 + context_features, width, layers, rank)

    def velocity(self, x: Tensor, t: float | Tensor, c: Tensor | None = None) -> Tensor:
        return -self.potential.gradient(time_features(x, t, c))[:, : self.dim]

    def rates(
        self, x: Tensor, t: float | Tensor, c: Tensor | None, probe: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """v = −∇ₓΦ, tr ∂v/∂x = −ΔₓΦ (exact, closed form; `probe` unused), and the rates
        ½‖∇ₓΦ‖² (transport) and |∂ₜΦ − ½‖∇ₓΦ‖²| (HJB residual)."""
        grad, laplacian = self.potential.gradient_and_laplacian(time_features(x, t, c), self.dim)
        gx, gt = grad[:, : self.dim], grad[:, self.dim]
        kinetic = 0.5 * gx.pow(2).sum(1)
        return -gx, -laplacian, torch.stack([kinetic, (gt - kinetic).abs()], 1)

    def _estimates_trace(self, training: bool | None = None) -> bool:
        return False  # the closed form is exact in every dimension

    def diagnostics(self) -> dict[str, float | str]:
        return {**super().diagnostics(), "trace": "exact (closed form)"}
