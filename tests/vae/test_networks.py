"""MLP or convolutional networks, shared by the VAEs and the GANs: a size given for the networks
not built is refused (it would be ignored), and saved runs, which record every size, still load."""

from __future__ import annotations

from pathlib import Path

import pytest

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.cli.main import main
from dgm.gan.gan import GAN
from dgm.io import load
from dgm.vae.m2 import M2
from dgm.vae.networks import builds_conv, check_network_sizes
from dgm.vae.vae import VAE

IMAGE, VECTOR = (1, 8, 8), (3,)


@pytest.mark.parametrize(
    ("network", "shape", "conv"),
    [("auto", IMAGE, True), ("auto", VECTOR, False), ("mlp", IMAGE, False), ("conv", IMAGE, True)],
)
def test_auto_builds_convolutions_for_images_only(network: str, shape: tuple[int, ...], conv: bool) -> None:
    assert builds_conv(network, shape) is conv


@pytest.mark.parametrize(
    ("model", "given", "shape", "needle"),
    [
        (VAE, {"hidden": [600]}, IMAGE, "not network=conv (what auto builds for images): set network=mlp"),
        (
            GAN,
            {"hidden": [600], "network": "conv"},
            IMAGE,
            "hidden sizes are for network=mlp, not network=conv:",
        ),
        (VAE, {"width": 8}, VECTOR, "not network=mlp (what auto builds for vectors): leave width out"),
        (M2, {"width": 8}, IMAGE, "width is for network=conv, not network=mlp: set network=conv or leave"),
        (GAN, {"network": "conv"}, VECTOR, "network conv needs images"),
    ],
)
def test_a_size_for_the_networks_not_built_is_refused(
    model: type, given: dict, shape: tuple[int, ...], needle: str
) -> None:
    with pytest.raises(ValueError) as e:
        check_network_sizes(model, given, shape)
    assert needle in str(e.value)


@pytest.mark.parametrize(
    ("model", "given", "shape"),
    [
        (VAE, {"width": 8}, IMAGE),
        (VAE, {"hidden": [8], "network": "mlp"}, IMAGE),
        (M2, {"hidden": [8]}, IMAGE),
    ],
)
def test_sizes_for_the_networks_built_are_taken(model: type, given: dict, shape: tuple[int, ...]) -> None:
    check_network_sizes(model, given, shape)


def test_train_refuses_hidden_sizes_on_images_and_a_run_recording_both_sizes_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["train", "vae", "--data", "digits", "--max-steps", "2", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "a"), "--set", "hidden=[16]"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "hidden sizes are for network=mlp" in err, err
    assert main([*argv, "--out", str(tmp_path / "b"), "--set", "width=4"]) == 0
    model = load(tmp_path / "b")  # its config.json records hidden too, as every run records each size
    assert model.core.encoder.__class__.__name__ == "ConvEncoder"
    assert (
        main(
            ["train", "vae", "--data", "digits", "--resume", "--max-steps", "3", "--out", str(tmp_path / "b")]
        )
        == 0
    )
