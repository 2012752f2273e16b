"""Checkpoints are read without running code, and anything but a dgm checkpoint is one clear line."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model
from dgm.cli.main import main
from dgm.errors import DgmError
from dgm.io import save_model
from dgm.train.callbacks import CHECKPOINT, AtomicCheckpointIO


class _Payload:
    def __reduce__(self) -> tuple:
        return (Path("/tmp/dgm-pwned-ckpt").touch, ())


def _run(folder: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """A run folder with a model file, and the state dict a checkpoint of it would hold."""
    model = build_model("gaussian", (2,), "none")
    save_model(folder, model, {"model": "gaussian", "event_shape": [2], "preprocess": "none"})
    (folder / CHECKPOINT).parent.mkdir()
    return folder / CHECKPOINT, {f"model.{k}": v for k, v in model.state_dict().items()}


def _checkpoint(state: dict[str, torch.Tensor]) -> dict:
    return {"state_dict": state, "dgm": {}, "optimizer_states": [], "pytorch-lightning_version": "2"}


def _load(path: Path) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning may reach the user's terminal
        return AtomicCheckpointIO().load_checkpoint(path)


def test_a_dgm_checkpoint_loads(tmp_path: Path) -> None:
    path, state = _run(tmp_path)
    torch.save(_checkpoint(state), path)
    assert set(_load(path)["state_dict"]) == set(state)


@pytest.mark.parametrize("legacy", [False, True])
def test_a_pickle_payload_is_refused_without_torch_s_advice(tmp_path: Path, legacy: bool) -> None:
    path, _ = _run(tmp_path)
    torch.save({"x": _Payload()}, path, _use_new_zipfile_serialization=not legacy)
    Path("/tmp/dgm-pwned-ckpt").unlink(missing_ok=True)
    with pytest.raises(DgmError, match="not written by dgm") as e:
        _load(path)
    assert "weights_only" not in str(e.value) and len(str(e.value).splitlines()) == 1
    assert not Path("/tmp/dgm-pwned-ckpt").exists()


def test_a_torch_file_that_is_no_checkpoint_is_refused(tmp_path: Path) -> None:
    path, _ = _run(tmp_path)
    torch.save({"a": torch.zeros(2)}, path)
    with pytest.raises(DgmError, match="not a dgm checkpoint .it lacks 'state_dict'"):
        _load(path)
    torch.save([1, 2], path)
    with pytest.raises(DgmError, match="not a dgm checkpoint"):
        _load(path)


def test_a_checkpoint_with_a_wrong_shape_is_refused(tmp_path: Path) -> None:
    path, state = _run(tmp_path)
    key = next(iter(state))
    torch.save(_checkpoint({**state, key: torch.zeros(7, 7)}), path)
    with pytest.raises(DgmError, match=f"does not match the model in .* \\(in {key}\\)"):
        _load(path)


@pytest.mark.slow
def test_resume_from_a_pickle_payload_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    argv = ["train", "realnvp", "--data", "moons", "--out", str(out), "--max-steps", "5", "--no-progress"]
    assert main(argv) == 0
    (out / CHECKPOINT).write_bytes(pickle.dumps({"x": _Payload()}))
    capsys.readouterr()
    assert (
        main(["train", "realnvp", "--out", str(out), "--resume", "--max-steps", "10", "--no-progress"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not written by dgm" in err, err


@pytest.mark.parametrize(
    ("coverage", "shown"), [(None, None), ((6, 8), "modes 6/8 (collapse?)"), ((8, 8), "modes 8/8")]
)
def test_the_progress_line_flags_missing_modes_only(
    coverage: tuple[int, int] | None, shown: str | None
) -> None:
    from types import SimpleNamespace

    from dgm.train.callbacks import Progress

    budget = SimpleNamespace(steps=100, seconds=None)
    module = SimpleNamespace(step=40, budget=budget, last_row={"train/loss/critic": 1.25}, coverage=coverage)
    line = Progress._line(module)
    assert line.startswith("step 40/100  loss/critic 1.25")
    if shown is None:
        assert "modes" not in line
    else:
        assert line.endswith(shown)
