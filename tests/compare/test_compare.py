"""`dgm compare`: the same budget and evaluation for every model, resumable, errors in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.cli.main import main
from dgm.compare import compare, family, models_for
from dgm.compare.runner import training_clock
from dgm.data import load_data
from dgm.errors import DgmError
from dgm.registry import MODELS


def test_every_model_has_a_family() -> None:
    families = {name: family(name) for name in MODELS.names()}
    assert "other" not in families.values()
    assert (families["realnvp"], families["otflow"], families["vae"], families["wgan"]) == (
        "finite flow", "continuous flow", "VAE", "GAN")  # fmt: skip
    moons, digits = load_data("moons"), load_data("digits")
    assert "dcgan" not in models_for(moons) and "dcgan" in models_for(digits)
    assert "vae-m2" not in models_for(moons) and "vae-m2" in models_for(digits)  # it needs labels
    assert "vae-m1m2" not in models_for(digits)  # it needs a trained VAE


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--models", "nosuch"], "unknown model 'nosuch'"),
        (["--models", "dcgan"], "does not fit points data"),
        (["--models", "gan", "--max-time", "soon"], "soon"),
        (["--models", "gan", "--max-steps", "0"], "--max-steps must be a positive integer"),
        (["--models", "gan,gan"], "names a model twice"),
        (["--models", "gan,vae-m1m2"], "starts from a trained VAE (M1): train it with"),  # before gan trains
    ],
)
def test_bad_input_is_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["compare", "--data", "moons", "--out", str(tmp_path / "c"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_training_clock_reaches_the_last_step(tmp_path: Path) -> None:
    """A run stopped by its time budget between rows logs its last step with the clock too (a
    comparison under a time budget would otherwise report an earlier row's step and time)."""
    import dgm

    settings = {"max_time": "2s", "val_every": 10**6, "log_every": 10**6, "model_args": {"hidden": [8]}}
    dgm.fit("realnvp", "moons", out=tmp_path / "r", **settings)
    steps, seconds = training_clock(tmp_path / "r" / "metrics.csv")
    last = (tmp_path / "r" / "metrics.csv").read_text().splitlines()[-1]
    assert steps > 0 and last.startswith(f"{steps},") and seconds >= 2


@pytest.mark.slow
def test_compare_trains_evaluates_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "c"
    argv = ["compare", "--data", "moons", "--models", "gaussian,vae,gan", "--max-steps", "20",
            "--n-samples", "200", "--importance-samples", "10", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    rows = {r["name"]: r for r in report["rows"]}
    assert list(rows) == ["gaussian", "vae", "gan"]
    assert rows["vae"]["steps"] == 20 and rows["gaussian"]["steps"] == 0
    assert rows["vae"]["metrics"]["nll_k"] == 10 and "nll" not in rows["gan"]["metrics"]
    assert all(r["metrics"]["n_test"] == rows["gan"]["metrics"]["n_test"] for r in rows.values())
    # A finished run folder is taken as it is, and a second comparison reuses each finished row.
    stamp = (out / "vae" / "evaluation.json").stat().st_mtime_ns
    same = {"max_steps": 20, "n_samples": 200, "importance_samples": 10, "progress": False}
    again = compare("moons", [str(out / "vae"), "gaussian"], out, **same)
    assert [r.name for r in again] == ["vae", "gaussian"]
    assert (out / "vae" / "evaluation.json").stat().st_mtime_ns == stamp
    assert again[0].metrics == pytest.approx(rows["vae"]["metrics"], nan_ok=True)
    # Another run of the same name is not this folder's row.
    shutil.copytree(out / "vae", tmp_path / "elsewhere" / "vae")
    with pytest.raises(DgmError, match="holds the row of the run"):
        compare("moons", [str(tmp_path / "elsewhere" / "vae")], out, **same)
    moved = shutil.move(out, tmp_path / "moved")  # a comparison folder may move: its rows go with it
    assert compare("moons", ["vae"], Path(moved), **same)[0].metrics == again[0].metrics
    assert (Path(moved) / "vae" / "evaluation.json").stat().st_mtime_ns == stamp
    shutil.move(moved, out)
    # Killed after training but before evaluating: the trained runs are evaluated, not retrained.
    trained = {m: (out / m / "model.safetensors").stat().st_mtime_ns for m in ("gaussian", "vae")}
    for m in trained:
        (out / m / "evaluation.json").unlink()
    assert main(argv) == 0
    assert {m: (out / m / "model.safetensors").stat().st_mtime_ns for m in trained} == trained
    assert all((out / m / "evaluation.json").exists() for m in trained)
    # The folder holds one comparison: other settings would reuse rows made under these.
    assert main([*argv[:-2], "--importance-samples", "100", "--out", str(out)]) == 2
    assert "holds a comparison with importance_samples=10, not 100" in capsys.readouterr().err


@pytest.mark.slow
def test_rejection_adds_a_row_for_each_gan_whose_critic_holds_the_ratio(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "c"
    argv = ["compare", "--data", "ring8", "--models", "gan,wgan,realnvp", "--max-steps", "20",
            "--n-samples", "200", "--rejection", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "wgan: no +DRS row" in capsys.readouterr().out
    rows = {r["name"]: r for r in json.loads((out / "report.json").read_text())["rows"]}
    assert list(rows) == ["gan", "gan +DRS", "wgan", "realnvp"]
    plain, drs = rows["gan"], rows["gan +DRS"]
    assert drs["run"] == plain["run"] and drs["steps"] == plain["steps"] == 20
    assert drs["metrics"]["sampling"] == "discriminator rejection" and 0 < drs["metrics"]["acceptance"] < 1
    assert "sampling" not in plain["metrics"] and drs["figures"] == [] and plain["figures"]
    assert drs["metrics"]["energy_distance"] != plain["metrics"]["energy_distance"]
    # Rerun: both rows are reused, not evaluated again; without --rejection the folder is the same.
    stamps = [(out / f / "evaluation.json").stat().st_mtime_ns for f in ("gan", "gan+drs")]
    assert main(argv) == 0
    assert [(out / f / "evaluation.json").stat().st_mtime_ns for f in ("gan", "gan+drs")] == stamps
    assert main([a for a in argv if a != "--rejection"]) == 0
    # A run evaluated afresh gets its +DRS row afresh.
    (out / "gan" / "evaluation.json").unlink()
    assert main(argv) == 0
    assert (out / "gan+drs" / "evaluation.json").stat().st_mtime_ns != stamps[1]
