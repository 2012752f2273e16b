"""Objectives of the continuous flows: regularised maximum likelihood through the ODE (OT-Flow,
RNODE) and simulation-free conditional flow matching."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from dgm.cnf.cnf import ContinuousFlow
from dgm.cnf.coupling import COUPLINGS, couple
from dgm.errors import DgmError
from dgm.models.base import GenerativeModel
from dgm.objectives.base import Objective, OptimSettings, Player, StepContext, postprocessed, preprocessed
from dgm.registry import OBJECTIVES


def _flow(model: GenerativeModel, objective: str) -> ContinuousFlow:
    core = getattr(model, "core", model)
    if not isinstance(core, ContinuousFlow):
        raise DgmError(f"objective {objective!r} trains continuous flows; {type(core).__name__} is not one")
    return core


class RegularisedLikelihood(Objective):
    """loss = α_C·E[−log p(x)] + Σ_k α_k·E[C_k(x)], C_k the costs integrated along x's path."""

    name = ""

    def weights(self) -> tuple[float, dict[str, float]]:
        """α_C and the weights α_k of the model's costs by name."""
        raise NotImplementedError

    def setup(self, model: GenerativeModel, load_run: Callable[[str], GenerativeModel]) -> None:
        flow = _flow(model, self.name)
        missing = sorted(set(self.weights()[1]) - set(flow.cost_names))
        if missing:
            raise DgmError(
                f"objective {self.name!r} needs the cost {missing[0]!r}, which {type(flow).__name__} lacks "
                f"(it integrates {', '.join(flow.cost_names)}); train it with its own objective"
            )

    def loss(
        self, player: str, model: GenerativeModel, batch: tuple[Tensor, ...], ctx: StepContext
    ) -> tuple[Tensor, dict[str, Tensor]]:
        flow = _flow(model, self.name)
        y, ladj = preprocessed(model, batch[0])
        log_p, costs = flow.log_prob_and_costs(y, *batch[1:])
        nll = -(log_p + ladj).mean()
        alpha_nll, alphas = self.weights()
        terms = {name: costs[name].mean() for name in alphas}
        loss = alpha_nll * nll + sum(alphas[name] * terms[name] for name in alphas)
        return loss, {"nll": nll.detach(), **{k: v.detach() for k, v in terms.items()}}


@OBJECTIVES.register("otflow", "OT-Flow: α_L·transport cost + α_C·NLL + α_R·HJB residual, parameters clamped")
class OTFlowObjective(RegularisedLikelihood):
    """J = α_L·E[L] + α_C·E[C] + α_R·E[R] (Onken et al., 2021): L = ∫ ½‖v‖² dt the transport cost,
    C = −log p(x) and R = ∫ |∂ₜΦ − ½‖∇Φ‖²| dt the HJB residual; after every step each parameter
    is clamped to [−clamp, clamp] (OT-Flow's box constraint).

    Args:
        alpha: (α_L, α_C, α_R); the seed's moons experiment uses (1, 10, 5). α_L or α_R may be 0
            (an ablation of that regulariser); α_C may not, or nothing fits the data.
        clamp: the bound of the box constraint.
    """

    name = "otflow"
    players = (Player("model", OptimSettings(lr=1e-2)),)
    may_be_zero = ("alpha",)

    def __init__(self, *, alpha: tuple[float, ...] = (1.0, 10.0, 5.0), clamp: float = 1.5) -> None:
        if len(alpha) != 3:
            raise ValueError(f"alpha must be three weights (α_L, α_C, α_R), got {list(alpha)}")
        if alpha[1] <= 0:
            raise ValueError(f"alpha's α_C, the weight of the NLL, must be positive, got {list(alpha)}")
        self.alpha, self.clamp = tuple(alpha), clamp

    def weights(self) -> tuple[float, dict[str, float]]:
        return self.alpha[1], {"transport": self.alpha[0], "hjb": self.alpha[2]}

    def after_step(self, player: str, model: GenerativeModel) -> None:
        with torch.no_grad():
            for p in _flow(model, self.name).parameters():
                p.clamp_(-self.clamp, self.clamp)


@OBJECTIVES.register("rnode", "RNODE: NLL + λ_K·kinetic energy + λ_J·Jacobian Frobenius norm")
class RNODE(RegularisedLikelihood):
    """loss = E[−log p(x)] + λ_K·E[∫ ½‖v‖² dt] + λ_J·E[∫ ‖∂v/∂x‖²_F dt] (Finlay et al., 2020); with
    Hutchinson's trace the Frobenius norm is estimated by the same probe, ‖εᵀ∂v/∂x‖².

    Args:
        kinetic: λ_K (0 for plain FFJORD).
        jacobian: λ_J (0 for plain FFJORD).
    """

    name = "rnode"
    players = (Player("model", OptimSettings(lr=1e-2)),)  # moons, 500 steps: NLL 0.39 (1e-3: 0.65)
    may_be_zero = ("kinetic", "jacobian")

    def __init__(self, *, kinetic: float = 0.01, jacobian: float = 0.01) -> None:
        self.kinetic, self.jacobian = kinetic, jacobian

    def weights(self) -> tuple[float, dict[str, float]]:
        return 1.0, {"transport": self.kinetic, "jacobian": self.jacobian}


@OBJECTIVES.register("cfm", "conditional flow matching: E‖v(x_t, t) − (z − x)‖², independent or OT coupling")
class ConditionalFlowMatching(Objective):
    """loss = E_{t, (x, z)} ‖v_θ(x_t, t; c) − (z − x)‖², x_t = (1 − t)·x + t·z + σ·ε, t ~ U[0, 1],
    (x, z) from the coupling of the data batch with N(0, I) noise (on preprocessed data y = T(x)).

    Reflow (Liu et al., 2023) regresses instead on a trained flow's own pairs: z ~ N(0, I) and
    x = φ(z) its sample from z; the new flow's paths are straighter, so fewer steps sample well.

    Args:
        coupling: independent (I-CFM), ot (exact minibatch OT pairing, OT-CFM) or reflow.
        sigma: σ, the width of the Gaussian tube around each straight path (0: the lines). With
            σ > 0 the path's ends are the data and N(0, I) each blurred by N(0, σ²I), while
            `log_prob` and `sample` take N(0, I) at t = 1: keep σ small (≤ 0.1) for a likelihood.
        teacher: for reflow, the run folder of the trained continuous flow whose pairs are used.
    """

    players = (Player("model", OptimSettings(lr=1e-2)),)  # measured best on moons (1e-3 … 1e-2)
    may_be_zero = ("sigma",)

    def __init__(self, *, coupling: str = "independent", sigma: float = 0.0, teacher: str = "") -> None:
        if coupling not in COUPLINGS:
            raise ValueError(f"coupling must be one of {', '.join(COUPLINGS)}, got {coupling!r}")
        if (coupling == "reflow") != bool(teacher):
            raise ValueError(
                "coupling=reflow needs teacher=RUN (a trained continuous flow); no other coupling takes one"
            )
        self.coupling, self.sigma, self.teacher_run = coupling, sigma, teacher
        self.teacher: GenerativeModel | None = None

    def setup(self, model: GenerativeModel, load_run: Callable[[str], GenerativeModel]) -> None:
        _flow(model, "cfm")
        if self.teacher_run:
            teacher = load_run(self.teacher_run)
            _flow(teacher, "cfm")  # the teacher must be a continuous flow too
            mine = (tuple(model.event_shape), model.context_features)
            theirs = (tuple(teacher.event_shape), teacher.context_features)
            if mine != theirs:
                raise DgmError(
                    f"the reflow teacher {self.teacher_run} models data of shape {theirs[0]} with "
                    f"{theirs[1]} classes; this model's data have shape {mine[0]} and {mine[1]} classes"
                )
            self.teacher = teacher.eval().requires_grad_(False)

    def _teacher_pairs(
        self, model: GenerativeModel, n: int, d: int, c: Tensor | None, ctx: StepContext, like: Tensor
    ) -> tuple[Tensor, Tensor]:
        """(x, z): z ~ N(0, I) and x = φ(z) the teacher's sample, mapped into this model's
        preprocessed space (the two runs may have fitted their preprocessing differently)."""
        teacher = self.teacher
        p = next(teacher.parameters())
        if p.device != like.device:
            teacher.to(like.device)
            p = next(teacher.parameters())
        z = ctx.noise(n, d, like=like)
        with torch.no_grad():
            core = _flow(teacher, "cfm")
            sample = core.flow(z.to(p), 1.0, 0.0, None if c is None else c.to(p))
            return preprocessed(model, postprocessed(teacher, sample).to(like))[0], z

    def loss(
        self, player: str, model: GenerativeModel, batch: tuple[Tensor, ...], ctx: StepContext
    ) -> tuple[Tensor, dict[str, Tensor]]:
        flow = _flow(model, "cfm")
        x = preprocessed(model, batch[0])[0]
        c = batch[1] if len(batch) > 1 else None
        n, d = x.shape
        if self.coupling == "reflow":
            if self.teacher is None:
                raise DgmError("coupling=reflow: the teacher is loaded by setup(), which was not called")
            x, z = self._teacher_pairs(model, n, d, c, ctx, x)
        else:
            z = couple(x, ctx.noise(n, d, like=x), self.coupling, None if c is None else c.argmax(1))
        t = ctx.uniform(n, 1, like=x)
        xt = (1 - t) * x + t * z
        if self.sigma:
            xt = xt + self.sigma * ctx.noise(n, d, like=x)
        loss = (flow.velocity(xt, t, c) - (z - x)).pow(2).sum(1).mean()
        return loss, {"pair_cost": (z - x).pow(2).sum(1).mean()}
