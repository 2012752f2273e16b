"""`dgm reproduce seed-paper`: every experiment runs, in order, resumable, into one table."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model
from dgm.compare import seed_paper
from dgm.config import RunConfig
from dgm.errors import DgmError
from dgm.registry import MODELS


@pytest.mark.parametrize("batch_norm", [False, True])
def test_experiments_are_valid_runs(batch_norm: bool) -> None:
    """Each experiment's settings make a valid RunConfig and build, with the seed's BatchNorm where
    its networks had it or without; a VAE-initialised GAN starts from an experiment that runs before
    it and whose decoder fits its generator."""
    names = [ex.name for ex in seed_paper.EXPERIMENTS]

    def model_args(ex: seed_paper.Experiment) -> dict:
        return {
            **ex.config.get("model_args", {}),
            **({"batch_norm": True} if batch_norm and ex.seed_batch_norm else {}),
        }

    for i, ex in enumerate(seed_paper.EXPERIMENTS):
        RunConfig(**{**ex.config, "model_args": model_args(ex)}, max_steps=ex.steps).resolve()
        assert ex.config["model"] in MODELS and ex.metric.removesuffix("_x1000") in {
            k.removesuffix("_bound") for k in ex.metrics
        } | set(ex.metrics)
        assert ex.seed_batch_norm == (ex.config["data"] == "mnist")  # the seed's MNIST networks had it
        if ex.init_from:
            assert ex.init_from in names[:i]
            source = seed_paper.EXPERIMENTS[names.index(ex.init_from)]
            vae = build_model(source.config["model"], (1, 28, 28), "none", model_args(source), levels=256)
            gan = build_model(ex.config["model"], (1, 28, 28), "none", model_args(ex))
            assert any(isinstance(m, torch.nn.BatchNorm2d) for m in gan.modules()) == batch_norm
            gan.core.init_from(vae.core)


@pytest.mark.slow
def test_reproduce_writes_the_table_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A flow on moons, the VAE and a GAN started from it: each kind of experiment, 3 steps each.
    chosen = ("realnvp-moons", "vae-q2-mnist", "dcgan-vae-init")
    tiny = tuple(dataclasses.replace(ex, quick_steps=3, extra={"importance_samples": 5, "nll_points": 100})
                 for ex in seed_paper.EXPERIMENTS if ex.name in chosen)  # fmt: skip
    monkeypatch.setattr(seed_paper, "EXPERIMENTS", tiny)
    # Experiments run apart (other processes or machines) join one table; a GAN waits for its VAE,
    # checked before anything trains.
    for only, message in [
        (["wgan"], "no seed-paper experiment wgan"),
        ([], "--only names no experiment"),
        (["realnvp-moons", "dcgan-vae-init"], "starts from vae-q2-mnist's model, which is not finished"),
    ]:
        with pytest.raises(DgmError, match=message):
            seed_paper.reproduce(tmp_path, quick=True, progress=False, only=only)
    assert not (tmp_path / "realnvp-moons").exists()
    (tmp_path / "realnvp-moons").mkdir()  # a run killed before its first checkpoint starts afresh
    (tmp_path / "realnvp-moons" / "config.json").write_text("{}")
    seed_paper.reproduce(tmp_path, quick=True, progress=False, only=["realnvp-moons"])
    rows = json.loads((tmp_path / "seed-paper.json").read_text())["rows"]
    assert [r["experiment"] for r in rows] == ["realnvp-moons"]
    for quick, batch_norm, setting in [(False, False, "quick=False, seed=0, batch_norm=False"),
                                       (True, True, "quick=True, seed=0, batch_norm=True")]:  # fmt: skip
        with pytest.raises(
            DgmError, match=f"holds a run with quick=True, seed=0, batch_norm=False, not {setting}"
        ):
            seed_paper.reproduce(tmp_path, quick=quick, progress=False, batch_norm=batch_norm)
    # trained but killed before its evaluation: evaluated, not trained again
    (tmp_path / "realnvp-moons" / "evaluation.json").unlink()
    trained = (tmp_path / "realnvp-moons" / "model.safetensors").stat().st_mtime_ns
    table = seed_paper.reproduce(tmp_path, quick=True, progress=False, threads=1)
    assert (tmp_path / "realnvp-moons" / "model.safetensors").stat().st_mtime_ns == trained
    rows = json.loads((tmp_path / "seed-paper.json").read_text())["rows"]
    assert [r["experiment"] for r in rows] == [ex.name for ex in tiny]
    assert all(r["steps"] == 3 and isinstance(r["dgm"], float) for r in rows)
    assert all(r["device"] == "cpu" and r["seconds"] > 0 and r["threads"] == 1 for r in rows)
    vae = rows[1]["metrics"]  # its importance-sampled NLL on a leading subset, the rest on all
    assert vae["nll_k"] == 5 and vae["nll_n"] == 100 and vae["n_test"] == 1000 and "nll_bound" in vae
    gan = rows[2]["metrics"]  # the seed's figure as it logged it, from every one of its 3 steps
    assert gan["seed_energy_train_steps"] == 3 and gan["seed_energy_train_x1000"] > 0
    text = table.read_text()
    assert all(r["batch_norm"] is False for r in rows) and "No BatchNorm: the seed's" in text
    assert (
        "| realnvp-moons | 3.1, Fig. 5 | mean NLL" in text
        and "| -5.654 | nll " in text
        and "below the data's entropy" in text
        and "| cpu, 1 thread |" in text
        and "(K = 5, first 100)" in text
    )
    assert text.count("\n| ") == len(tiny) and "Quick mode" in text
    stamp = (tmp_path / "dcgan-vae-init" / "evaluation.json").stat().st_mtime_ns
    seed_paper.reproduce(tmp_path, quick=True, progress=False)  # every experiment done: nothing reruns
    assert (tmp_path / "dcgan-vae-init" / "evaluation.json").stat().st_mtime_ns == stamp
    # The seed's BatchNorm: in the VAE's decoder and the GAN started from it, not in the flow.
    bn = tmp_path / "bn"
    table = seed_paper.reproduce(bn, quick=True, progress=False, threads=1, batch_norm=True)
    for name, has in [("realnvp-moons", False), ("vae-q2-mnist", True), ("dcgan-vae-init", True)]:
        config = json.loads((bn / name / "config.json").read_text())
        assert config["model_args"].get("batch_norm", False) is has
    bn_text = table.read_text()
    assert "BatchNorm where the seed's networks had it" in bn_text
    # the GAN also scored as the seed's training loop drew it, by its batches' own statistics
    number = r"[\d.e+-]+"
    row = rf"^\| dcgan-vae-init \|.*seed_energy_batch_stats_x1000 {number} ± {number}"
    assert re.search(row, bn_text, re.M)
    assert not re.search(r"^\|.*batch_stats", text, re.M)
    assert json.loads((bn / "seed-paper.json").read_text())["batch_norm"] is True
    # A run trained without it, killed before its evaluation, is not evaluated as if it had it.
    shutil.copytree(tmp_path / "vae-q2-mnist", tmp_path / "bn2" / "vae-q2-mnist")
    (tmp_path / "bn2" / "vae-q2-mnist" / "evaluation.json").unlink()
    bad = "trained with seed=0, batch_norm=False, max_steps=3, not seed=0, batch_norm=True, max_steps=3"
    with pytest.raises(DgmError, match=bad):
        seed_paper.reproduce(
            tmp_path / "bn2", quick=True, progress=False, batch_norm=True, only=["vae-q2-mnist"]
        )
    # Nor is a quick run continued to the seed's length (its learning rate has decayed already).
    with pytest.raises(DgmError, match="max_steps=3, not seed=0, batch_norm=False, max_steps=46900"):
        seed_paper.reproduce(tmp_path / "bn2", quick=False, progress=False, only=["vae-q2-mnist"])


def test_the_training_statistic_sums_the_last_1000_generator_steps(tmp_path: Path) -> None:
    """The seed's logged figure: the sum over the last `window` generator steps (every `every`-th
    training step, from config.json), on the scale of a sum (1,000 × the mean) where fewer were
    logged."""
    assert seed_paper.training_statistic(tmp_path) == {}  # no metrics.csv
    (tmp_path / "config.json").write_text(json.dumps({"optim": {"generator": {"every": 5}}}))
    csv = tmp_path / "metrics.csv"
    # a WGAN logged every 5th step (each generator step) for 12 generator steps, to step 60, and a
    # last line cut short by a crash, left out
    lines = ["step,train/loss/critic,train/seed_energy"]
    lines += [f"{5 * (i + 1)},0.5,{0.1 * (i + 1)}" for i in range(12)]
    csv.write_text("\n".join(lines) + "\n62,0.5,9")
    got = seed_paper.training_statistic(tmp_path, window=4)
    assert got["seed_energy_train_steps"] == 4  # steps 45 to 60 (after 60 − 4 · 5): not 40's
    assert got["seed_energy_train_x1000"] == pytest.approx(1000 * (0.9 + 1.0 + 1.1 + 1.2) / 4)
    # logged more sparsely (every other generator step): the mean of those, on the sum's scale
    csv.write_text("\n".join(lines[:1] + lines[2::2]) + "\n")
    got = seed_paper.training_statistic(tmp_path, window=4)
    assert got["seed_energy_train_steps"] == 2  # steps 50 and 60
    assert got["seed_energy_train_x1000"] == pytest.approx(1000 * (1.0 + 1.2) / 2)


def test_window_sums_are_the_seeds_log_of_a_run(tmp_path: Path) -> None:
    """Sums over each complete window of generator steps; a window with a step missing (a
    sparser log) is left out. The seed's own logs end at the figure the paper reports."""
    (tmp_path / "config.json").write_text(json.dumps({"optim": {"generator": {"every": 5}}}))
    rows = [f"{5 * g + 5},{g}" for g in range(12) if g != 7] + ["61,", "62,5"]  # generator step 7 missing
    (tmp_path / "metrics.csv").write_text("step,train/seed_energy\n" + "\n".join(rows) + "\n")
    # windows of 4: generator steps 0-3 (rows 5-20), 4-7 (incomplete), 8-11 (rows 45-60; 62 is after)
    assert seed_paper.window_sums(tmp_path, window=4) == [(4, 0 + 1 + 2 + 3), (12, 8 + 9 + 10 + 11)]
    for ex in seed_paper.EXPERIMENTS:
        log = seed_paper.SEED_LOGS.get(ex.name)
        assert (log is not None) == (ex.metric == "seed_energy_x1000")
        assert log is None or (len(log) == 50 and log[-1] == pytest.approx(ex.seed_value, abs=0.05))
