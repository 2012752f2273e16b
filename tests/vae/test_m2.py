"""The semi-supervised M2: its bounds, the labelled/unlabelled split of the training data, and
its classifier through the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_objective
from dgm.cli.main import main
from dgm.objectives.base import StepContext
from dgm.train.fit import semi_supervised
from dgm.vae.m2 import M2
from dgm.vae.vae import VAE


def _m2() -> M2:
    torch.manual_seed(0)
    return M2(
        (4,), latent=2, hidden=(16,), classifier_hidden=(16,), likelihood="gaussian", context_features=3
    ).double()


def _conditional_elbo(m2: M2, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The plain VAE's ELBO(x | y) of the M2 (its own `elbo` sends rows with c = 0 elsewhere)."""
    return VAE.elbo(m2, x, c)


def test_unlabelled_bound_sums_the_labelled_bounds_under_the_classifier() -> None:
    """U(x) = Σ_y q(y|x) (L(x|y) + log p(y) − log q(y|x)): checked against its terms, with the
    same draws of z, and U(x) ≤ log Σ_y p(y) exp(L(x|y)) (the bound the label sum would give)."""
    m2 = _m2()
    x = torch.randn(6, 4, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    torch.manual_seed(1)
    u = m2.elbo(x)
    torch.manual_seed(1)  # _each_label draws the labels' z in one batch, class by class
    labelled = torch.stack(
        list(_conditional_elbo(m2, x.repeat(3, 1), eye.repeat_interleave(6, 0)).reshape(3, 6))
    )
    log_q = torch.log_softmax(m2.class_logits(x), 1).T
    expected = (log_q.exp() * (labelled - math.log(3) - log_q)).sum(0)
    assert torch.allclose(u, expected, atol=1e-12)
    assert (u <= torch.logsumexp(labelled - math.log(3), 0) + 1e-12).all()


@pytest.mark.parametrize("score", ["elbo", "log_prob_importance"])
def test_mixed_batches_score_labelled_rows_conditionally_and_the_rest_marginally(score: str) -> None:
    """Rows with c = 0 are scored for log p(x) (the label summed out), the rest for log p(x | y),
    by the bound and by the importance-sampled estimate alike."""
    m2 = _m2()
    fn = m2.elbo if score == "elbo" else lambda x, c=None: m2.log_prob_importance(x, c, k=50)
    x = torch.randn(4, 4, dtype=torch.float64)
    c = torch.tensor([[0, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.float64)
    with torch.no_grad():
        torch.manual_seed(2)
        mixed = fn(x, c)
        torch.manual_seed(2)  # the same draws: the labelled rows are scored first
        cond, marg = fn(x[[0, 2]], c[[0, 2]]), fn(x[[1, 3]])
    assert torch.allclose(mixed[[0, 2]], cond, atol=1e-12) and torch.allclose(mixed[[1, 3]], marg, atol=1e-12)


def _m2_losses(m2: M2, x: torch.Tensor, c: torch.Tensor, settings: list[dict]) -> list[tuple]:
    """(loss, terms) of the m2 objective under each of `settings`, every one with the same draws."""
    out = []
    for args in settings:
        torch.manual_seed(3)
        out.append(build_objective("m2", args).loss("model", m2, (x, c), StepContext(0)))
    return out


def _mixed_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """8 rows, the first 3 labelled (classes 0, 2, 1), the rest unlabelled (c = 0)."""
    x = torch.randn(8, 4, dtype=torch.float64)
    c = torch.zeros(8, 3, dtype=torch.float64)
    c[:3, [0, 2, 1]] = torch.eye(3, dtype=torch.float64)
    return x, c


def test_the_m2_loss_adds_alpha_times_the_cross_entropy_of_labelled_rows() -> None:
    m2 = _m2()
    x, c = _mixed_batch()
    (loss0, _), (loss7, terms) = _m2_losses(m2, x, c, [{"alpha": 0.0}, {"alpha": 7.0}])
    ce = torch.nn.functional.cross_entropy(m2.class_logits(x[:3]), c[:3].argmax(1), reduction="sum")
    assert (loss7 - loss0).item() == pytest.approx(7.0 * ce.item() / 8, rel=1e-10)
    assert 0 <= terms["accuracy"].item() <= 1
    # The logged bound is Kingma et al.'s: L(x, y) + log p(y) on a labelled row (a bound on
    # log p(x, y)), U(x) on the others, so that both kinds of row are on one scale.
    torch.manual_seed(3)
    rows = m2.elbo(x, c) - math.log(3) * (c.sum(1) > 0).double()
    assert terms["bound"].item() == pytest.approx(-rows.mean().item(), rel=1e-10)


def test_labelled_weight_scales_only_the_bound_of_labelled_rows() -> None:
    """loss(w) − loss(0) = −w Σ_l (L(x, y) + log p(y)) / B: the unlabelled rows' U(x) and the
    cross-entropy keep their weight, and the logged bound is the unweighted one. (w = 0.002 is not
    a float32 number: a weight built in single precision would miss rel=1e-10 by far.)"""
    m2 = _m2()
    x, c = _mixed_batch()
    settings = [{"alpha": 2.0, "labelled_weight": w} for w in (0.0, 0.002)]
    (plain, plain_terms), (weighted, terms) = _m2_losses(m2, x, c, settings)
    torch.manual_seed(3)
    labelled_bound = (m2.elbo(x, c)[:3] - math.log(3)).sum()
    assert (weighted - plain).item() == pytest.approx(-0.002 * labelled_bound.item() / 8, rel=1e-10)
    assert terms["bound"].item() == plain_terms["bound"].item()


def test_semi_supervised_split_keeps_n_labels_balanced_and_repeats_them() -> None:
    labels = torch.arange(1000) % 10
    x = torch.arange(1000, dtype=torch.float64)[:, None]
    c = torch.nn.functional.one_hot(labels, 10).double()
    xs, cs = semi_supervised(x, c, 25, seed=0)
    kept = cs.sum(1) > 0
    assert len(torch.unique(xs[kept])) == 25 and len(torch.unique(xs[~kept])) == 975
    per_class = torch.bincount(cs[kept].argmax(1)[: 25 * 39], minlength=10)  # 39 = 975 // 25 copies
    assert per_class.tolist() == [3 * 39] * 5 + [2 * 39] * 5  # 25 = 2 per class + 1 for the first five
    assert torch.equal(cs[kept].argmax(1), labels[xs[kept, 0].long()])  # labels stay with their points
    assert kept.sum().item() == 25 * 39  # about half of the data are labelled


@pytest.mark.slow
def test_m2_through_the_cli_learns_a_classifier_from_few_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "m2"
    train = [
        "train",
        "vae-m2",
        "--data",
        "digits",
        "--out",
        str(run),
        "--max-steps",
        "300",
        "--batch-size",
        "64",
    ]
    assert main([*train, "--set", "labels=50", "--set", "likelihood=bernoulli"]) == 0
    capsys.readouterr()
    out = tmp_path / "pred.npy"
    assert main(["classify", str(run), "--data", "digits", "--json", "-o", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] > 0.5  # ten classes: chance is 0.1
    assert np.load(out).shape == (result["n"],)
    assert json.loads((run / "report.json").read_text())["accuracy"] == pytest.approx(result["accuracy"])
    assert main(["classify", str(run), "--data", "moons"]) == 2  # wrong shape: one line, exit 2
    assert "does not match" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"model": "vae", "labels": 100}, "trains semi-supervised models"),
        ({"model": "vae-m2", "labels": 5}, "between the 10 classes and the"),
        ({"model": "vae-m2", "labels": 10**6}, "between the 10 classes and the"),
        (
            {"model": "vae", "model_args": {"likelihood": "poisson"}},
            "model_args.likelihood: likelihood must be",
        ),
    ],
)
def test_labels_is_checked_before_training(settings: dict, message: str) -> None:
    from dgm.config import RunConfig
    from dgm.data import load_data
    from dgm.errors import DgmError
    from dgm.train.fit import resolve

    with pytest.raises(DgmError, match=message):
        resolve(RunConfig.from_dict({"data": "digits", **settings}), load_data("digits"))


def test_m2_is_conditional_on_its_data_s_classes() -> None:
    from dgm.config import RunConfig
    from dgm.data import load_data
    from dgm.train.fit import resolve

    config = resolve(RunConfig.from_dict({"model": "vae-m2", "data": "digits"}), load_data("digits"))
    assert config.conditional and config.model_args["context_features"] == 10


def test_analogies_decode_each_style_under_every_class() -> None:
    """Column y of the analogies is the reconstruction under y; without a label (c None or a zero
    row) the classifier's choice fixes the style."""
    m2 = _m2().eval()
    x = torch.randn(5, 4, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    c = eye[[0, 2, 1, 1, 0]]
    with torch.no_grad():
        grid = m2.analogies(x, c)
        assert grid.shape == (5, 3, 4)
        for k in range(3):
            assert torch.allclose(grid[:, k], m2.decode(m2.encode(x, c)[0], eye[[k] * 5]))
        guessed = m2.analogies(x, eye[m2.classify(x)])
        assert torch.allclose(m2.analogies(x), guessed)
        c[1] = 0
        mixed = m2.analogies(x, c)
        assert torch.allclose(mixed[1], guessed[1]) and torch.allclose(mixed[0], grid[0])
