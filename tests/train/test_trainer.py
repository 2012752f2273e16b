"""The training core end to end: two players, resume for every objective, DDP, the kept model,
early stopping, time-bounded schedules, weight averaging and density kinds."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import dgm
import dgm.catalog  # noqa: F401  (registers every component)
from dgm.cli.main import main
from dgm.data import load_data
from dgm.registry import MODELS, OBJECTIVES
from dgm.testing import kill_after_checkpoint, model_for
from dgm.train.validation import validation_score

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "dgm.cli.main"]
SMALL_GAN = ["--set", "model_args.hidden=[32,32]", "--batch-size", "64"]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def _same(a: Path, b: Path) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _gan(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "gan", "--data", str(data), "--out", str(out), "--no-progress", *SMALL_GAN, *extra]


def test_gan_survives_sigkill_and_resumes_bit_for_bit(points_csv: Path, tmp_path: Path) -> None:
    steps = ["--max-steps", "3000", "--set", "checkpoint_every=50"]
    run = tmp_path / "killed"
    assert 0 < kill_after_checkpoint([*CLI, *_gan(points_csv, run, *steps)], run) < 3000
    assert main([*_gan(points_csv, tmp_path / "killed", *steps), "--resume"]) == 0  # the stale claim is taken
    assert main(_gan(points_csv, tmp_path / "straight", *steps)) == 0
    assert _same(tmp_path / "killed", tmp_path / "straight")


@pytest.mark.parametrize("objective", OBJECTIVES.names())
def test_every_objective_resumes_bit_for_bit(objective: str, points_csv: Path, tmp_path: Path) -> None:
    """Optimiser states, step, RNG, EMA and the best model so far all travel in the checkpoint."""
    data = points_csv
    common = "--set lr_schedule=constant --set ema=0.9 --set val_every=10".split()
    if MODELS.get(model_for(objective)).semi_supervised:  # 3 classes, 30 of 600 points labelled
        data = tmp_path / "labelled.npz"
        np.savez(data, x=np.loadtxt(points_csv, delimiter=",", skiprows=1), y=np.arange(600) % 3)
        common += ["--set", "labels=30"]
    run = ["train", model_for(objective), "--data", str(data), "--no-progress", "--batch-size", "64"]
    assert main([*run, *common, "--out", str(tmp_path / "a"), "--max-steps", "25"]) == 0
    resume = ["train", model_for(objective), "--out", str(tmp_path / "a"), "--max-steps", "50", "--resume"]
    assert main(resume) == 0
    assert main([*run, *common, "--out", str(tmp_path / "b"), "--max-steps", "50"]) == 0
    assert _same(tmp_path / "a", tmp_path / "b")
    ca, cb = (torch.load(tmp_path / r / "checkpoints" / "last.ckpt", weights_only=True) for r in "ab")
    assert all(torch.equal(ca["state_dict"][k], cb["state_dict"][k]) for k in ca["state_dict"])
    # The end of the first part (step 25) was scored for its model file, not for the selection.
    assert ca["dgm"]["best"]["step"] % 10 == 0 and ca["dgm"]["best"]["step"] == cb["dgm"]["best"]["step"]


def test_gan_ddp_two_gloo_processes_match_single_process(points_csv: Path, tmp_path: Path) -> None:
    """Each process takes half of every global batch and its share of the global noise."""
    common = ["--max-steps", "30", "--set", "keep=last"]
    for out, extra in (("one", []), ("two", ["--devices", "2", "--strategy", "ddp"])):
        done = subprocess.run(
            [*CLI, *_gan(points_csv, tmp_path / out, *common, *extra)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "two" / "report.json").read_text())["processes"] == 2
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    for k in one:
        torch.testing.assert_close(one[k], two[k], rtol=1e-4, atol=1e-5)


def test_gan_ddp_with_a_time_budget_stops_all_processes_together(points_csv: Path, tmp_path: Path) -> None:
    """Each process has its own clock: the stop is agreed, or one process would wait for ever."""
    args = _gan(points_csv, tmp_path / "t", "--max-time", "5s", "--devices", "2", "--strategy", "ddp")
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "t" / "report.json").read_text())["processes"] == 2


def _overfit_data(tmp_path: Path) -> Path:
    """80 points of a 4-D Gaussian: a MAF memorises 64 of them long before 1500 steps."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(80, 4, generator=g, dtype=torch.float64)
    path = tmp_path / "few.csv"
    path.write_text("\n".join(",".join(f"{v:.8g}" for v in row) for row in x.tolist()) + "\n")
    return path


def test_an_overfitting_run_keeps_its_best_validated_model(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, out = _overfit_data(tmp_path), tmp_path / "o"
    args = ["train", "maf", "--data", str(data), "--out", str(out), "--no-progress", "--max-steps", "1500"]
    assert main([*args, "--batch-size", "16", "--lr", "3e-3", "--set", "val_every=25"]) == 0
    with (out / "metrics.csv").open() as f:
        val = {int(r["step"]): float(r["val/nll"]) for r in csv.DictReader(f) if r.get("val/nll")}
    best = min(val, key=val.get)
    assert best < 1500 and val[1500] > val[best] + 0.5, val  # it did overfit
    assert json.loads((out / "config.json").read_text())["kept"]["step"] == best
    model = dgm.load(out)
    x = load_data(str(data)).split("val").float()
    assert validation_score(model, (x,), 0) == pytest.approx(val[best], rel=1e-5)
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model_step"] == best
    # Early stopping: patience counts validations without improvement.
    args = ["train", "maf", "--data", str(data), "--out", str(tmp_path / "p"), "--no-progress"]
    assert (
        main(
            [
                *args,
                "--max-steps",
                "1500",
                "--batch-size",
                "16",
                "--lr",
                "3e-3",
                "--set",
                "val_every=25",
                "--set",
                "patience=4",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "p" / "report.json").read_text())
    assert report["steps"] == report["model_step"] + 4 * 25 < 1500
    assert "stopped early" in capsys.readouterr().out


def _realnvp(data: Path, out: Path) -> list[str]:
    return ["train", "realnvp", "--data", str(data), "--out", str(out), "--no-progress"]


def test_a_run_bounded_by_time_decays_its_learning_rate(points_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "t"
    assert main([*_realnvp(points_csv, out), "--max-time", "4s"]) == 0
    with (out / "metrics.csv").open() as f:
        lrs = [float(r["lr"]) for r in csv.DictReader(f) if r.get("lr")]
    assert lrs[0] > 0.5e-3 and lrs[-1] < 0.05e-3, (lrs[0], lrs[-1])


def test_ema_weights_are_the_saved_model(points_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "e"
    assert (
        main([*_realnvp(points_csv, out), "--max-steps", "40", "--set", "ema=0.9", "--set", "keep=last"]) == 0
    )
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    saved, shadow = _weights(out), ckpt["dgm"]["ema"]
    assert all(torch.equal(saved[k], shadow[k]) for k in shadow)
    current = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    assert any(not torch.equal(saved[k], current[k]) for k in shadow)


def test_a_variationally_dequantised_model_reports_a_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "v"
    args = ["train", "glow", "--data", "digits", "--out", str(out), "--no-progress", "--max-steps", "3"]
    small = ["--set", "model_args.hidden=8", "--set", "model_args.steps=1", "--set", "dequantize=variational"]
    assert main([*args, *small]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data", "digits", "--json", "--metrics", "nll_bound"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["density"] == "bound" and "nll" not in result and "bits_per_dim" not in result
    assert result["nll_bound"] > 0 and "bits_per_dim_bound" in result
    assert (
        main(
            [
                "evaluate",
                str(out),
                "--data",
                "digits",
                "--json",
                "--metrics",
                "nll",
                "--importance-samples",
                "2",
            ]
        )
        == 0
    )
    estimate = json.loads(capsys.readouterr().out)
    assert estimate["nll_k"] == 2 and estimate["nll"] <= result["nll_bound"] + 4 * result["nll_bound_se"]
    assert main(["evaluate", str(out), "--data", "digits", "--metrics", "nll"]) == 2
    assert "--importance-samples" in capsys.readouterr().err


def test_gan_divergence_names_the_step_and_the_player(
    points_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = _gan(
        points_csv,
        tmp_path / "n",
        "--max-steps",
        "200",
        "--set",
        "optim.generator.lr=1e25",
        "--set",
        "optim.critic.lr=1e25",
    )
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "of player" in err and "at step" in err, err


def test_resuming_a_spent_budget_says_how_to_extend_it(
    points_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "b"
    assert main([*_realnvp(points_csv, out), "--max-time", "2s"]) == 0
    capsys.readouterr()
    assert main(["train", "realnvp", "--out", str(out), "--resume", "--max-time", "2s"]) == 2
    err = capsys.readouterr().err
    assert "total over all its parts" in err and "longer --max-time" in err, err
    assert main(["train", "realnvp", "--out", str(out), "--resume", "--max-time", "3s"]) == 0


def test_progress_off_a_terminal_is_a_line_per_tenth_on_stderr(points_csv: Path, tmp_path: Path) -> None:
    cli = [
        *CLI,
        "train",
        "realnvp",
        "--data",
        str(points_csv),
        "--out",
        str(tmp_path / "p"),
        "--max-steps",
        "200",
    ]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == [f"{20 * k}/200" for k in range(1, 11)], done.stderr
    assert "\r" not in done.stdout + done.stderr and "step 20/200" not in done.stdout
