"""M1+M2: a density over binary data that sums to one, its bound below the estimate, M1 frozen
under the m2 objective, M1's architecture and weights taken from its run, and the CLI."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_objective, model_arguments
from dgm.cli.main import main
from dgm.config import RunConfig
from dgm.data import load_data
from dgm.data.base import DataSource
from dgm.data.dequantize import PipelineNoise
from dgm.distributions import log_normal
from dgm.errors import DgmError
from dgm.io import load
from dgm.objectives.base import StepContext
from dgm.testing import check_lower_bound
from dgm.train import train
from dgm.train.fit import resolve, resume_config
from dgm.vae.m1m2 import M1_ARGUMENTS, M1M2
from dgm.vae.m2 import M2
from dgm.vae.objectives import SemiSupervised
from dgm.vae.vae import VAE

BINARY = torch.cartesian_prod(*[torch.tensor([0.0, 1.0], dtype=torch.float64)] * 3)  # all of {0, 1}³


def _m1m2(active: tuple[int, ...] = ()) -> M1M2:
    torch.manual_seed(0)
    m = M1M2(
        (3,),
        m1_latent=3 if active else 2,
        m1_hidden=(8,),
        m1_likelihood="bernoulli",
        m1_active=active,
        latent=2,
        hidden=(8,),
        classes=2,
    )
    return m.double().eval()


#: M2 on all of M1's units, and on two of three (the third kept at its prior)
MODELS = pytest.mark.parametrize("active", [(), (0, 2)], ids=["all-units", "two-of-three"])


@MODELS
def test_importance_estimate_sums_to_one_over_binary_data(active: tuple[int, ...]) -> None:
    """Σ_x p̂(x) = 1 and Σ_x p̂(x | y) = 1 for each y: the nested estimate is unbiased for p."""
    m = _m1m2(active)
    eye = torch.eye(2, dtype=torch.float64)
    with torch.no_grad():
        torch.manual_seed(1)
        total = m.log_prob_importance(BINARY, k=40_000).exp().sum()
        per_label = [m.log_prob_importance(BINARY, eye[[y] * 8], k=40_000).exp().sum() for y in (0, 1)]
    # within the estimate's spread (up to 2.6 % over seeds); a lost log N(z₁ᴬ̄; 0, I) is a factor ~e
    assert total.item() == pytest.approx(1, abs=0.03)
    assert [p.item() for p in per_label] == pytest.approx([1, 1], abs=0.03)


@MODELS
def test_elbo_is_below_the_importance_estimate_with_and_without_labels(active: tuple[int, ...]) -> None:
    m = _m1m2(active)
    c = torch.eye(2, dtype=torch.float64)[[0, 1] * 4]
    with torch.no_grad():
        torch.manual_seed(2)
        check_lower_bound(m.elbo, m.log_prob_importance(BINARY, k=40_000), BINARY, draws=500)
        log_p = m.log_prob_importance(BINARY, c, k=40_000)
        check_lower_bound(lambda x: m.elbo(x, c), log_p, BINARY, draws=500)


def test_each_row_of_a_batch_is_scored_under_its_own_label() -> None:
    """A batch of mixed labels gives each row the estimate it gets alone: draws and labels line up
    through the chunks. M2's log p(z₁ | y) is replaced by log N(z₁; 0, I) + 10·[y = 0]."""
    m = _m1m2()
    m.m2.log_prob_importance = lambda z1, c, k: log_normal(z1) + 10 * c[:, 0]  # type: ignore[method-assign]
    x, c = BINARY[[1, 6, 3, 5]], torch.eye(2, dtype=torch.float64)[[0, 1, 1, 0]]
    with torch.no_grad():
        torch.manual_seed(3)
        together = m.log_prob_importance(x, c, k=20_000, chunk=700)
        alone = torch.cat([m.log_prob_importance(x[i : i + 1], c[i : i + 1], k=20_000) for i in range(4)])
    assert torch.allclose(together, alone, atol=0.02)
    assert ((together > 5) == c[:, 0].bool()).all()


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Every binary x twice, four rows labelled 0 and four labelled 1."""
    c = torch.zeros(16, 2, dtype=torch.float64)
    c[:4, 0], c[4:8, 1] = 1, 1
    return BINARY.repeat(2, 1), c


def test_the_m2_objective_trains_m2_on_codes_and_leaves_m1_as_it_was() -> None:
    m = _m1m2((0, 2)).train()
    x, c = _batch()
    objective = build_objective("m2", {})
    codes, c_ = objective.training_data(m, (x, c), PipelineNoise("binarize", 2))
    assert torch.equal(c_, c) and codes.shape == (16, 4)  # μ and log σ of two units
    mu, log_sigma = m.m1.encode(x)
    assert torch.equal(codes, torch.cat([mu[:, [0, 2]], log_sigma[:, [0, 2]]], 1))
    # under dequantisation, codes of the cells' centres (k + ½)/L, L = 2
    centres = objective.training_data(m, (x, c), PipelineNoise("dequantize", 2))[0]
    assert torch.equal(centres[:, :2], m.m1.encode(x / 2 + 0.25)[0][:, [0, 2]])
    loss, _ = objective.loss("model", m, (codes, c), StepContext(0))
    loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in m.m1.parameters())
    assert all(p.grad is not None for p in m.m2.parameters())
    assert build_objective("m2", {}).training_data(M2((3,), latent=2, classes=2), (x, c), None) is None


def test_the_m2_objective_leaves_out_only_terms_without_gradient() -> None:
    """The loss on M2's bound of one draw z₁ᴬ from the stored codes has the gradients of the loss
    on the full bound log p(x | z₁) + log N(z₁ᴬ̄; 0, I) − log q(z₁ | x) + ELBO_M2(z₁ᴬ | y) + log p(y)
    (U_M2 without a label) with the classifier on the same z₁ᴬ, and differs from it by the mean of
    the terms of M1 and the inactive unit."""
    m, alpha = _m1m2((0, 2)).train(), 3.0
    x, c = _batch()
    objective = build_objective("m2", {"alpha": alpha})
    codes = objective.training_data(m, (x, c), None)[0]
    torch.manual_seed(4)
    loss, terms = objective.loss("model", m, (codes, c), StepContext(0))
    fast = torch.autograd.grad(loss, list(m.m2.parameters()))
    torch.manual_seed(4)  # the same draws, in the same order: z₁ᴬ, then M2's
    mu, log_sigma = m.m1.encode(x)
    z1 = mu + torch.exp(log_sigma)  # the inactive unit 1 at any value: its terms have no gradient
    z1[:, [0, 2]] = mu[:, [0, 2]] + torch.exp(log_sigma[:, [0, 2]]) * torch.randn(16, 2, dtype=torch.float64)
    m1_term = (
        m.m1.likelihood.log_prob(x, m.m1.decoder(z1)) + log_normal(z1[:, [1]]) - log_normal(z1, mu, log_sigma)
    )
    za = z1[:, [0, 2]]
    bound = m1_term + m.m2.elbo(za, c) - math.log(2) * (c.sum(1) > 0).double()
    ce = torch.nn.functional.cross_entropy(m.m2.class_logits(za[:8]), c[:8].argmax(1), reduction="sum")
    full = (-bound.sum() + alpha * ce) / len(x)
    for g, h in zip(fast, torch.autograd.grad(full, list(m.m2.parameters())), strict=True):
        assert torch.allclose(g, h, atol=1e-12)
    assert (full - loss).item() == pytest.approx(-m1_term.mean().item(), rel=1e-10)
    assert set(terms) == {"code_bound", "accuracy"}


def test_the_classifier_reads_the_posterior_mean_of_the_active_units() -> None:
    m = _m1m2((0, 2))
    x = BINARY
    for mode in (False, True):
        m.train(mode)
        assert torch.equal(m.class_logits(x), m.m2.class_logits(m.m1.encode(x)[0][:, [0, 2]]))


def test_active_units_are_those_whose_posterior_mean_varies(tmp_path: Path) -> None:
    """`--init-from` keeps M1's units whose μ₁(x) has a standard deviation above 0.1 over the data."""
    from dgm.build import build_model
    from dgm.io import save_model

    torch.manual_seed(0)
    args = {"latent": 3, "hidden": [8]}
    vae = build_model("vae", (3,), "none", args)
    last = [m for m in vae.core.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    x = BINARY.float().repeat(4, 1)
    with torch.no_grad():  # rows 0–2 give μ, linear in them: standard deviations 0.15, 0, 0.05
        last.weight[0] *= 0.15 / vae.core.encode(x)[0][:, 0].std()
        last.weight[1], last.weight[2] = 0, last.weight[0] / 3
    assert torch.allclose(vae.core.encode(x)[0].std(0), torch.tensor([0.15, 0, 0.05]), atol=1e-6)
    save_model(tmp_path, vae, {"model": "vae", "model_args": args, "event_shape": [3], "preprocess": "none"})
    data = DataSource("x", "points", {"train": x, "val": x, "test": x})
    assert M1M2.arguments_from_data({}, lambda: load(tmp_path), data) == {"m1_active": [0]}
    given = {"m1_active": (1,)}
    assert M1M2.arguments_from_data(given, lambda: load(tmp_path), data) == given
    for bad in ((0, 0), (3,), (-1, 2)):
        with pytest.raises(ValueError, match="distinct units of M1's 3"):
            M1M2((3,), m1_latent=3, m1_active=bad)


def _vae_run(args: dict) -> dict:
    return {"model": "vae", "model_args": args}


def test_m1_s_architecture_comes_from_its_run_and_may_not_be_contradicted() -> None:
    args = M1M2.arguments_from_run({"latent": 4}, _vae_run({"latent": 6, "hidden": [32, 32]}))
    assert args == {"latent": 4, "m1_latent": 6, "m1_hidden": [32, 32]}
    assert M1M2.arguments_from_run({"m1_hidden": (32, 32)}, _vae_run({"hidden": [32, 32]})) == {
        "m1_hidden": (32, 32)
    }
    with pytest.raises(DgmError, match="m1_latent=5 contradicts the VAE's latent=6"):
        M1M2.arguments_from_run({"m1_latent": 5}, _vae_run({"latent": 6}))
    with pytest.raises(DgmError, match="not a gan"):
        M1M2.arguments_from_run({}, {"model": "gan", "model_args": {}})
    for m1 in ({"prior": "realnvp"}, {"context_features": 10}):
        with pytest.raises(DgmError, match="unconditional vae with the normal prior"):
            M1M2.arguments_from_run({}, _vae_run(m1))
    with pytest.raises(DgmError, match="M1 must be a vae without batch_norm"):
        M1M2.arguments_from_run({}, _vae_run({"network": "conv", "batch_norm": True}))
    M1M2.arguments_from_run({}, _vae_run({"network": "conv", "batch_norm": False}))


def test_m1_s_defaults_are_the_vae_s() -> None:
    """The m1_* arguments describe a `vae`: their defaults must not drift from its defaults."""
    m1m2, vae = model_arguments("vae-m1m2"), model_arguments("vae")
    assert {name: m1m2[f"m1_{name}"] for name in M1_ARGUMENTS} == {name: vae[name] for name in M1_ARGUMENTS}


def test_weights_come_from_a_vae_only() -> None:
    m = _m1m2()
    vae = VAE((3,), latent=2, hidden=(8,), likelihood="bernoulli").double()
    m.init_from(vae)
    mine, theirs = m.m1.state_dict(), vae.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    for other in (m, M2((3,), latent=2, classes=2)):
        with pytest.raises(DgmError, match="starts from a trained vae"):
            m.init_from(other)


def test_training_needs_init_from() -> None:
    with pytest.raises(DgmError, match="give --init-from RUN"):
        resolve(RunConfig.from_dict({"model": "vae-m1m2", "data": "digits"}), load_data("digits"))


@pytest.mark.parametrize(
    ("seen", "message"),
    [
        ({"data": {"name": "mnist"}}, "data 'mnist', this run has 'digits'"),
        ({"preprocess": "logit"}, "preprocess 'logit', this run has 'none'"),
        ({"train": {"binarize": "static"}}, "binarize 'static', this run has 'dynamic'"),
    ],
)
def test_m1_s_run_must_have_seen_the_same_data(tmp_path: Path, seen: dict, message: str) -> None:
    run = {
        "model": "vae",
        "model_args": {"likelihood": "bernoulli"},
        "event_shape": [1, 8, 8],
        "preprocess": "none",
        "dequantize": "none",
        "data": {"name": "digits"},
        "train": {"binarize": "dynamic"},
    }
    (tmp_path / "config.json").write_text(json.dumps({**run, **seen}))
    config = {"model": "vae-m1m2", "data": "digits", "init_from": str(tmp_path)}
    config = RunConfig.from_dict({**config, "model_args": {"m1_active": [0]}})  # no weights to read
    with pytest.raises(DgmError, match=message):
        resolve(config, load_data("digits"))
    (tmp_path / "config.json").write_text(json.dumps(run))
    assert resolve(config, load_data("digits")).model_args["m1_likelihood"] == "bernoulli"


@pytest.mark.slow
def test_m1m2_classifies_and_resumes_without_m1(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    m1, run = tmp_path / "m1", tmp_path / "m12"
    digits = {"data": "digits", "batch_size": 64}
    bernoulli = {"likelihood": "bernoulli", "latent": 8}
    m1_config = {"model": "vae", **digits, "max_steps": 400, "model_args": bernoulli}
    train(RunConfig.from_dict(m1_config), m1, progress=False)
    m1_weights = load(m1).core.state_dict()
    top = {"model": "vae-m1m2", **digits, "labels": 50, "model_args": {"hidden": [64], "latent": 4}}
    top.update(weight_decay=1e-3, ema=0.99)  # neither may touch the frozen M1
    train(RunConfig.from_dict({**top, "max_steps": 300, "init_from": str(m1)}), run, progress=False)
    config = json.loads((run / "config.json").read_text())
    assert config["model_args"]["m1_latent"] == 8 and config["model_args"]["m1_likelihood"] == "bernoulli"
    shutil.rmtree(m1)  # the run holds M1's weights: it no longer needs M1's folder
    coded_by = []  # M1's weights when the codes M2 trains on are made: restored, not initial
    make_codes = SemiSupervised.training_data

    def spy(self: SemiSupervised, model: Any, tensors: Any, noise: Any) -> Any:
        coded_by.append({k: v.clone() for k, v in model.core.m1.state_dict().items()})
        return make_codes(self, model, tensors, noise)

    monkeypatch.setattr(SemiSupervised, "training_data", spy)
    train(resume_config(run, {"max_steps": 400}), run, resume=True, progress=False)
    trained = load(run).core.m1.state_dict()
    for weights in (trained, coded_by[0]):
        assert all(torch.equal(weights[k], m1_weights[k]) for k in m1_weights)
    assert main(["classify", str(run), "--data", "digits", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] > 0.4  # chance is 0.1


def test_analogies_are_m2s_on_m1s_code_decoded_by_m1() -> None:
    m = _m1m2((0, 2))
    x = BINARY[:5]
    c = torch.eye(2, dtype=torch.float64)[[0, 1, 1, 0, 1]]
    with torch.no_grad():
        grid = m.analogies(x, c)
        mu1 = m.m1.encode(x)[0][:, [0, 2]]
        for k in range(2):
            code = m.m2.decode(m.m2.encode(mu1, c)[0], torch.eye(2, dtype=torch.float64)[[k] * 5])
            z1 = torch.zeros(5, 3, dtype=torch.float64)
            z1[:, [0, 2]] = code  # the inactive unit at its prior's mean
            assert torch.allclose(grid[:, k], m.m1.decode(z1))
        guessed = torch.eye(2, dtype=torch.float64)[m.classify(x)]  # eval mode: q(y | μ₁(x))
        assert torch.allclose(m.analogies(x), m.analogies(x, guessed))
    assert grid.shape == (5, 2, 3)


@pytest.mark.parametrize("name", ["vae-m2", "vae-m1m2"])
def test_semi_supervised_image_runs_draw_analogies(tmp_path: Path, name: str) -> None:
    from dgm.build import build_model
    from dgm.plots import run_figures

    data = load_data("digits")
    small = {"latent": 2, "hidden": [8], "classifier_hidden": [8], "context_features": 10}
    small.update({"m1_latent": 3, "m1_likelihood": "bernoulli"} if name == "vae-m1m2" else {"network": "mlp"})
    model = build_model(name, (1, 8, 8), "none", small, levels=data.levels).eval()
    figures = {p.name for p in run_figures(tmp_path, model, data)}
    assert "analogies.png" in figures
    assert (tmp_path / "figures" / "analogies.png").read_bytes()[:4] == b"\x89PNG"


def test_its_classifier_is_scored_on_grey_images_and_m2_s_on_binarisations() -> None:
    """M2 of M1+M2 trains on codes of the grey images (the binarisations' mean), so `accuracy`
    classifies those; vae-m2's classifier trains on binarisations and is scored on one."""
    from dgm.build import build_model
    from dgm.metrics import evaluate
    from dgm.metrics.evaluate import classifier_inputs, model_inputs

    data = load_data("digits")
    small = {"latent": 2, "hidden": [8], "classifier_hidden": [8], "context_features": 10}
    torch.manual_seed(0)
    m1 = {"m1_latent": 3, "m1_likelihood": "bernoulli"}
    m12 = build_model("vae-m1m2", (1, 8, 8), "none", {**small, **m1}, levels=data.levels)
    m2 = build_model("vae-m2", (1, 8, 8), "none", {**small, "likelihood": "bernoulli"}, levels=data.levels)
    stored = data.split("test")
    assert torch.equal(classifier_inputs(m12, data, "test"), stored)
    assert torch.equal(classifier_inputs(m2, data, "test"), model_inputs(m2, data, "test"))
    assert not torch.equal(model_inputs(m2, data, "test"), stored)
    # a classifier whose answers hang on the grey values, then scored through `evaluate`
    m12.core.classify = lambda x: (x.flatten(1).sum(1) * 7).long() % 10  # type: ignore[method-assign]
    expected = (m12.core.classify(stored) == data.split_labels("test")).double().mean().item()
    assert evaluate(m12, data, "test", ["accuracy"])["accuracy"] == pytest.approx(expected, abs=1e-12)
