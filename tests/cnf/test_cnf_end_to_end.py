"""Each continuous flow through the CLI: train (toy and user CSV), evaluate --json, sample with a
chosen solver; and briefly trained models whose densities integrate to one and respect the
toy's true entropy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import dgm
from dgm.cli.main import main
from dgm.data import load_data
from dgm.metrics import evaluate

pytestmark = pytest.mark.slow

CNFS = ["otflow", "ffjord", "flow-matching"]


@pytest.fixture(scope="module", params=CNFS)
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """Each continuous flow after 300 steps on moons, evaluated with RK4 (FFJORD and flow matching
    default to dopri5), through the Python API."""
    name, run = request.param, tmp_path_factory.mktemp("cnf") / request.param
    fixed = {"eval_solver": "rk4", "eval_steps": 8}
    dgm.fit(name, "moons", out=run, max_steps=300, val_every=100, model_args=fixed)
    return name, run


def test_train_evaluate_sample_on_moons(
    trained: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _, run = trained
    for fig in ("density.png", "samples.png", "layers.png", "velocity.png"):
        assert (run / "figures" / fig).read_bytes()[:4] == b"\x89PNG", fig
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", "moons", "--json", "--solver", "rk4", "--steps", "6"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"nll", "kl", "nfe", "transport_cost", "normalization"} <= set(out)
    assert out["nfe"] == 24 and out["solver"] == "rk4, 6 steps" and out["transport_cost"] > 0
    sample = [
        "sample",
        str(run),
        "-n",
        "50",
        "--solver",
        "euler",
        "--steps",
        "2",
        "-o",
        str(tmp_path / "s.npy"),
    ]
    assert main(sample) == 0
    assert np.isfinite(np.load(tmp_path / "s.npy")).all()


def test_trained_density_is_normalised_and_above_the_true_entropy(trained: tuple[str, Path]) -> None:
    """∫ p = 1 within 1% on the grid, and the test NLL is not below H beyond its Monte Carlo error
    (3 standard errors of both)."""
    data = load_data("moons")
    out = evaluate(dgm.load(trained[1]), data, "test", ["nll", "normalization"])
    h, h_se = data.entropy
    assert out["normalization"] == pytest.approx(1.0, abs=0.01)
    assert out["nll"] > h - 3 * (out["nll_se"] + h_se)


def test_flow_matching_with_ot_coupling_on_a_user_csv(points_csv: Path, tmp_path: Path) -> None:
    run = tmp_path / "fm"
    args = ["train", "flow-matching", "--data", str(points_csv), "--out", str(run), "--max-steps", "20"]
    assert main([*args, "--no-progress", "--set", "coupling=ot", "--set", "hidden=[16,16]"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["objective_args"] == {"coupling": "ot", "sigma": 0.0, "teacher": ""}
    assert config["model_args"]["hidden"] == [16, 16]
    assert main(["evaluate", str(run), "--data", str(points_csv)]) == 0
    resume = ["train", "flow-matching", "--out", str(run), "--max-steps", "30", "--resume", "--no-progress"]
    assert main([*resume, "--set", "coupling=ot"]) == 0  # the saved setting, given again
    assert main([*resume, "--set", "coupling=independent"]) == 2  # another run's


def test_reflow_trains_on_a_teachers_pairs(tmp_path: Path) -> None:
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    common = ["--max-steps", "20", "--no-progress", "--set", "eval_solver=rk4", "--set", "eval_steps=4"]
    assert main(["train", "flow-matching", "--data", "moons", "--out", str(teacher), *common]) == 0
    reflow = ["--set", "coupling=reflow", "--set", f"teacher={teacher}"]
    assert main(["train", "flow-matching", "--data", "moons", "--out", str(student), *common, *reflow]) == 0
    config = json.loads((student / "config.json").read_text())
    assert config["train"]["objective_args"]["teacher"] == str(teacher)


def test_solver_flags_are_refused_for_a_model_without_an_ode(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "g"
    assert (
        main(["train", "gaussian", "--data", "moons", "--out", str(run), "--max-steps", "0", "--no-progress"])
        == 0
    )
    assert main(["sample", str(run), "--solver", "rk4"]) == 2
    assert "apply to continuous flows" in capsys.readouterr().err
