"""Model files: safetensors + JSON round trip; corrupted or hostile files fail cleanly."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

import dgm
import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model
from dgm.errors import DgmError
from dgm.io import save_model
from dgm.registry import MODELS
from dgm.testing import example_batch


def _saved(tmp_path: Path, name: str = "gaussian") -> tuple[Path, torch.nn.Module, torch.Tensor]:
    preprocess, x = example_batch(name, 100, torch.float32)
    model = build_model(name, tuple(x.shape[1:]), preprocess)
    model.transform.fit(x)
    model.initialize(x)
    config = {"model": name, "model_args": {}, "preprocess": preprocess, "event_shape": list(x.shape[1:])}
    save_model(tmp_path, model, {**config, "dtype": "float32"})
    return tmp_path, model, x


@pytest.mark.parametrize("name", MODELS.names())
def test_round_trip(tmp_path: Path, name: str) -> None:
    run, model, x = _saved(tmp_path, name)
    loaded = dgm.load(run)
    x = x[:10]
    if model.has_density:
        assert torch.equal(loaded.log_prob(x), model.eval().log_prob(x))
    assert json.loads((run / "config.json").read_text())["dgm_version"] == dgm.__version__
    assert not list(run.glob(".*.tmp"))


class _Boom:
    def __reduce__(self) -> tuple:
        return (Path("/tmp/dgm-pwned").touch, ())


def test_pickle_payload_renamed_executes_nothing(tmp_path: Path) -> None:
    run, _, _ = _saved(tmp_path)
    (run / "model.safetensors").write_bytes(pickle.dumps({"w": _Boom()}))
    Path("/tmp/dgm-pwned").unlink(missing_ok=True)
    with pytest.raises(DgmError, match="not a valid safetensors"):
        dgm.load(run)
    assert not Path("/tmp/dgm-pwned").exists()


def test_truncated_weights(tmp_path: Path) -> None:
    run, _, _ = _saved(tmp_path)
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(DgmError, match="safetensors"):
        dgm.load(run)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"model": "gaussian"}', "lacks the key"),
        ('{"model": "nope", "event_shape": [2], "preprocess": "none"}', "unknown model"),
    ],
)
def test_bad_config(tmp_path: Path, content: str, message: str) -> None:
    run, _, _ = _saved(tmp_path)
    (run / "config.json").write_text(content)
    with pytest.raises(DgmError, match=message):
        dgm.load(run)


def test_weights_that_do_not_match_the_config(tmp_path: Path) -> None:
    run, _, _ = _saved(tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "event_shape": [5]}))
    with pytest.raises(DgmError, match="does not match"):
        dgm.load(run)


def test_missing_run(tmp_path: Path) -> None:
    with pytest.raises(DgmError, match="does not exist"):
        dgm.load(tmp_path / "nothing")
