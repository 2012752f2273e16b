"""Every continuous flow in the registry: the ODE log-density is a log-density."""

from __future__ import annotations

import math

import pytest
import torch

import dgm.catalog  # noqa: F401
from dgm.build import build_model, model_arguments
from dgm.cnf import ContinuousFlow, Solver, odeint
from dgm.cnf.divergence import draw_probe, exact_divergence, hutchinson_divergence
from dgm.data.base import DataSource, seeded_split
from dgm.metrics import evaluate
from dgm.registry import MODELS

CNFS = [e.name for e in MODELS if issubclass(e.obj, ContinuousFlow)]


def _model(name: str, d: int = 2, **kwargs: object) -> ContinuousFlow:
    """A CNF with random (not identity) weights, in float64, evaluated with a fine fixed-step RK4."""
    torch.manual_seed(0)
    model = MODELS.get(name)((d,), eval_solver="rk4", eval_steps=64, **kwargs).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
        if hasattr(model, "potential"):  # OT-Flow starts from a strong contraction (w = 1): damp it
            model.potential.w.mul_(0.1)
    return model.eval()


def test_every_cnf_is_registered() -> None:
    assert {"otflow", "ffjord", "flow-matching"} <= set(CNFS)


@pytest.mark.parametrize("name", CNFS)
def test_log_det_equals_the_jacobian_of_the_ode_map(name: str) -> None:
    """ℓ(1) = ∫ tr ∂v/∂x dt equals log|det ∂z/∂x| of the solver's map (autograd through it)."""
    model = _model(name, d=3)
    model.use_solver("rk4", 128)
    x = torch.randn(4, 3, dtype=torch.float64)
    with torch.no_grad():
        _, ladj, _ = model.integrate(x)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda y: model.inverse(y[None])[0], x[i])
        assert abs(torch.linalg.slogdet(jac)[1].item() - ladj[i].item()) < 1e-6 * max(1, abs(ladj[i].item()))


@pytest.mark.parametrize("name", CNFS)
@pytest.mark.parametrize("solver", ["rk4", "dopri5"])
def test_forward_then_backward_returns_the_start(name: str, solver: str) -> None:
    model = _model(name)
    model.eval_solver = Solver(solver, 64, atol=1e-10, rtol=1e-10)
    x = torch.randn(16, 2, dtype=torch.float64)
    with torch.no_grad():
        back = model.flow(model.inverse(x), 1.0, 0.0)
    assert (back - x).abs().max() < 1e-6


@pytest.mark.parametrize("name", CNFS)
def test_density_integrates_to_one(name: str) -> None:
    """∫ p(x) dx = 1 on a grid that covers the model's samples with a margin (random weights)."""
    model = _model(name)
    model.use_solver("rk4", 16)
    with torch.no_grad():
        reach = model.sample(4000).abs().max().item() * 1.5
    ticks = torch.linspace(-reach, reach, 161, dtype=torch.float64)
    grid = torch.cartesian_prod(ticks, ticks)
    with torch.no_grad():
        mass = model.log_prob(grid).exp().sum().item() * (ticks[1] - ticks[0]).item() ** 2
    assert abs(mass - 1) < 0.01


@pytest.mark.parametrize("name", CNFS)
def test_samples_are_finite_and_drawn_with_the_reported_solver(name: str) -> None:
    model = _model(name)
    calls = []
    velocity = model.velocity
    model.velocity = lambda *a: calls.append(1) or velocity(*a)  # type: ignore[method-assign]
    torch.manual_seed(3)
    with torch.no_grad():
        x = model.sample(500)
    assert x.shape == (500, 2) and torch.isfinite(x).all()
    assert model.diagnostics()["solver"] == "rk4, 64 steps" and len(calls) == 4 * 64


class _GaussianPath(ContinuousFlow):
    """The exact flow-matching field of data N(μ, s²I) under the independent coupling: with
    x_t = (1 − t)x + t z, v(x, t) = E[z − x | x_t] = −μ + (t − (1 − t)s²)/((1 − t)²s² + t²)·(x − (1 − t)μ),
    whose flow carries N(μ, s²I) at t = 0 onto N(0, I) at t = 1."""

    def __init__(self, mu: torch.Tensor, s: float) -> None:
        super().__init__((len(mu),), eval_solver="rk4", eval_steps=200)
        self.mu, self.s = mu, s
        self.dummy = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def velocity(
        self, x: torch.Tensor, t: float | torch.Tensor, c: torch.Tensor | None = None
    ) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=x.dtype)
        gain = (t - (1 - t) * self.s**2) / ((1 - t) ** 2 * self.s**2 + t**2)
        return -self.mu + gain * (x - (1 - t) * self.mu)


def test_the_exact_flow_matching_field_gives_the_data_density() -> None:
    """Ties the direction of integration and the sign of the trace to the cfm objective's target
    z − x: the analytic field's log_prob is log N(x; μ, s²I)."""
    mu, s = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), 0.6
    model = _GaussianPath(mu, s).eval()
    x = mu + s * torch.randn(6, 3, dtype=torch.float64)
    truth = torch.distributions.Normal(mu, s).log_prob(x).sum(1)
    with torch.no_grad():
        assert torch.allclose(model.log_prob(x), truth, atol=1e-6)
        z = model.inverse(x)
    assert torch.allclose(z, (x - mu) / s, atol=1e-6)  # the map N(μ, s²I) → N(0, I)


def test_evaluation_reports_the_nfe_of_the_test_data_solve() -> None:
    """With an adaptive solver the normalisation grid takes its own number of steps; the reported
    NFE is the test data's, as when the NLL is evaluated alone."""
    from dgm.build import build_model
    from dgm.data import load_data
    from dgm.metrics import evaluate
    from dgm.metrics.evaluate import DIAGNOSTICS

    data = load_data("moons")
    model = build_model("flow-matching", (2,), "standardize", {"eval_solver": "dopri5"}).double()
    model.transform.fit(data.split("train").double())
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    model.core.density_grid = 50  # a coarse grid: this test needs its solve, not its accuracy
    alone = evaluate(model, data, "test", ["nll"])["nfe"]
    out = evaluate(model, data, "test", ["nll", "normalization"])
    assert out["nfe"] == alone != model.diagnostics()["nfe"]  # the model's latest solve: the grid's
    assert {k for k, v in model.diagnostics().items() if not isinstance(v, str)} <= DIAGNOSTICS.keys()


def test_hutchinson_is_unbiased_for_the_trace_and_the_frobenius_norm() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 4, dtype=torch.float64)
    v = torch.tanh(x @ w)
    trace, frobenius = exact_divergence(v, x, create_graph=False)
    for kind in ("rademacher", "gaussian"):
        probes = [draw_probe(x, kind) for _ in range(4000)]
        estimates = [hutchinson_divergence(v, x, probe, create_graph=False) for probe in probes]
        mean_trace = torch.stack([e[0] for e in estimates]).mean(0)
        mean_frob = torch.stack([e[1] for e in estimates]).mean(0)
        assert torch.allclose(mean_trace, trace, atol=0.15)
        assert torch.allclose(mean_frob, frobenius, rtol=0.1)


def test_classical_rk4_is_fourth_order() -> None:
    """dy/dt = y from 1: error of RK4 with h shrinks 16x when h halves (torchdiffeq's rk4 is the 3/8 rule)."""
    errors = []
    for steps in (4, 8):
        y0 = (torch.ones(1, dtype=torch.float64),)
        (y,), nfe = odeint(lambda t, s: (s[0],), y0, 0.0, 1.0, Solver("rk4", steps))
        errors.append(abs(y.item() - math.e))
        assert nfe == 4 * steps
    assert 14 < errors[0] / errors[1] < 17


def test_dopri5_counts_evaluations_and_meets_its_tolerance() -> None:
    y0 = (torch.ones(1, dtype=torch.float64),)
    (y,), nfe = odeint(lambda t, s: (-s[0] * t,), y0, 0.0, 2.0, Solver("dopri5", atol=1e-10, rtol=1e-10))
    assert abs(y.item() - math.exp(-2.0)) < 1e-8 and nfe > 6


@pytest.mark.parametrize("name", ["ffjord", "flow-matching"])
def test_above_32_dimensions_evaluation_estimates_the_trace_unless_told_exact(name: str) -> None:
    """eval_trace=auto: one Hutchinson probe per point above d = 32 (the diagnostics name it, and
    two evaluations differ); eval_trace=exact: the same log p twice, and it is the estimate's mean."""
    x = torch.randn(3, 40, dtype=torch.float64)
    estimated = _model(name, d=40)
    exact = _model(name, d=40, eval_trace="exact")
    for m in (estimated, exact):
        m.use_solver("rk4", 2)
    with torch.no_grad():
        first, second = estimated.log_prob(x), estimated.log_prob(x)
        assert not torch.allclose(first, second)
        assert estimated.diagnostics()["trace"] == "hutchinson estimate (1 probe per point)"
        truth = exact.log_prob(x)
        assert torch.equal(truth, exact.log_prob(x)) and exact.diagnostics()["trace"] == "exact"
        torch.manual_seed(1)
        mean = estimated.log_prob(x.repeat(400, 1)).reshape(400, 3).mean(0)  # a probe per row
    assert torch.allclose(mean, truth, atol=0.5), (mean, truth)


@pytest.mark.parametrize("name", CNFS)
def test_arguments_the_model_would_ignore_are_refused(name: str) -> None:
    model = MODELS.get(name)
    with pytest.raises(ValueError, match="solver dopri5 chooses its own"):
        model.check_arguments({"solver": "dopri5", "steps": 4}, (2,))
    model.check_arguments({"eval_solver": "dopri5", "eval_steps": 4}, (2,))  # `--solver rk4` uses it
    if "probe" in model_arguments(name):
        with pytest.raises(ValueError, match="takes the exact trace"):
            model.check_arguments({"probe": "gaussian", "trace": "exact", "eval_trace": "exact"}, (2,))
        model.check_arguments({"probe": "gaussian", "trace": "exact"}, (40,))  # estimated above d = 32
        model.check_arguments({"probe": "gaussian", "trace": "exact", "eval_trace": "hutchinson"}, (2,))


@pytest.mark.parametrize("eval_trace", ["auto", "exact"])
def test_an_estimated_log_density_is_named_so_in_the_report(eval_trace: str) -> None:
    """Above d = 32 the evaluated NLL is an estimate: `evaluate` reports its probes per point
    beside it and the model's reported density says so; with the exact trace, neither."""
    x = torch.randn(300, 40)
    data = DataSource("d40", "points", seeded_split(x))
    model = build_model("flow-matching", (40,), "standardize", {"eval_trace": eval_trace})
    model.transform.fit(data.split("train"))
    model.core.use_solver("rk4", 2)
    out = evaluate(model, data, "test", ["nll"])
    if eval_trace == "auto":
        assert model.log_prob_probes == 1 and out["nll_probes"] == 1
        assert model.reported_density() == "exact (trace estimated)"
        assert out["trace"] == "hutchinson estimate (1 probe per point)"
    else:
        assert model.log_prob_probes == 0 and "nll_probes" not in out
        assert model.reported_density() == "exact" and out["trace"] == "exact"
