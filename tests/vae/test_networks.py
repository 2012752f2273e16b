"""The choice between MLP and convolutional networks, shared by the VAEs and the GANs."""

from __future__ import annotations

import pytest
from torch import nn

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.gan.gan import GAN
from dgm.vae.m2 import M2
from dgm.vae.networks import choose_network
from dgm.vae.vae import VAE

IMAGE, VECTOR = (1, 8, 8), (3,)


@pytest.mark.parametrize(
    ("network", "shape", "conv"),
    [("auto", IMAGE, True), ("auto", VECTOR, False), ("mlp", IMAGE, False), ("conv", IMAGE, True)],
)
def test_auto_builds_convolutions_for_images_only(network: str, shape: tuple[int, ...], conv: bool) -> None:
    assert choose_network(network, shape, None, None, (7,)) == (conv, (7,), 32)


def test_a_size_for_the_networks_not_built_is_refused() -> None:
    with pytest.raises(ValueError, match="hidden sizes are for network=mlp.*set network=mlp"):
        choose_network("auto", IMAGE, (600, 600), None, (7,))
    with pytest.raises(ValueError, match="width is for network=conv"):
        choose_network("auto", VECTOR, None, 16, (7,))
    with pytest.raises(ValueError, match="network conv needs images"):
        choose_network("conv", VECTOR, None, None, (7,))
    assert choose_network("mlp", IMAGE, [600, 600], None, (7,)) == (False, (600, 600), 32)


@pytest.mark.parametrize("model", [VAE, GAN])
def test_models_take_hidden_sizes_on_images_only_as_mlps(model: type) -> None:
    with pytest.raises(ValueError, match="hidden sizes are for network=mlp"):
        model(IMAGE, hidden=(16,))
    mlp = model(IMAGE, hidden=(16,), network="mlp")
    assert not any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in mlp.modules())


def test_m2_defaults_to_its_own_hidden_sizes() -> None:
    encoder = M2(VECTOR, latent=2, classes=3).encoder
    assert next(m for m in encoder.modules() if isinstance(m, nn.Linear)).out_features == 500
