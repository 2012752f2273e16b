"""Hostile inputs at the command line: label values that are not 0..K−1, constant columns, docs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import dgm
import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model
from dgm.cli.main import main
from dgm.data.files import load_file
from dgm.io import save_model
from dgm.utils import one_hot

VALUES = [-1, 0, 5000]  # the label values of the saved conditional model, class k = VALUES[k]


def error_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def conditional_run(folder: Path, label_values: list[int] | None) -> Path:
    """A tiny untrained conditional RealNVP saved as a run; label_values None: an old run file."""
    x = torch.randn(50, 2)
    model = build_model(
        "realnvp", (2,), "standardize", {"transforms": 2, "hidden": [8], "context_features": 3}
    )
    model.transform.fit(x)
    data = {"kind": "points", "levels": None, "classes": 3}
    config = {
        "model": "realnvp",
        "model_args": {"transforms": 2, "hidden": [8], "context_features": 3},
        "preprocess": "standardize",
        "event_shape": [2],
        "dtype": "float32",
        "data": data if label_values is None else {**data, "label_values": label_values},
    }
    save_model(folder, model, config)
    return folder


def labelled_npz(path: Path, values: list[int], n: int = 60) -> Path:
    y = np.array(values * (n // len(values)))
    np.savez(path, x=np.random.default_rng(0).normal(size=(len(y), 2)), y=y)
    return path


def test_sample_takes_the_data_s_label_values(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = conditional_run(tmp_path / "run", VALUES)
    for value in (5000, -1):
        assert (
            main(["sample", str(run), "--label", str(value), "-n", "5", "-o", str(tmp_path / "s.npy")]) == 0
        )
    capsys.readouterr()
    assert main(["sample", str(run), "--label", "1234", "-n", "5"]) == 2
    err = error_line(capsys)
    assert "--label 1234" in err and "-1, 0, 5000" in err
    assert main(["sample", str(run), "--label", "1", "-n", "5"]) == 2  # a class index is not a value


def test_old_run_files_have_labels_0_to_k_minus_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = conditional_run(tmp_path / "run", None)
    assert main(["sample", str(run), "--label", "2", "-n", "5", "-o", str(tmp_path / "s.npy")]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--label", "3", "-n", "5"]) == 2
    assert "0, 1, 2" in error_line(capsys)
    assert (
        main(["evaluate", str(run), "--data", str(labelled_npz(tmp_path / "d.npz", [0, 2])), "--json"]) == 0
    )


def test_evaluate_maps_label_values_to_the_model_s_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = conditional_run(tmp_path / "run", VALUES)
    path = labelled_npz(tmp_path / "d.npz", [0, 5000])  # a subset of the model's values
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(path), "--metrics", "nll", "--json"]) == 0
    nll = json.loads(capsys.readouterr().out)["nll"]
    data, model = load_file(path), dgm.load(run)
    values = torch.tensor(data.label_values)[data.split_labels("test")]
    classes = torch.tensor([VALUES.index(int(v)) for v in values])  # 0 -> class 1, 5000 -> class 2
    with torch.no_grad():
        expected = -model.log_prob(data.split("test"), one_hot(classes, 3, data.split("test"))).mean()
    assert nll == pytest.approx(float(expected), rel=1e-5)
    assert main(["evaluate", str(run), "--data", str(labelled_npz(tmp_path / "e.npz", [0, 7]))]) == 2
    err = error_line(capsys)
    assert "label values 7" in err and "-1, 0, 5000" in err


def test_a_constant_column_stops_training_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rows = np.c_[np.random.default_rng(0).normal(size=(30, 1)), np.full(30, 2.0)]
    path = tmp_path / "c.csv"
    path.write_text("speed,gear\n" + "\n".join(f"{a},{b}" for a, b in rows) + "\n")
    out = tmp_path / "run"
    assert main(["train", "gaussian", "--data", str(path), "--out", str(out), "--no-progress"]) == 2
    err = error_line(capsys)
    assert "column 1 (0-based) 'gear' is constant" in err and "infinite" in err
    assert not (out / "config.json").exists()


def test_list_metrics_explains_a_negative_energy_distance(capsys: pytest.CaptureFixture) -> None:
    assert main(["list", "metrics"]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("energy_distance"))
    assert "negative" in line and "unbiased" in line


@pytest.mark.slow
def test_conditional_run_on_label_values_0_5000_and_negative(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, run = labelled_npz(tmp_path / "d.npz", [-7, 0, 5000], n=300), tmp_path / "run"
    words = "train realnvp --max-steps 3 --no-progress --set conditional=true --set model_args.transforms=2"
    argv = [*words.split(), "--set", "model_args.hidden=[8]", "--data", str(data), "--out", str(run)]
    assert main(argv) == 0
    recorded = json.loads((run / "config.json").read_text())["data"]
    assert recorded["label_values"] == [-7, 0, 5000] and recorded["classes"] == 3
    assert dgm.load(run).context_features == 3
    assert main(["sample", str(run), "--label", "-7", "-n", "5", "-o", str(tmp_path / "s.npy")]) == 0
    assert main(["sample", str(run), "--label", "5000", "-n", "5", "-o", str(tmp_path / "s.npy")]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--label", "1234", "-n", "5"]) == 2
    assert "-7, 0, 5000" in error_line(capsys)
    assert main(["evaluate", str(run), "--data", str(data), "--json"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(labelled_npz(tmp_path / "e.npz", [0, 1]))]) == 2
    assert "label values 1 " in error_line(capsys)
