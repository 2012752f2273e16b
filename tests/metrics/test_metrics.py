"""Metrics: energy distance against its closed form, evaluation over the registry."""

from __future__ import annotations

import importlib
import math

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model
from dgm.data.base import DataSource, seeded_split
from dgm.errors import DgmError
from dgm.metrics import Evaluation, energy_distance, evaluate
from dgm.metrics.likelihood import mean_and_se
from dgm.models.base import GenerativeModel
from dgm.registry import METRICS


def test_energy_distance_matches_closed_form_for_shifted_normals() -> None:
    """For N(0,1) vs N(μ,1): 2E|X−Y| − E|X−X'| − E|Y−Y'| with X−Y ~ N(−μ, 2), X−X' ~ N(0, 2)."""
    mu = 1.0
    s = math.sqrt(2)
    e_abs = s * math.sqrt(2 / math.pi) * math.exp(-(mu**2) / 4) + mu * math.erf(mu / 2)
    exact = 2 * e_abs - 2 * (2 / math.sqrt(math.pi))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 1, generator=g, dtype=torch.float64)
    y = torch.randn(4000, 1, generator=g, dtype=torch.float64) + mu
    assert abs(energy_distance(x, y).item() - exact) < 0.02


def test_energy_distance_is_near_zero_for_one_law_and_symmetric() -> None:
    x, y = torch.randn(2000, 3, dtype=torch.float64), torch.randn(2000, 3, dtype=torch.float64)
    assert abs(energy_distance(x, y).item()) < 0.01
    assert energy_distance(x, y).item() == pytest.approx(energy_distance(y, x).item(), abs=1e-12)
    assert energy_distance(x, y + 0.5).item() > 0.1


def test_mean_and_se() -> None:
    m, se = mean_and_se(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert m == 2.5 and se == pytest.approx(torch.tensor([1.0, 2, 3, 4]).std().item() / 2)


def _gaussian_source() -> DataSource:
    x = torch.randn(3000, 2) * torch.tensor([2.0, 0.5])
    return DataSource("gauss", "points", seeded_split(x))


def test_evaluate_reports_every_applicable_metric() -> None:
    data = _gaussian_source()
    model = build_model("gaussian", (2,), "standardize")
    model.transform.fit(data.split("train"))
    model.initialize(data.split("train"))
    out = evaluate(model, data, "test")
    assert set(out) >= {"nll", "nll_se", "energy_distance", "n_test"} and "kl" not in out
    exact = 0.5 * 2 * math.log(2 * math.pi * math.e) + math.log(2.0 * 0.5)
    assert abs(out["nll"] - exact) < 4 * out["nll_se"] + 0.02
    assert out["n_test"] == 300


def test_evaluate_rejects_a_metric_that_does_not_apply() -> None:
    data = _gaussian_source()
    model = build_model("gaussian", (2,), "none")
    with pytest.raises(DgmError, match="known true density"):
        evaluate(model, data, "test", ["kl"])
    with pytest.raises(DgmError, match="does not match"):
        evaluate(build_model("gaussian", (3,), "none"), data, "test")


def test_every_registered_metric_has_a_summary() -> None:
    assert {"nll", "kl", "energy_distance"} <= set(METRICS.names())
    assert all(e.summary for e in METRICS)


def test_grid_mass_of_a_known_density() -> None:
    from dgm.metrics.normalization import grid_mass

    normal = torch.distributions.MultivariateNormal(
        torch.zeros(2, dtype=torch.float64), torch.tensor([[1.0, 0.6], [0.6, 2.0]], dtype=torch.float64)
    )
    assert grid_mass(normal.log_prob, (-8, 8, -10, 10)) == pytest.approx(1.0, abs=1e-6)
    assert grid_mass(normal.log_prob, (0, 8, -10, 10)) == pytest.approx(0.5, abs=1e-3)


def test_normalization_metric_applies_to_2d_only() -> None:
    data = _gaussian_source()
    model = build_model("gaussian", (2,), "standardize")
    model.transform.fit(data.split("train"))
    model.initialize(data.split("train"))
    assert evaluate(model, data, "test", ["normalization"])["normalization"] == pytest.approx(1.0, abs=2e-3)
    x3 = DataSource("g3", "points", seeded_split(torch.randn(100, 3)))
    with pytest.raises(DgmError, match="2-D points"):
        evaluate(build_model("gaussian", (3,), "none"), x3, "test", ["normalization"])


def test_energy_distance_in_blocks_equals_the_one_shot_formula() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(53, 3, generator=g, dtype=torch.float64)
    y = torch.randn(41, 3, generator=g, dtype=torch.float64) + 0.3
    n, m = len(x), len(y)
    one_shot = (
        2 * torch.cdist(x, y).mean()
        - torch.cdist(x, x).sum() / (n * (n - 1))
        - torch.cdist(y, y).sum() / (m * (m - 1))
    )
    for block in (1, 7, 41, 53, 4096):
        assert energy_distance(x, y, block=block).item() == pytest.approx(one_shot.item(), abs=1e-9)
    paired = 2 * (torch.cdist(x[:41], y).sum() - (x[:41] - y).norm(dim=1).sum()) / (41 * 40) - (
        torch.cdist(x[:41], x[:41]).sum() + torch.cdist(y, y).sum()
    ) / (41 * 40)
    assert energy_distance(x[:41], y, paired=True, block=5).item() == pytest.approx(paired.item(), abs=1e-9)


MEANS = torch.tensor([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])


class _PerfectConditional(GenerativeModel):
    """Samples x | c ~ N(MEANS[c], I): exactly the law of the data of `_labelled_gaussians`."""

    context_features = 3

    def __init__(self) -> None:
        super().__init__((2,))
        self.unused = torch.nn.Parameter(torch.zeros(()))  # evaluation reads the device off a parameter

    def sample(self, n: int, c: torch.Tensor | None = None) -> torch.Tensor:
        return MEANS[c.argmax(1)] + torch.randn(n, 2)


def _labelled_gaussians(seed: int, n: int = 3000) -> DataSource:
    g = torch.Generator().manual_seed(seed)
    labels = torch.multinomial(torch.tensor([0.5, 0.3, 0.2]), n, replacement=True, generator=g)
    x = MEANS[labels] + torch.randn(n, 2, generator=g)
    return DataSource("labelled", "points", seeded_split(x), labels=seeded_split(labels))


class _LabelEcho(GenerativeModel):
    """Each sample is its class, (k, k): shows which label each sample was drawn for."""

    context_features = 3

    def __init__(self) -> None:
        super().__init__((2,))
        self.unused = torch.nn.Parameter(torch.zeros(()))
        self.calls: list[int] = []

    def sample(self, n: int, c: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append(n)
        return c.argmax(1, keepdim=True).repeat(1, 2).float()


def test_samples_are_drawn_in_chunks_each_for_its_own_points_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    # the module, which `dgm.metrics.evaluate` (the function) hides as an attribute
    monkeypatch.setattr(importlib.import_module("dgm.metrics.evaluate"), "SAMPLE_CHUNK", 7)
    data, model = _labelled_gaussians(0, n=1000), _LabelEcho()
    labels = data.labels["test"]
    ev = Evaluation(model, data, data.split("test"), torch.eye(3)[labels], n_samples=25)
    samples = ev.samples()
    assert model.calls == [7, 7, 7, 4]
    assert torch.equal(samples[:, 0].long(), labels[:25])


def test_energy_distance_of_a_perfect_conditional_model_is_unbiased() -> None:
    """Samples drawn for the points' own labels depend on them: the estimate must still be ≈ 0."""
    values = torch.tensor(
        [
            evaluate(
                _PerfectConditional(), _labelled_gaussians(seed), "test", ["energy_distance"], seed=seed
            )["energy_distance"]
            for seed in range(10)
        ]
    )
    mean, se = mean_and_se(values)
    assert abs(mean) < 3 * se, (mean, se)
    # The reported standard error (from 5 disjoint subsets) matches the spread over seeds.
    reported = evaluate(_PerfectConditional(), _labelled_gaussians(0), "test", ["energy_distance"])
    assert 0.3 < reported["energy_distance_se"] / values.std().item() < 3


def test_transport_cost_is_the_mean_squared_displacement_in_model_space() -> None:
    """E‖f(y) − y‖² on y = T(x): 0 for a flow at its identity initialisation, and d·s² for the
    shift f(y) = y + s (every coordinate), with its standard error 0."""
    x = torch.randn(300, 2, dtype=torch.float64) * 3 + 1
    data = DataSource("pts", "points", seeded_split(x))
    model = build_model("realnvp", (2,), "standardize").double()  # couplings start as the identity
    model.transform.fit(data.split("train"))
    assert evaluate(model, data, "test", ["transport_cost"])["transport_cost"] == pytest.approx(0, abs=1e-20)
    model.core.inverse = lambda y, c=None: y + 0.5
    out = evaluate(model, data, "test", ["transport_cost"])
    assert out["transport_cost"] == pytest.approx(2 * 0.25) and out["transport_cost_se"] == pytest.approx(0)
    with pytest.raises(DgmError, match="transport_cost.*needs a map from data to latent"):
        evaluate(build_model("gaussian", (2,), "standardize").double(), data, "test", ["transport_cost"])


def test_the_training_report_leaves_out_the_extended_suite_unless_named() -> None:
    data = _gaussian_source()
    model = build_model("gaussian", (2,), "standardize")
    model.transform.fit(data.split("train"))
    model.initialize(data.split("train"))
    basic = evaluate(model, data, "test", extended=False, n_samples=200)
    assert "energy_distance" in basic and "mmd2" not in basic and "c2st_accuracy" not in basic
    assert "mmd2" in evaluate(model, data, "test", ["mmd"], extended=False, n_samples=200)
    extended = {name for name in METRICS.names() if METRICS.get(name).extended}
    assert {"mmd", "c2st", "memorisation", "utility"} <= extended and "nll" not in extended


def test_metrics_never_overwrite_each_others_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two metrics reporting one key (or a key of the report around them, like the model's
    `density` kind) is a bug that evaluate refuses rather than losing a number."""
    from dgm.metrics.evaluate import Metric

    data = _gaussian_source()
    model = build_model("gaussian", (2,), "standardize")
    model.transform.fit(data.split("train"))
    entries = dict(METRICS._entries)
    for key in ("nll", "density"):
        bad = type(next(iter(entries.values())))("zz-bad", Metric(lambda ev, key=key: {key: 0.0}), "")
        monkeypatch.setattr(METRICS, "_entries", {**entries, "zz-bad": bad})
        with pytest.raises(RuntimeError, match=f"zz-bad.*{key}"):
            evaluate(model, data, "test", ["nll", "zz-bad"], n_samples=50)


def test_progress_reports_each_chunk_of_a_long_computation(capsys: pytest.CaptureFixture) -> None:
    """K importance samples per point shrink the chunks: a long estimate says how far it is."""
    from dgm.metrics.evaluate import Evaluation

    data = _gaussian_source()
    model = build_model("gaussian", (2,), "standardize")
    model.transform.fit(data.split("train"))
    x = data.split("test")
    ev = Evaluation(model, data, x, progress=True)
    values = ev._per_sample("log_prob", model.log_prob, chunk=128)
    err = capsys.readouterr().err
    n = -(-len(x) // 128)
    assert len(values) == len(x) and f"log_prob: {n}/{n} chunks of 128\n" in err and err.count("\r") == n
    Evaluation(model, data, x)._per_sample("log_prob", model.log_prob, chunk=128)
    assert capsys.readouterr().err == ""  # off by default (the report after training, pipes)


def test_a_bounded_density_reports_kl_from_its_importance_sampled_nll() -> None:
    """On a toy with a known density, a VAE's KL is its importance-sampled NLL minus the entropy,
    and without an importance-sampled NLL it has none (a bound is no KL)."""
    from dgm.data import load_data

    data = load_data("moons")
    model = build_model("vae", (2,), "standardize", {"hidden": [8], "latent": 2})
    model.transform.fit(data.split("train"))
    out = evaluate(model, data, "test", ["nll", "kl"], importance_samples=5, max_points=200)
    h, h_se = data.entropy
    assert out["nll_k"] == out["kl_k"] == 5 and out["kl"] == pytest.approx(out["nll"] - h)
    assert out["kl_se"] == pytest.approx(math.hypot(out["nll_se"], h_se))
    assert "kl" not in evaluate(model, data, "test", max_points=200, extended=False)
    with pytest.raises(DgmError, match="known true density|--importance-samples"):
        evaluate(model, data, "test", ["kl"], max_points=200)
