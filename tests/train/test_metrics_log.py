"""metrics.csv: rows appended in linear time, the file rewritten only for a new column or a
merged row, and a resume that drops the rows past the checkpoint and a line cut short."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from dgm.train.callbacks import MetricsLog


def _read(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_rows_are_appended_and_a_new_column_or_a_merged_row_rewrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, path = MetricsLog(tmp_path / "metrics.csv"), tmp_path / "metrics.csv"
    rewrites = []
    rewrite = MetricsLog._rewrite
    monkeypatch.setattr(MetricsLog, "_rewrite", lambda self: (rewrites.append(1), rewrite(self)))
    for step in range(10, 1010, 10):
        log(step, {"wall_time": step / 10, "train/loss": 1.0 / step})
    assert len(rewrites) == 1  # the first row; the other 99 appended
    log(1000, {"val/nll": 0.5})  # the last validation, at the last training row's step
    log(1010, {"wall_time": 101.0, "train/loss": 0.25})
    rows = _read(path)
    assert len(rewrites) == 2 and len(rows) == 101
    assert rows[-2] == {"step": "1000", "wall_time": "100", "train/loss": repr(1 / 1000), "val/nll": "0.5"}
    assert rows[0]["val/nll"] == "" and rows[-1]["train/loss"] == "0.25"
    log(1020, {"wall_time": 102.0, "train/new": 1.0})  # a new column
    assert len(rewrites) == 3 and _read(path)[-1]["train/new"] == "1" and _read(path)[0]["train/new"] == ""


def test_resume_keeps_the_rows_up_to_the_checkpoint_and_drops_a_line_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    log = MetricsLog(path)
    for step in (10, 20, 30):
        log(step, {"wall_time": step, "train/loss": step / 100})
    path.write_text(path.read_text() + "40,40,0.")  # killed while appending
    resumed = MetricsLog(path)
    resumed.resume(20)
    assert [r["step"] for r in _read(path)] == ["10", "20"]
    resumed(30, {"wall_time": 31, "train/loss": 0.5})
    assert [(r["step"], r["train/loss"]) for r in _read(path)] == [
        ("10", "0.1"),
        ("20", "0.2"),
        ("30", "0.5"),
    ]
    path.write_text(path.read_text() + "4")  # a step number cut short is no row either
    again = MetricsLog(path)
    again.resume(30)
    assert [r["step"] for r in _read(path)] == ["10", "20", "30"]
