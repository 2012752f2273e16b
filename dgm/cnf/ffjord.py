"""FFJORD (Grathwohl et al., 2019): a free-form velocity network trained by maximum likelihood
through the ODE, with Hutchinson's trace estimator; regularised as in RNODE (Finlay et al., 2020)
by the objective `rnode`: kinetic energy ∫ ½‖v‖² dt and Jacobian norm ∫ ‖∂v/∂x‖²_F dt."""

from __future__ import annotations

from torch import Tensor, nn

from dgm.cnf.cnf import ContinuousFlow, time_features
from dgm.nn import MLP, activation_class
from dgm.registry import MODELS

#: Smooth activations only: training differentiates the divergence, so ∂²v/∂x² must not vanish.
SMOOTH_ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "softplus": nn.Softplus, "silu": nn.SiLU}


def velocity_network(d: int, context_features: int, hidden: tuple[int, ...], activation: str) -> nn.Module:
    """An MLP [x, t, c] → v with a zero-initialised last layer: the flow starts as the identity."""
    return MLP(
        d + 1 + context_features,
        d,
        tuple(hidden),
        activation=activation_class(activation, SMOOTH_ACTIVATIONS),
        zero_last=True,
    )


@MODELS.register("ffjord", "FFJORD: free-form continuous flow, Hutchinson trace, RNODE regularisation")
class FFJORD(ContinuousFlow):
    """Creates an FFJORD flow dx/dt = v_θ([x, t, c]), v_θ an MLP; see `ContinuousFlow` for the
    solver and trace arguments. Trained by the `rnode` objective (maximum likelihood with kinetic
    and Jacobian regularisation) unless another is named.

    Args:
        hidden: widths of the hidden layers of v_θ.
        activation: tanh | softplus | silu.
    """

    default_objective = "rnode"
    may_be_zero = ("context_features",)

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        hidden: tuple[int, ...] = (64, 64, 64),
        activation: str = "tanh",
        context_features: int = 0,
        solver: str = "rk4",
        steps: int = 8,
        eval_solver: str = "dopri5",
        eval_steps: int = 16,
        atol: float = 1e-5,
        rtol: float = 1e-5,
        trace: str = "hutchinson",
        eval_trace: str = "auto",
        probe: str = "rademacher",
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
            trace=trace,
            eval_trace=eval_trace,
            probe=probe,
        )
        self.net = velocity_network(self.dim, context_features, hidden, activation)

    def velocity(self, x: Tensor, t: float | Tensor, c: Tensor | None = None) -> Tensor:
        return self.net(time_features(x, t, c))
