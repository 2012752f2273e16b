"""A continuous normalizing flow: an ODE carries data to the latent space.

dx/dt = v(x, t; c) moves x(0) = x (data) to z = x(1) (latent, p_Z = N(0, I)). Along the path
the log-density obeys the instantaneous change of variables d log p(x(t))/dt = −tr ∂v/∂x, so

    log p(x) = log p_Z(z) + ℓ(1),    ℓ(t) = ∫₀ᵗ tr ∂v/∂x(x(s), s) ds,

the continuous analogue of a finite flow's log|det ∂f/∂x|. Integrated with the state: the
transport cost ∫ ½‖v‖² dt and the model's other regularisers (`cost_names`). Sampling runs the
ODE backwards from z ~ N(0, I) at t = 1 to t = 0.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from dgm.cnf.divergence import PROBES, draw_probe, exact_divergence, hutchinson_divergence
from dgm.cnf.ode import Solver, odeint
from dgm.distributions import standard_normal
from dgm.models.base import GenerativeModel

#: Above this dimension an evaluation estimates the divergence (Hutchinson) instead of taking d
#: backward passes per function evaluation (unless eval_trace says otherwise); the report names
#: the estimate.
EXACT_TRACE_MAX_DIM = 32


class ContinuousFlow(GenerativeModel):
    """Base class of the continuous flows: subclasses define the velocity v(x, t; c).

    Args:
        event_shape: (d,).
        context_features: size of the context c (0: unconditional).
        solver, steps: how training integrates (euler | rk4 with `steps` steps, or dopri5).
        eval_solver, eval_steps: how evaluation and sampling integrate (OT-Flow uses more steps).
        atol, rtol: dopri5's tolerances.
        trace: "exact" divergence or a "hutchinson" estimate in training.
        eval_trace: the same for evaluation and sampling's likelihoods; "auto" is exact up to
            d = 32 and a Hutchinson estimate of log p (one probe per point) above, unbiased with a
            fixed-step solver (dopri5's steps depend on the probe: biased to its tolerance).
        probe: Hutchinson's probe distribution (rademacher | gaussian).
    """

    density = "exact"
    data_kinds = ("points",)
    default_steps = 2000
    validation_points = 2000
    density_grid = 200  # a smooth density: the midpoint rule is still exact to ~1e-4 on the toys
    #: quantities integrated along the path besides ℓ, per unit time (see `rates`).
    cost_names: tuple[str, ...] = ("transport", "jacobian")

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        context_features: int = 0,
        solver: str = "rk4",
        steps: int = 8,
        eval_solver: str = "rk4",
        eval_steps: int = 16,
        atol: float = 1e-5,
        rtol: float = 1e-5,
        trace: str = "exact",
        eval_trace: str = "auto",
        probe: str = "rademacher",
    ) -> None:
        super().__init__(event_shape)
        if len(event_shape) != 1:
            raise ValueError(f"{type(self).__name__} models vectors, not data of shape {tuple(event_shape)}")
        if trace not in ("exact", "hutchinson"):
            raise ValueError(f"trace must be 'exact' or 'hutchinson', got {trace!r}")
        if eval_trace not in ("auto", "exact", "hutchinson"):
            raise ValueError(f"eval_trace must be 'auto', 'exact' or 'hutchinson', got {eval_trace!r}")
        if probe not in PROBES:
            raise ValueError(f"probe must be one of {', '.join(PROBES)}, got {probe!r}")
        self.context_features = context_features
        self.train_solver = Solver(solver, steps, atol, rtol)
        self.eval_solver = Solver(eval_solver, eval_steps, atol, rtol)
        self.train_trace, self.eval_trace, self.probe = trace, eval_trace, probe
        self.nfe = 0  # function evaluations of the latest log-density solve

    @classmethod
    def check_arguments(cls, given: dict[str, Any], event_shape: tuple[int, ...]) -> None:
        """Refuse `steps` for a dopri5 training solver (which picks its own) and a `probe` where
        neither training nor evaluation estimates the trace. `eval_steps` and the tolerances stay
        accepted with any solver: `dgm evaluate --solver` may switch to the solver that uses them."""
        defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()}
        args = defaults | given
        if "steps" in given and args.get("solver") == "dopri5":
            raise ValueError("steps sets a fixed-step solver's steps; solver dopri5 chooses its own")
        eval_trace = args.get("eval_trace", "exact")
        estimates = (
            args.get("trace") == "hutchinson"
            or eval_trace == "hutchinson"
            or (eval_trace == "auto" and math.prod(event_shape) > EXACT_TRACE_MAX_DIM)
        )
        if "probe" in given and not estimates:
            raise ValueError(
                "probe is the Hutchinson estimator's, and this model takes the exact trace "
                "(set trace=hutchinson or eval_trace=hutchinson)"
            )

    # -- the field ---------------------------------------------------------------------------

    def velocity(self, x: Tensor, t: float | Tensor, c: Tensor | None = None) -> Tensor:
        """v(x, t; c), shape (B, d); t one time for all rows (a solve) or a (B, 1) column."""
        raise NotImplementedError

    @property
    def solver(self) -> Solver:
        """The solver of the current mode: training's, or evaluation's in eval mode."""
        return self.train_solver if self.training else self.eval_solver

    def use_solver(self, method: str | None = None, steps: int | None = None) -> None:
        """Evaluate and sample with another solver or step count (`dgm sample --solver --steps`)."""
        given = {k: v for k, v in (("method", method), ("steps", steps)) if v is not None}
        self.eval_solver = replace(self.eval_solver, **given)

    def _estimates_trace(self, training: bool | None = None) -> bool:
        """Whether the divergence is Hutchinson's estimate in training (or evaluation) mode, by
        default the current one."""
        if self.training if training is None else training:
            return self.train_trace == "hutchinson"
        if self.eval_trace == "auto":
            return self.dim > EXACT_TRACE_MAX_DIM
        return self.eval_trace == "hutchinson"

    def rates(
        self, x: Tensor, t: float | Tensor, c: Tensor | None, probe: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Return v, tr ∂v/∂x (shape (B,)) and the cost rates (B, len(cost_names)) at (x, t):
        ½‖v‖² and ‖∂v/∂x‖²_F; with a `probe`, the trace and the Frobenius norm are Hutchinson's
        estimates."""
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            if not keep_graph or not x.requires_grad:
                x = x.detach().requires_grad_()
            v = self.velocity(x, t, c)
            if probe is None:
                div, frobenius = exact_divergence(v, x, create_graph=keep_graph)
            else:
                div, frobenius = hutchinson_divergence(v, x, probe, create_graph=keep_graph)
        costs = torch.stack([0.5 * v.pow(2).sum(1), frobenius], 1)
        if not keep_graph:
            v, div, costs = v.detach(), div.detach(), costs.detach()
        return v, div, costs

    # -- integration -------------------------------------------------------------------------

    def integrate(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Carry data x to z = x(1); return z, ℓ(1) = ∫ tr ∂v/∂x dt (= log|det ∂z/∂x|) and the
        integrated costs by name, each shape (B,)."""
        probe = draw_probe(x, self.probe) if self._estimates_trace() else None

        def dynamics(t: float | Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
            v, div, costs = self.rates(state[0], t, c, probe)
            return v, torch.cat([div[:, None], costs], 1)

        acc = x.new_zeros(x.shape[0], 1 + len(self.cost_names))
        (z, acc), nfe = odeint(dynamics, (x, acc), 0.0, 1.0, self.solver)
        if not self.training:
            self.nfe = nfe
        return z, acc[:, 0], {name: acc[:, 1 + i] for i, name in enumerate(self.cost_names)}

    def log_prob_and_costs(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """log p(x | c) and the integrated costs (transport, regularisers) of x's path."""
        z, ladj, costs = self.integrate(x, c)
        return standard_normal(self.event_shape, z).log_prob(z) + ladj, costs

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.log_prob_and_costs(x, c)[0]

    def inverse(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Map data to latent: z = x(1), the flow's f(x)."""
        return self.flow(x, 0.0, 1.0, c)

    def flow(
        self, x: Tensor, t0: float, t1: float, c: Tensor | None = None, steps: int | None = None
    ) -> Tensor:
        """Move points x from time t0 to t1 along v (no log-density): the flow map φ_{t0→t1}."""
        solver = self.solver if steps is None else replace(self.solver, steps=steps)
        (y,), _ = odeint(lambda t, s: (self.velocity(s[0], t, c),), (x,), t0, t1, solver)
        return y

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        like = next(self.parameters())
        z = standard_normal(self.event_shape, like).sample((n,))
        return self.flow(z, 1.0, 0.0, c)

    def trajectory(self, x: Tensor, c: Tensor | None = None, frames: int = 8) -> list[Tensor]:
        """States x(t) at `frames` + 1 equally spaced times from data (t = 0) to latent (t = 1)."""
        states = [x]
        steps = max(1, self.solver.steps // frames)
        for k in range(frames):
            states.append(self.flow(states[-1], k / frames, (k + 1) / frames, c, steps=steps))
        return states

    @property
    def log_prob_probes(self) -> int:
        return 1 if self._estimates_trace(False) else 0  # one probe per point, drawn once per solve

    def diagnostics(self) -> dict[str, float | str]:
        probes = self.log_prob_probes
        trace = f"hutchinson estimate ({probes} probe per point)" if probes else "exact"
        return {"nfe": self.nfe, "solver": self.eval_solver.describe(), "trace": trace}


def time_features(x: Tensor, t: float | Tensor, c: Tensor | None) -> Tensor:
    """The network input [x, t, c]: the state, the time (one for all rows, or one per row) as a
    column and the context."""
    if isinstance(t, Tensor):  # differentiable: an adaptive solver's times depend on x
        time = t.to(x).reshape(-1, 1).expand(x.shape[0], 1)
    else:
        time = x.new_full((x.shape[0], 1), float(t))
    parts = [x, time]
    if c is not None:
        parts.append(c.to(x))
    return torch.cat(parts, 1)
