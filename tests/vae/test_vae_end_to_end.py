"""VAEs through the CLI on `digits`: each decoder likelihood gets the pipeline it needs, and the
report keeps bounds, estimates and bits/dim apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dgm.cli.main import main

pytestmark = pytest.mark.slow


def _train(run: Path, *settings: str) -> None:
    args = ["train", "vae", "--data", "digits", "--out", str(run), "--max-steps", "150", "--batch-size", "64"]
    assert main([*args, *(a for s in settings for a in ("--set", s))]) == 0


def _evaluate(run: Path, capsys: pytest.CaptureFixture, *extra: str) -> dict:
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", "digits", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_bernoulli_vae_on_binarised_digits(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "bern"
    _train(run, "likelihood=bernoulli", "latent=2")
    config = json.loads((run / "config.json").read_text())["train"]
    assert (config["preprocess"], config["dequantize"]) == ("none", "none")
    for fig in ("samples.png", "latent.png", "reconstructions.png", "interpolation.png"):
        assert (run / "figures" / fig).read_bytes()[:4] == b"\x89PNG", fig
    out = _evaluate(run, capsys, "--importance-samples", "200")
    assert out["density"] == "bound" and out["nll_k"] == 200
    # The estimate is a tighter bound than the ELBO (both seeded, on the same binarised test set).
    assert out["nll"] < out["nll_bound"] < 64 * np.log(2)  # below the cost of coin flips
    assert "bits_per_dim" not in out and "bits_per_dim_bound" not in out  # nats on binary data
    assert main(["sample", str(run), "-n", "20", "-o", str(tmp_path / "s.npy")]) == 0
    assert set(np.unique(np.load(tmp_path / "s.npy"))) <= {0.0, 1.0}  # draws from the decoder


def test_logistic_vae_reports_bits_per_dim_and_a_conditional_vae_samples_a_class(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "logistic"
    _train(run, "likelihood=logistic", "levels=17", "conditional=true")
    out = _evaluate(run, capsys)
    assert 0 < out["bits_per_dim_bound"] < np.log2(17)  # beats a uniform code over the 17 levels
    assert main(["sample", str(run), "-n", "10", "--label", "3", "-o", str(tmp_path / "s.npy")]) == 0
    levels = np.load(tmp_path / "s.npy") * 16
    assert np.allclose(levels, levels.round(), atol=1e-4)  # on the 17 grey levels


def test_importance_sampling_keeps_the_sample_metrics(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "vae"
    _train(run, "likelihood=bernoulli", "latent=2")
    out = _evaluate(run, capsys, "--importance-samples", "10")
    assert {"nll", "nll_bound", "energy_distance", "seed_energy"} <= set(out)


def test_a_vae_on_a_user_csv_reports_its_bound_and_estimate_in_the_data_s_units(
    points_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`dgm train vae --data FILE.csv`: standardised inside, nats of the user's units outside, and
    synthetic rows written as the file was."""
    run = tmp_path / "csv"
    args = ["train", "vae", "--data", str(points_csv), "--out", str(run), "--max-steps", "150"]
    assert main([*args, "--set", "hidden=[32]", "--set", "latent=2"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["preprocess"] == "standardize"
    capsys.readouterr()
    assert (
        main(["evaluate", str(run), "--data", str(points_csv), "--json", "--importance-samples", "100"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["density"] == "bound" and out["nll_k"] == 100 and out["nll_se"] > 0
    assert out["nll"] < out["nll_bound"]
    assert (run / "figures" / "samples.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["sample", str(run), "-n", "7", "-o", str(tmp_path / "s.csv")]) == 0
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "a,b"  # synthetic rows under the training file's header
    assert np.loadtxt(lines[1:], delimiter=",").shape == (7, 2)
