"""End-to-end training through the CLI: resume after SIGKILL, NaN stop, DDP, time and epoch limits."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import dgm
from dgm.build import model_arguments
from dgm.cli.main import main
from dgm.testing import kill_after_checkpoint
from dgm.train.fit import finished

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "dgm.cli.main"]


def _train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "gaussian",
        "--data",
        str(data),
        "--out",
        str(out),
        "--no-progress",
        "--set",
        "model_args.init=standard",
        "--lr",
        "3e-3",
        "--batch-size",
        "64",
        *extra,
    ]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def _check_run_files_complete(run: Path) -> None:
    """Every file of the run parses: nothing half-written, no temporary leftovers visible as files."""
    json.loads((run / "config.json").read_text())
    dgm.load(run)
    torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    lines = (run / "metrics.csv").read_text().splitlines()
    assert all(len(line.split(",")) == len(lines[0].split(",")) for line in lines)


def test_sigkill_then_resume_is_bit_for_bit(points_csv: Path, tmp_path: Path) -> None:
    steps = ["--max-steps", "4000", "--set", "checkpoint_every=50"]
    killed_at = kill_after_checkpoint(
        [*CLI, *_train_args(points_csv, tmp_path / "killed", *steps)], tmp_path / "killed"
    )
    assert 0 < killed_at < 4000
    _check_run_files_complete(tmp_path / "killed")
    assert not finished(tmp_path / "killed")  # what dgm compare and reproduce go by

    assert main([*_train_args(points_csv, tmp_path / "killed", *steps), "--resume"]) == 0
    assert finished(tmp_path / "killed")
    ckpt = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True)
    del state["dgm"]["finished"]  # as written before checkpoints said so: judged by the step budget
    torch.save(state, ckpt)
    assert finished(tmp_path / "killed")
    assert main(_train_args(points_csv, tmp_path / "straight", *steps)) == 0
    a, b = _weights(tmp_path / "killed"), _weights(tmp_path / "straight")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not list((tmp_path / "killed").rglob(".*.tmp"))
    steps_logged = [
        int(r.split(",")[0]) for r in (tmp_path / "killed" / "metrics.csv").read_text().splitlines()[1:]
    ]
    assert steps_logged == sorted(set(steps_logged)) and steps_logged[-1] == 4000


def test_resume_without_checkpoint_and_overwrite_are_refused(
    points_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main([*_train_args(points_csv, tmp_path / "r", "--max-steps", "5"), "--resume"]) == 2
    assert "cannot resume" in capsys.readouterr().err
    assert main(_train_args(points_csv, tmp_path / "r", "--max-steps", "5")) == 0
    assert main(_train_args(points_csv, tmp_path / "r", "--max-steps", "5")) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(
    points_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "nan"
    args = _train_args(points_csv, run, "--max-steps", "100", "--set", "checkpoint_every=1", "--lr", "1e9")
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at step" in err[0] and "last good checkpoint" in err[0], err
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())
    assert all(torch.isfinite(v).all() for v in _weights(run).values())


def test_ddp_two_gloo_processes_match_single_process(points_csv: Path, tmp_path: Path) -> None:
    common = ["--max-steps", "150", "--lr", "1e-2"]
    single = subprocess.run(
        [*CLI, *_train_args(points_csv, tmp_path / "one", *common)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run(
        [*CLI, *_train_args(points_csv, tmp_path / "two", *common), "--devices", "2", "--strategy", "ddp"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ddp.returncode == 0, ddp.stderr
    one = json.loads((tmp_path / "one" / "report.json").read_text())
    two = json.loads((tmp_path / "two" / "report.json").read_text())
    assert two["processes"] == 2 and one["processes"] == 1
    assert two["steps"] == one["steps"] == 150
    # Each process takes half of every global batch, so the averaged gradient is the same.
    assert abs(two["nll"] - one["nll"]) < 1e-3


def test_max_time_and_epochs(points_csv: Path, tmp_path: Path) -> None:
    assert main(_train_args(points_csv, tmp_path / "e", "--epochs", "3")) == 0
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert report["steps"] == 3 * (480 // 64)  # 600 samples, 80% train, full batches only
    t0 = time.time()
    assert (
        main(_train_args(points_csv, tmp_path / "t", "--max-time", "3s", "--set", "max_steps=10000000")) == 0
    )
    assert time.time() - t0 < 60
    assert 0 < json.loads((tmp_path / "t" / "report.json").read_text())["steps"] < 10_000_000


def test_resume_is_bit_for_bit_when_training_draws_random_numbers(tmp_path: Path) -> None:
    """Dequantisation draws noise at every step: a resumed run must draw exactly the same."""
    run = "train diag-gaussian --data digits --no-progress --batch-size 64".split()
    common = "--set lr_schedule=constant --set model_args.init=standard --set checkpoint_every=10".split()
    assert main([*run, *common, "--out", str(tmp_path / "a"), "--max-steps", "20"]) == 0
    assert (
        main(["train", "diag-gaussian", "--out", str(tmp_path / "a"), "--max-steps", "40", "--resume"]) == 0
    )
    assert main([*run, *common, "--out", str(tmp_path / "b"), "--max-steps", "40"]) == 0
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_changed_settings(
    points_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(_train_args(points_csv, tmp_path / "r", "--max-steps", "5")) == 0
    capsys.readouterr()
    assert main([*_train_args(points_csv, tmp_path / "r", "--max-steps", "10"), "--resume", "--lr", "5"]) == 2
    err = capsys.readouterr().err
    assert "lr" in err and "only max_steps" in err
    # The same settings spelled differently are the same run.
    same = ["--resume", "--set", "lr=0.003", "--set", "model_args.init=standard", "--set", "dequantize=false"]
    resumed = main([*_train_args(points_csv, tmp_path / "r", "--max-steps", "10"), *same])
    assert resumed == 0, capsys.readouterr().err


def test_model_file_records_every_model_argument(points_csv: Path, tmp_path: Path) -> None:
    """Defaults are written out, so a later change of a default cannot change a saved model."""
    out = str(tmp_path / "m")
    assert main(["train", "realnvp", "--data", str(points_csv), "--out", out, "--max-steps", "2"]) == 0
    saved = json.loads((tmp_path / "m" / "config.json").read_text())["model_args"]
    assert saved == json.loads(json.dumps(model_arguments("realnvp")))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_at_a_step_with_a_checkpoint_and_resumes(
    signum: int, points_csv: Path, tmp_path: Path
) -> None:
    run = tmp_path / "s"
    proc = subprocess.Popen(
        [*CLI, *_train_args(points_csv, run, "--max-steps", "100000", "--set", "checkpoint_every=100000")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not (run / "metrics.csv").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "interrupted" in err and "--resume" in err and len(err.strip().splitlines()) == 1
    step = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["dgm"]["step"]
    assert 0 < step < 100000
    assert (run / "metrics.csv").read_text().splitlines()[-1].split(",")[0] == str(step)
    assert main(["train", "gaussian", "--out", str(run), "--resume", "--max-steps", str(step + 5)]) == 0


def test_small_file_trains_and_evaluates(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "ten.csv"
    path.write_text("\n".join(f"{i},{i * i % 7}" for i in range(10)) + "\n")
    assert (
        main(
            [
                "train",
                "gaussian",
                "--data",
                str(path),
                "--out",
                str(tmp_path / "r"),
                "--max-steps",
                "5",
                "--no-progress",
            ]
        )
        == 0
    )
    assert (tmp_path / "r" / "metrics.csv").exists()  # the last step is logged even when < log_every
    assert oct((tmp_path / "r" / "model.safetensors").stat().st_mode & 0o077) != "0o0"  # not private 0600
