"""Flow matching: a velocity field regressed on straight paths between coupled pairs, trained
without simulation (objective `cfm`), and a density model like every other continuous flow.

With data x at t = 0 and noise z at t = 1, the path x_t = (1 − t)·x + t·z (+ σ·ε) has the
conditional velocity u_t = z − x; minimising E‖v_θ(x_t, t) − u_t‖² over pairs (x, z) from a
coupling makes v_θ the marginal field that carries the data distribution to N(0, I) (Lipman et
al., 2023; Liu et al., 2023; Tong et al., 2024). log p(x) then comes from the same ODE.
"""

from __future__ import annotations

from torch import Tensor

from dgm.cnf.cnf import ContinuousFlow, time_features
from dgm.cnf.ffjord import velocity_network
from dgm.registry import MODELS


@MODELS.register("flow-matching", "flow matching (I-CFM / OT-CFM): simulation-free, exact ODE likelihood")
class FlowMatching(ContinuousFlow):
    """Creates a flow-matching model: dx/dt = v_θ([x, t, c]), an MLP; see `ContinuousFlow` for the
    solver arguments (training needs none: the objective `cfm` never integrates).

    Args:
        hidden: widths of the hidden layers of v_θ.
        activation: silu | tanh | softplus.
    """

    default_objective = "cfm"
    default_steps = 20000  # cheap steps (no ODE): KL 0.04 on moons at 20k, 0.07 at 10k
    may_be_zero = ("context_features",)

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        hidden: tuple[int, ...] = (64, 64, 64),
        activation: str = "silu",
        context_features: int = 0,
        solver: str = "rk4",
        steps: int = 8,
        eval_solver: str = "dopri5",
        eval_steps: int = 16,
        atol: float = 1e-5,
        rtol: float = 1e-5,
        eval_trace: str = "auto",
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
            eval_trace=eval_trace,
        )
        self.net = velocity_network(self.dim, context_features, hidden, activation)

    def velocity(self, x: Tensor, t: float | Tensor, c: Tensor | None = None) -> Tensor:
        return self.net(time_features(x, t, c))
