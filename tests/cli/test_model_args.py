"""`--set model_args.NAME=VALUE` with values that make no sense: one line naming the argument, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgm.cli.main import main


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("model_args.transforms=0", "model_args.transforms of 'realnvp' must be positive, got 0"),
        ("model_args.transforms=-3", "model_args.transforms of 'realnvp' must be positive, got -3"),
        ("model_args.hidden=[-5]", "model_args.hidden of 'realnvp' must be positive, got [-5]"),
        ("model_args.hidden=abc", "must be a list of integers like [128, 128], got 'abc'"),
        ("model_args.scale_bound=nan", "model_args.scale_bound of 'realnvp' must be a finite number"),
        ("model_args.scale_bound=inf", "model_args.scale_bound of 'realnvp' must be a finite number"),
        ("lr=inf", "lr must be a finite number"),
        ("batch_size=12345678901234567890123", "batch_size is too large"),
    ],
)
def test_bad_model_arguments_are_one_line_and_exit_2(
    setting: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["train", "realnvp", "--data", "moons", "--out", str(tmp_path / "r"), "--max-steps", "2"]
    assert main([*argv, "--no-progress", "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
