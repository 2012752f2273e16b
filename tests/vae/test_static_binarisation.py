"""Static binarisation: a model of binary data trained on one seeded binary draw of the grey values,
the same draw that evaluation with that seed scores; dynamic binarisation stays the default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.config import RunConfig
from dgm.data import load_data
from dgm.data.dequantize import split_generator
from dgm.errors import DgmError
from dgm.metrics.evaluate import model_inputs
from dgm.train import fit, train

BERNOULLI = {"likelihood": "bernoulli", "latent": 2, "hidden": [32], "network": "mlp"}


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **given: Any) -> dict[str, Any]:
    """Train 2 steps and return what the training module was handed."""
    seen: dict[str, Any] = {}
    module = fit.TrainModule

    def spy(
        model: Any, objective: Any, settings: Any, config: Any, data: Any, plan: Any, noise: Any, **rest: Any
    ) -> Any:
        seen.update(train=data[0][0], val=data[1][0], noise=noise)
        return module(model, objective, settings, config, data, plan, noise, **rest)

    monkeypatch.setattr(fit, "TrainModule", spy)
    config = {"model": "vae", "data": "digits", "model_args": BERNOULLI, "max_steps": 2, "seed": 3, **given}
    result = train(RunConfig.from_dict(config), tmp_path / "run", progress=False)
    seen["model"] = result.model
    return seen


def test_static_binarisation_trains_on_one_seeded_draw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _run(tmp_path, monkeypatch, binarize="static")
    data = load_data("digits")
    assert seen["noise"] is None  # no fresh draw per batch
    x = seen["train"]
    assert set(x.unique().tolist()) == {0.0, 1.0} and x.shape == data.split("train").shape
    # exactly what `dgm evaluate --seed 3` takes as the model's training set (memorisation, floors)
    assert torch.equal(x, model_inputs(seen["model"], data, "train", seed=3).to(x))
    assert set(seen["val"].unique().tolist()) == {0.0, 1.0}


def test_dynamic_binarisation_draws_every_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _run(tmp_path, monkeypatch)
    assert seen["noise"] is not None and seen["noise"].kind == "binarize"
    assert len(seen["train"].unique()) > 2  # grey values reach the module, binarised per batch


def test_static_binarisation_needs_a_model_of_binary_data(tmp_path: Path) -> None:
    config = {"model": "vae", "data": "digits", "max_steps": 2, "binarize": "static"}
    with pytest.raises(DgmError, match="binarize=static fixes the binarisation of a model of binary data"):
        train(RunConfig.from_dict(config), tmp_path / "run", progress=False)
    with pytest.raises(DgmError, match="binarize must be 'dynamic' or 'static'"):
        RunConfig.from_dict({**config, "binarize": "fixed"}).resolve()


def test_the_training_draw_is_a_stream_apart_from_the_held_out_draws() -> None:
    """Training image j and test image j do not share their uniforms, for any small seed."""
    train_u = torch.rand(64, generator=split_generator(3, "train"))
    for seed in range(10):
        for name in ("val", "test"):
            assert not torch.equal(train_u, torch.rand(64, generator=split_generator(seed, name)))
    assert torch.equal(train_u, torch.rand(64, generator=split_generator(3, "train")))  # reproducible
