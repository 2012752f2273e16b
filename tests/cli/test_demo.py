"""`dgm demo`: `dgm compare` of every model of points on moons into a folder it owns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.cli.main import main
from dgm.compare import models_for
from dgm.data import load_data


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "is not a dgm demo folder" in err and err.count("\n") == 1
    assert (tmp_path / "mine.txt").read_text() == "keep me"


@pytest.mark.slow
def test_demo_compares_every_model_of_points_and_starts_afresh(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()  # an earlier demo's folder (its marker inside): emptied and made again
    (out / ".dgm-demo").touch()
    (out / "stale.txt").write_text("from an earlier demo")
    argv = ["demo", "--out", str(out), "--max-steps", "2", "--n-test", "200", "--n-samples", "100",
            "--importance-samples", "2"]  # fmt: skip
    assert main(argv) == 0
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert [r["name"] for r in rows] == models_for(load_data("moons"))  # the registry decides
    assert not (out / "stale.txt").exists()
    # Each model's section shows its figures: samples beside the data, the density beside the truth
    # where it is exact (a VAE's bound draws none), training curves where it trained.
    page = (out / "report.html").read_text()
    for r in rows:
        section = page.split(f"id='model-{r['name']}'")[1].split("</section>")[0]
        assert 'alt="samples"' in section, r["name"]
        assert ('alt="density"' in section) == (r["density"] == "exact"), r["name"]
        assert ('alt="training"' in section) == (r["steps"] > 0), r["name"]
        # and its costs: training time where it trained, sampling time, parameters
        assert (r["train_seconds"] > 0) == (r["steps"] > 0) and r["sample_seconds_per_10k"] > 0, r["name"]
        assert r["parameters"] >= 4, r["name"]  # the smallest: a diagonal Gaussian's mean and scales
