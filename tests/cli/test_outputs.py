"""What `dgm sample` and `dgm evaluate` write: bounded memory, finite numbers, valid JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
import dgm.models.base
from dgm.build import build_model
from dgm.cli import sample
from dgm.cli.main import main
from dgm.io import save_model
from dgm.registry import MODELS
from dgm.testing import example_batch


def _run(folder: Path, name: str = "gaussian", scale: float = 1.0) -> Path:
    """An untrained model saved as a run, its floating weights multiplied by `scale`."""
    preprocess, x = example_batch(name, 50, torch.float32)
    if name == "gaussian":
        preprocess, x = "standardize", torch.randn(50, 2)
    model = build_model(name, tuple(x.shape[1:]), preprocess)
    model.transform.fit(x)
    model.initialize(x)
    state = {k: v * scale if v.is_floating_point() else v for k, v in model.state_dict().items()}
    kind = "points" if x.dim() == 2 else "image"
    config = {"model": name, "model_args": {}, "preprocess": preprocess, "event_shape": list(x.shape[1:])}
    save_model(folder, state, {**config, "dtype": "float32", "data": {"kind": kind, "name": "moons"}})
    return folder


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    """Sampling in chunks of 7, every chunk the model draws recorded."""
    chunks: list[torch.Tensor] = []
    original = dgm.models.base.sample_labelled

    def record(*args: object) -> torch.Tensor:
        chunks.append(original(*args))
        return chunks[-1]

    monkeypatch.setattr(sample, "CHUNK", 7)
    monkeypatch.setattr(dgm.models.base, "sample_labelled", record)
    return chunks


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_samples_are_drawn_and_written_in_chunks(
    tmp_path: Path, drawn: list[torch.Tensor], suffix: str, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / f"s{suffix}"
    assert main(["sample", str(_run(tmp_path / "run")), "-n", "30", "-o", str(out)]) == 0
    assert [len(x) for x in drawn] == [7, 7, 7, 7, 2]
    written = np.load(out) if suffix == ".npy" else np.loadtxt(out, delimiter=",", dtype=np.float32)
    assert written.shape == (30, 2) and np.allclose(written, torch.cat(drawn).numpy(), rtol=1e-7)
    assert "wrote 30 samples" in capsys.readouterr().out


def test_progress_is_shown_on_a_terminal(
    tmp_path: Path, drawn: list[torch.Tensor], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["sample", str(_run(tmp_path / "run")), "-n", "30"]) == 0
    assert capsys.readouterr().err.endswith("sampling: 30/30\n")


def test_a_png_draws_a_bounded_number_of_samples(tmp_path: Path, drawn: list[torch.Tensor]) -> None:
    assert main(["sample", str(_run(tmp_path / "run")), "-n", "10000000", "-o", str(tmp_path / "s.png")]) == 0
    assert sum(len(x) for x in drawn) == sample.PNG_SAMPLES[False]


def test_non_finite_samples_are_never_written(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Finite weights (× 1e30) can still give NaN samples: exit 1, one line naming the run, no file."""
    run = _run(tmp_path / "run", scale=1e30)
    assert main(["sample", str(run), "-n", "10"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(run) in err and "NaN or infinite" in err, err
    assert not (run / "samples.npy").exists() and not list(run.glob(".*.tmp"))


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_writes_finite_samples_or_nothing(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture
) -> None:
    run = _run(tmp_path / "run", name, scale=1e30)
    code = main(["sample", str(run), "-n", "10"])
    assert code in (0, 1), capsys.readouterr().err
    if code == 0:
        assert np.isfinite(np.load(run / "samples.npy")).all()
    else:
        assert not (run / "samples.npy").exists()


def test_evaluate_json_has_no_bare_nan(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A model whose log-likelihood overflows reports null and names the key in `not_finite`."""
    run = _run(tmp_path / "run", scale=1e30)
    assert main(["evaluate", str(run), "--data", "moons", "--metrics", "nll", "--json"]) == 0

    def refuse(constant: str) -> None:
        raise AssertionError(f"bare {constant} in the JSON output")

    result = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert result["nll"] is None and "nll" in result["not_finite"]


def test_sigterm_while_sampling_leaves_neither_output_nor_temporary(tmp_path: Path) -> None:
    """SIGTERM unwinds `dgm sample` as Ctrl-C does: exit 143, its half-written temporary removed."""
    import signal
    import subprocess
    import time

    run = _run(tmp_path / "run")
    out = tmp_path / "out"
    out.mkdir()
    cli = [
        sys.executable,
        "-m",
        "dgm.cli.main",
        "sample",
        str(run),
        "-n",
        "1000000000",
        "-o",
        str(out / "s.npy"),
    ]
    proc = subprocess.Popen(cli, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not any(out.iterdir()) and time.time() < deadline:  # the temporary exists: writing began
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM and err.strip() == "dgm: terminated", err
    assert list(out.iterdir()) == []
