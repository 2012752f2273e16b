"""GANs through the CLI: train, sample and evaluate (sample metrics, never an NLL) on toys, a
user CSV and images."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from dgm.cli.main import main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("model", "data", "extra"),
    [
        ("wgan-gp", "8gaussians", ["--set", "hidden=[32,32]"]),
        ("gan", "CSV", ["--set", "hidden=[32,32]"]),
        ("wgan", "CSV", ["--set", "hidden=[32,32]"]),
        ("dcgan", "digits", ["--set", "width=8", "--set", "latent=2"]),
    ],
)
def test_gan_trains_samples_and_evaluates_without_a_likelihood(
    model: str, data: str, extra: list[str], points_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = str(points_csv) if data == "CSV" else data
    run = tmp_path / model
    args = ["train", model, "--data", data, "--out", str(run), "--max-steps", "60", "--batch-size", "64"]
    assert main([*args, "--set", "val_every=20", *extra]) == 0
    assert (run / "figures" / "samples.png").read_bytes()[:4] == b"\x89PNG"
    with (run / "metrics.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["wall_time"]]
    # Both players' losses and gradient norms in every row, though the Wasserstein generators step
    # only every 5th step and a row is written every 10th.
    assert len(rows) == 6 and all(
        r[f"{key}/{player}"]
        for r in rows
        for key in ("train/loss", "grad_norm")
        for player in ("critic", "generator")
    ), rows[0]
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", data, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["density"] == "none" and "energy_distance" in out and "nll" not in out
    assert main(["evaluate", str(run), "--data", data, "--metrics", "nll"]) == 2  # one line, exit 2
    assert "nll" in capsys.readouterr().err
    assert main(["sample", str(run), "-n", "16", "-o", str(tmp_path / "s.npy")]) == 0
    samples = np.load(tmp_path / "s.npy")
    assert np.isfinite(samples).all()
    if model == "dcgan":
        assert samples.shape == (16, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1


@pytest.mark.parametrize("batch_norm", [False, True])
def test_a_gan_starts_from_a_vae_decoder(
    tmp_path: Path, capsys: pytest.CaptureFixture, batch_norm: bool
) -> None:
    """The seed paper's VAE-initialised GAN: with --init-from, the generator takes the decoder's
    architecture from the VAE's run and draws its mean σ(h(z)) before any GAN step (with BatchNorm
    in both, its running statistics too); a decoder of another shape, likelihood or normalisation
    is refused."""
    import torch

    import dgm

    small = {"latent": 2, "width": 8, "batch_norm": batch_norm}
    dgm.fit(
        "vae", "digits", out=tmp_path / "vae", max_steps=30, model_args={**small, "likelihood": "bernoulli"}
    )
    # The generator takes the decoder's latent, width and BatchNorm from the VAE's run.
    gan = dgm.fit("dcgan", "digits", out=tmp_path / "gan", max_steps=0, init_from=tmp_path / "vae")
    saved = json.loads((tmp_path / "gan" / "config.json").read_text())["model_args"]
    assert {k: saved[k] for k in small} == small
    vae = dgm.load(tmp_path / "vae")
    if batch_norm:  # the trained running statistics were saved and loaded
        assert vae.core.decoder.dense[2].running_var.sub(1).abs().max() > 1e-3
    z = torch.randn(5, 2)
    with torch.no_grad():
        torch.testing.assert_close(gan.core.generate(z), vae.core.decode(z))
    args = ["train", "dcgan", "--data", "digits", "--max-steps", "0", "--init-from", str(tmp_path / "vae")]
    assert main([*args, "--out", str(tmp_path / "g2"), "--set", "width=16", "--set", "latent=2"]) == 2
    assert "differ in their layers or shapes" in capsys.readouterr().err
    other = ["--set", "width=8", "--set", "latent=2", "--set", f"batch_norm={str(not batch_norm).lower()}"]
    assert main([*args, "--out", str(tmp_path / "g4"), *other]) == 2
    assert "differ in their layers or shapes" in capsys.readouterr().err
    dgm.fit("vae", "digits", out=tmp_path / "gauss", max_steps=0, model_args=small)
    args[-1] = str(tmp_path / "gauss")
    assert main([*args, "--out", str(tmp_path / "g3"), "--set", "width=8", "--set", "latent=2"]) == 2
    assert "needs a VAE with a bernoulli decoder" in capsys.readouterr().err
    # DCGAN's generator has ReLUs: a decoder with others cannot start it, nor can the GAN take them
    dgm.fit("vae", "digits", out=tmp_path / "tanh", max_steps=0, model_args={**small, "activation": "tanh"})
    args[-1] = str(tmp_path / "tanh")
    assert main([*args, "--out", str(tmp_path / "g5")]) == 2
    assert "start from a VAE trained with activation=relu" in capsys.readouterr().err
    tanh = ["train", "dcgan", "--data", "digits", "--out", str(tmp_path / "g6"), "--set", "activation=tanh"]
    assert main(tanh) == 2
    assert "activation is for network=mlp" in capsys.readouterr().err


def test_a_vector_gan_takes_an_mlp_decoder_and_its_architecture_from_the_vae_run(tmp_path: Path) -> None:
    import torch

    import dgm

    arch = {"latent": 3, "hidden": [16, 8], "activation": "tanh"}
    dgm.fit("vae", "moons", out=tmp_path / "vae", max_steps=20, model_args={**arch, "sigma": 0.1})
    gan = dgm.fit("gan", "moons", out=tmp_path / "gan", max_steps=0, init_from=tmp_path / "vae")
    saved = json.loads((tmp_path / "gan" / "config.json").read_text())["model_args"]
    # the decoder runs the encoder's hidden sizes backwards, and so does the generator
    assert {k: saved[k] for k in arch} == {**arch, "hidden": [8, 16]}
    z = torch.randn(5, 3)
    with torch.no_grad():
        torch.testing.assert_close(gan.core.generate(z), dgm.load(tmp_path / "vae").core.decode(z))


def test_an_image_flow_gan_trains_adversarially_and_keeps_its_exact_likelihood(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Flow-GAN on images: a Glow generator against a convolutional critic, trained by the hybrid
    objective; it reports its NLL and bits/dim beside the sample metrics, and samples images."""
    run = tmp_path / "fg"
    small = ["--set", "width=8", "--set", "val_every=10"]
    args = ["train", "flow-gan", "--data", "digits", "--out", str(run), "--max-steps", "20", *small]
    assert main(args) == 0
    from dgm import load
    from dgm.flows.recipes import Glow

    assert isinstance(load(run).core.generator, Glow)
    assert json.loads((run / "config.json").read_text())["preprocess"] == "logit"
    capsys.readouterr()
    metrics = ["--metrics", "nll,bits_per_dim,fid"]
    assert main(["evaluate", str(run), "--data", "digits", "--json", *metrics]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["density"] == "exact" and 0 < out["bits_per_dim"] < 8 and out["fid"] > 0
    assert main(["sample", str(run), "-n", "4", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (4, 1, 8, 8)


def test_mode_coverage_is_logged_at_each_check_on_data_of_known_modes(tmp_path: Path) -> None:
    import dgm

    for data in ("ring8", "moons"):
        dgm.fit("gan", data, out=tmp_path / data, max_steps=20, val_every=10, model_args={"hidden": [16]})
        with (tmp_path / data / "metrics.csv").open() as f:
            checks = [r for r in csv.DictReader(f) if r["val/energy_distance"]]
        assert len(checks) == 2
        if data == "ring8":
            assert all(
                0 <= int(r["val/modes_covered"]) <= 8 and 0 <= float(r["val/high_quality"]) <= 1
                for r in checks
            )
        else:  # no known modes
            assert "val/modes_covered" not in checks[0]


def test_the_progress_line_and_the_summary_warn_of_missing_modes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Off a terminal, each progress line after the first check (the line of a step is written
    before that step's check) shows the modes that check's samples covered, flagged while some are
    missing; the summary warns of a collapse on the test split's samples, and only then."""
    out = tmp_path / "ring8"
    cli = ["train", "gan", "--data", "ring8", "--max-steps", "20", "--set", "val_every=10", "--out", str(out)]
    assert main([*cli, "--set", "hidden=[8]"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("step ")]
    with (out / "metrics.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["val/energy_distance"]]
    checks = {int(r["step"]): int(r["val/modes_covered"]) for r in rows}
    assert sorted(checks) == [10, 20] and len(lines) == 10
    for line in lines:
        step = int(line.split()[1].split("/")[0])
        if step <= 10:
            assert "modes" not in line, line
        else:
            covered = checks[10]
            assert f"modes {covered}/8" in line and ("(collapse?)" in line) == (covered < 8), line
    report = json.loads((out / "report.json").read_text())
    assert ("mode collapse" in captured.out) == (report["modes_covered"] < 8)
    # a resumed run shows the last check's coverage from its first line (the checkpoint keeps it)
    assert main(["train", "gan", "--out", str(out), "--resume", "--max-steps", "30"]) == 0
    first = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("step "))
    assert first.startswith("step 21/30") and f"modes {checks[20]}/8" in first, first


def test_a_conditional_gan_samples_the_class_it_is_asked_for(tmp_path: Path) -> None:
    """Three far-apart clusters labelled 10, 20, 30: `dgm sample --label 30` draws from the third."""
    g = np.random.default_rng(0)
    centres = np.array([[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]])
    y = np.repeat([10, 20, 30], 300)
    np.savez(tmp_path / "c.npz", x=centres[y // 10 - 1] + 0.3 * g.standard_normal((900, 2)), y=y)
    run = tmp_path / "cgan"
    args = ["train", "gan", "--data", str(tmp_path / "c.npz"), "--out", str(run), "--max-steps", "1500"]
    assert main([*args, "--set", "conditional=true", "--set", "hidden=[32,32]", "--batch-size", "128"]) == 0
    for label, centre in zip((10, 30), centres[[0, 2]], strict=True):
        out = tmp_path / f"s{label}.npy"
        assert main(["sample", str(run), "-n", "200", "--label", str(label), "-o", str(out)]) == 0
        nearest = np.linalg.norm(np.load(out)[:, None] - centres[None], axis=2).argmin(1)
        assert (nearest == np.flatnonzero((centres == centre).all(1))[0]).mean() > 0.9


def test_values_waiting_for_their_row_are_written_before_a_checkpoint(tmp_path: Path) -> None:
    """A checkpoint does not hold the generator's values that wait for the next row (it steps every
    5th step, rows come every 10th): they are written at the checkpoint's step, so that a run killed
    after it and resumed logs what an uninterrupted run logs."""
    import dgm

    settings = {"max_steps": 30, "checkpoint_every": 7, "log_every": 10, "model_args": {"hidden": [16]}}
    dgm.fit("wgan", "moons", out=tmp_path / "w", **settings)
    with (tmp_path / "w" / "metrics.csv").open() as f:
        rows = {int(r["step"]): r for r in csv.DictReader(f) if r["wall_time"]}
    # The generator steps at steps 1, 6, 11, …: step 6's values wait for row 10 but meet checkpoint 7.
    assert rows[7]["train/loss/generator"] and not rows[10]["train/loss/generator"]
    assert rows[10]["train/loss/critic"]


def test_rejection_sampling_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`--rejection` samples a Jensen-Shannon or least-squares GAN through its critic, and refuses,
    in one line, critics that do not estimate the density ratio of the generator they sample."""
    runs = {
        "gan-minimax": ["gan", "--objective", "gan-minimax", "--data", "ring8"],
        "lsgan": ["gan", "--objective", "lsgan", "--data", "ring8"],
        "hinge": ["gan", "--objective", "hinge", "--data", "ring8"],
        "ema": ["gan", "--set", "ema=0.9", "--data", "ring8"],
        "realnvp": ["realnvp", "--data", "ring8"],
        "batch_norm": ["dcgan", "--data", "digits", "--set", "batch_norm=true", "--set", "width=4"],
    }
    for name, args in runs.items():
        assert main(["train", *args, "--max-steps", "20", "--out", str(tmp_path / name)]) == 0
    plain, corrected = tmp_path / "plain.npy", tmp_path / "corrected.npy"
    for run in (str(tmp_path / "lsgan"), str(tmp_path / "gan-minimax")):  # the last is evaluated below
        assert main(["sample", run, "-n", "300", "-o", str(plain)]) == 0
        assert main(["sample", run, "-n", "300", "-o", str(corrected), "--rejection"]) == 0
        x = np.load(corrected)
        assert x.shape == (300, 2) and np.isfinite(x).all() and not np.allclose(x, np.load(plain))
    capsys.readouterr()
    assert main(["evaluate", run, "--data", "ring8", "--json", "--rejection"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sampling"] == "discriminator rejection" and 0 < report["acceptance"] <= 1
    for name, says in (
        ("hinge", "this run's objective is hinge"),
        ("ema", "averaged"),
        ("realnvp", "this run is a realnvp"),
        ("batch_norm", "batch_norm"),
    ):
        assert main(["sample", str(tmp_path / name), "-n", "10", "-o", str(plain), "--rejection"]) == 2
        assert says in capsys.readouterr().err


def test_pacgan_packs_triples_decays_and_keeps_its_last_weights_unless_told(tmp_path: Path) -> None:
    """The objective's defaults reach the run (the model's pack, both players' schedule, the kept
    weights), and what the command line gives wins over them."""
    base = ["train", "gan", "--data", "ring8", "--objective", "pacgan", "--max-steps", "30"]
    assert main([*base, "--set", "val_every=10", "--out", str(tmp_path / "default")]) == 0
    config = json.loads((tmp_path / "default" / "config.json").read_text())
    assert config["model_args"]["pack"] == 3 and config["train"]["keep"] == "last"
    assert {p["schedule"] for p in config["optim"].values()} == {"cosine"}
    assert config["kept"] == {"step": 30, "keep": "last"}
    told = ["--set", "keep=best", "--set", "pack=4", "--set", "lr_schedule=constant"]
    assert main([*base, *told, "--out", str(tmp_path / "told")]) == 0
    config = json.loads((tmp_path / "told" / "config.json").read_text())
    assert config["model_args"]["pack"] == 4 and config["kept"]["keep"] == "best"
    assert {p["schedule"] for p in config["optim"].values()} == {"constant"}
    assert main(["train", "gan", "--data", "ring8", "--max-steps", "10", "--out", str(tmp_path / "gan")]) == 0
    assert json.loads((tmp_path / "gan" / "config.json").read_text())["kept"]["keep"] == "best"


def test_hinge_trains_sngan_unless_told_otherwise(tmp_path: Path) -> None:
    """The hinge objective's default spectral normalisation reaches the run's critic; `--set
    spectral_norm=false` trains the bare hinge game."""
    from dgm.gan.gan import is_spectrally_normalised
    from dgm.io import load

    base = ["train", "gan", "--data", "ring8", "--objective", "hinge", "--max-steps", "5"]
    for told, normalised in (([], True), (["--set", "spectral_norm=false"], False)):
        run = tmp_path / str(normalised)
        assert main([*base, *told, "--out", str(run)]) == 0
        assert json.loads((run / "config.json").read_text())["model_args"]["spectral_norm"] is normalised
        assert is_spectrally_normalised(load(run).core.critic) is normalised


def test_logging_every_generator_step_records_each_one_once(tmp_path: Path) -> None:
    """A WGAN logged every 5th step (its generator's interval), with checks and checkpoints off
    that beat: each generator step's seed statistic is in exactly one row, and the seed-paper
    figure sums the last `window` of them."""
    import dgm
    from dgm.compare.seed_paper import training_statistic

    settings = {"max_steps": 23, "checkpoint_every": 7, "val_every": 9, "log_every": 5}
    dgm.fit("wgan", "moons", out=tmp_path / "w", model_args={"hidden": [16]}, **settings)
    with (tmp_path / "w" / "metrics.csv").open() as f:
        logged = [int(r["step"]) for r in csv.DictReader(f) if r["train/seed_energy"]]
    # generator steps 1, 6, 11, 16, 21 (1-based): each in the first row at or after it, where
    # checkpoints (7, 14, 21) and checks (9, 18) write rows between the 5-step ones
    assert logged == [5, 7, 14, 18, 21]
    got = training_statistic(tmp_path / "w", window=3)
    assert got["seed_energy_train_steps"] == 3  # rows after step 23 − 3 · 5 = 8: 14, 18, 21
