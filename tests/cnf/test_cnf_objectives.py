"""The continuous flows' objectives on their models: terms, weights, the box constraint."""

from __future__ import annotations

import pytest
import torch

import dgm.catalog  # noqa: F401
import dgm.registry
from dgm.build import build_objective, checked_arguments, route_arguments
from dgm.cnf.coupling import couple
from dgm.cnf.objectives import RNODE, ConditionalFlowMatching, OTFlowObjective
from dgm.cnf.otflow import OTFlow
from dgm.errors import DgmError
from dgm.models.gaussian import Gaussian
from dgm.objectives.base import StepContext
from dgm.registry import OBJECTIVES


def test_otflow_loss_is_the_weighted_sum_of_its_terms() -> None:
    torch.manual_seed(0)
    model, x = OTFlow((2,)), torch.randn(32, 2)
    objective = OTFlowObjective(alpha=(2.0, 10.0, 5.0))
    loss, terms = objective.loss("model", model, (x,), StepContext(0))
    assert set(terms) == {"nll", "transport", "hjb"}
    want = 2 * terms["transport"] + 10 * terms["nll"] + 5 * terms["hjb"]
    assert torch.allclose(loss.detach(), want)
    assert torch.allclose(terms["nll"], -model.log_prob(x).mean().detach(), atol=1e-5)


def test_otflow_regularisers_may_be_switched_off_but_not_the_likelihood() -> None:
    torch.manual_seed(0)
    model, x = OTFlow((2,)), torch.randn(32, 2)
    objective = build_objective("otflow", {"alpha": [1, 10, 0]})  # the HJB ablation
    loss, terms = objective.loss("model", model, (x,), StepContext(0))
    assert torch.allclose(loss.detach(), terms["transport"] + 10 * terms["nll"])
    with pytest.raises(DgmError, match="α_C, the weight of the NLL, must be positive"):
        build_objective("otflow", {"alpha": [1, 0, 5]})
    with pytest.raises(DgmError, match="must be non-negative"):
        build_objective("otflow", {"alpha": [-1, 10, 5]})


def test_otflow_clamps_every_parameter_after_a_step() -> None:
    model = OTFlow((2,))
    with torch.no_grad():
        model.potential.w.fill_(3.0)
        model.potential.A.fill_(-2.0)
    OTFlowObjective(clamp=1.5).after_step("model", model)
    assert all(p.abs().max() <= 1.5 for p in model.parameters())


def test_rnode_without_regularisers_is_maximum_likelihood() -> None:
    torch.manual_seed(0)
    model = dgm.registry.MODELS.get("ffjord")((2,), trace="exact")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(16, 2)
    plain, terms = RNODE(kinetic=0.0, jacobian=0.0).loss("model", model, (x,), StepContext(0))
    assert torch.allclose(plain.detach(), terms["nll"])
    regular, terms = RNODE(kinetic=1.0, jacobian=1.0).loss("model", model, (x,), StepContext(0))
    assert torch.allclose(regular.detach(), terms["nll"] + terms["transport"] + terms["jacobian"], atol=1e-6)
    assert terms["transport"] > 0 and terms["jacobian"] > 0


@pytest.mark.parametrize("coupling", ["independent", "ot"])
def test_flow_matching_regresses_on_the_pair_differences(coupling: str) -> None:
    """loss = mean ‖v(x_t, t) − (z − x)‖², x_t = (1 − t)x + tz, recomputed by hand from the same
    draws (z, then t); at initialisation v = 0, so it is the pairs' cost E‖z − x‖²."""
    model = dgm.registry.MODELS.get("flow-matching")((2,))
    x = torch.randn(256, 2) * 0.5 + 3
    objective = ConditionalFlowMatching(coupling=coupling)
    loss, terms = objective.loss("model", model, (x,), StepContext(0))
    assert torch.allclose(loss.detach(), terms["pair_cost"], rtol=1e-5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    torch.manual_seed(7)
    loss, _ = objective.loss("model", model, (x,), StepContext(0))
    torch.manual_seed(7)
    z = torch.randn(256, 2)
    t = torch.rand(256, 1)
    if coupling == "ot":
        z = couple(x, z, "ot")
    with torch.no_grad():
        want = (model.velocity((1 - t) * x + t * z, t) - (z - x)).pow(2).sum(1).mean()
    assert torch.allclose(loss.detach(), want, rtol=1e-5)


def test_ot_coupling_shortens_the_pairs() -> None:
    model = dgm.registry.MODELS.get("flow-matching")((2,))
    x = torch.randn(256, 2) * 0.5
    costs = {}
    for coupling in ("independent", "ot"):
        torch.manual_seed(0)
        objective = ConditionalFlowMatching(coupling=coupling)
        costs[coupling] = objective.loss("model", model, (x,), StepContext(0))[1]
    assert costs["ot"]["pair_cost"] < 0.8 * costs["independent"]["pair_cost"]


def test_cnf_objectives_refuse_other_models() -> None:
    for name in ("otflow", "rnode", "cfm"):
        with pytest.raises(DgmError, match="continuous flows"):
            build_objective(name, {}).loss("model", Gaussian((2,)), (torch.randn(4, 2),), StepContext(0))


def test_objective_arguments_are_checked_and_routed() -> None:
    assert checked_arguments("cfm", {"coupling": "ot"}, OBJECTIVES) == {"coupling": "ot"}
    with pytest.raises(DgmError, match="objective_args.sigma of 'cfm' must be non-negative"):
        build_objective("cfm", {"sigma": -1})
    with pytest.raises(DgmError, match="coupling must be one of independent, ot"):
        build_objective("cfm", {"coupling": "sinkhorn"})
    with pytest.raises(DgmError, match="objective 'otflow' has no argument 'coupling'"):
        build_objective("otflow", {"coupling": "ot"})
    routed = route_arguments({"model": "flow-matching", "coupling": "ot", "hidden": [32], "seed": 1})
    assert routed == {
        "model": "flow-matching",
        "objective_args": {"coupling": "ot"},
        "model_args": {"hidden": [32]},
        "seed": 1,
    }
    # a key nobody takes stays where RunConfig.from_dict names it as unknown
    assert route_arguments({"model": "nsf", "nonsense": 1}) == {"model": "nsf", "nonsense": 1}
    with pytest.raises(DgmError, match="unknown objective 'cfmm'"):
        route_arguments({"model": "flow-matching", "objective": "cfmm", "coupling": "ot"})
    with pytest.raises(DgmError, match="coupling is given twice"):
        route_arguments(
            {"model": "flow-matching", "coupling": "ot", "objective_args": {"coupling": "independent"}}
        )


def test_reflow_regresses_on_the_teachers_own_pairs() -> None:
    """With a teacher whose flow is the identity (v = 0 at initialisation), x = φ(z) = z: every
    pair has length 0; with a trained-looking teacher (perturbed), the pairs are (φ(z), z)."""
    from dgm.build import build_model

    teacher = build_model("flow-matching", (2,), "none")
    objective = ConditionalFlowMatching(coupling="reflow", teacher="teacher-run")
    student = build_model("flow-matching", (2,), "none")
    objective.setup(student, lambda run: teacher if run == "teacher-run" else None)
    _, terms = objective.loss("model", student, (torch.randn(64, 2),), StepContext(0))
    assert terms["pair_cost"] < 1e-10
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(0.3 * torch.randn_like(p))
    batch = (torch.randn(64, 2),)  # its values are unused: reflow draws z and asks the teacher
    torch.manual_seed(5)
    _, terms = objective.loss("model", student, batch, StepContext(0))
    torch.manual_seed(5)
    z = torch.randn(64, 2)
    with torch.no_grad():
        want = (z - teacher.core.flow(z, 1.0, 0.0)).pow(2).sum(1).mean()
    assert torch.allclose(terms["pair_cost"], want, rtol=1e-5)


def test_reflow_needs_a_teacher_and_only_reflow_takes_one() -> None:
    with pytest.raises(DgmError, match="coupling=reflow needs teacher=RUN"):
        build_objective("cfm", {"coupling": "reflow"})
    with pytest.raises(DgmError, match="coupling=reflow needs teacher=RUN"):
        build_objective("cfm", {"coupling": "ot", "teacher": "runs/fm"})
    objective = build_objective("cfm", {"coupling": "reflow", "teacher": "runs/gaussian"})
    student = dgm.registry.MODELS.get("flow-matching")((2,))
    with pytest.raises(DgmError, match="trains continuous flows"):
        objective.setup(student, lambda run: Gaussian((2,)))
    with pytest.raises(
        DgmError, match=r"models data of shape \(3,\) with 0 classes; this model's data have shape \(2,\)"
    ):
        objective.setup(student, lambda run: dgm.registry.MODELS.get("flow-matching")((3,)))
    fresh = build_objective("cfm", {"coupling": "reflow", "teacher": "runs/fm"})
    with pytest.raises(DgmError, match="the teacher is loaded by setup"):  # not independent pairs
        fresh.loss("model", student, (torch.randn(8, 2),), StepContext(0))


def test_objectives_refuse_models_they_cannot_train_before_training() -> None:
    with pytest.raises(DgmError, match="needs the cost 'jacobian', which OTFlow lacks"):
        build_objective("rnode", {}).setup(OTFlow((2,)), lambda run: None)
    with pytest.raises(DgmError, match="trains continuous flows"):
        build_objective("cfm", {}).setup(Gaussian((2,)), lambda run: None)
