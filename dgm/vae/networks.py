"""Encoders x ↦ (μ, log σ) of q(z | x) and decoders z ↦ h, the likelihood's parameters.

Both take an optional context c (a one-hot label), concatenated to their dense input. The MLPs
take vectors or flattened images; the convolutional pair halves the image twice (28 → 14 → 7,
8 → 4 → 2) with width w and 2w channels, as the seed paper's MNIST VAE did; by default without
its BatchNorm, so that a sample's bound does not depend on the rest of its batch (`batch_norm`
puts it back, as the seed had it).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from dgm.nn import MLP

NETWORKS = ("auto", "mlp", "conv")


def builds_conv(network: str, event_shape: tuple[int, ...]) -> bool:
    """Whether the model builds the convolutional networks: network conv, or auto on images."""
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}, got {network!r}")
    image = len(event_shape) == 3
    if network == "conv" and not image:
        raise ValueError(f"network conv needs images, got data of shape {event_shape}")
    return network == "conv" or (network == "auto" and image)


def check_network_sizes(model: type, given: dict[str, Any], event_shape: tuple[int, ...]) -> None:
    """Refuse a size the user gave `model` (a class with arguments network, hidden and width) for
    the networks it will not build, which would be ignored: hidden sizes for convolutions (on
    images under network=auto, the common slip), a width or BatchNorm for MLPs."""
    network = given.get("network", inspect.signature(model.__init__).parameters["network"].default)
    conv = builds_conv(network, event_shape)
    auto = " (what auto builds for images)" if conv else " (what auto builds for vectors)"
    built = f"network={'conv' if conv else 'mlp'}{auto if network == 'auto' else ''}"
    if conv and "hidden" in given:
        raise ValueError(
            f"hidden sizes are for network=mlp, not {built}: set network=mlp or leave hidden out"
        )
    if not conv and "width" in given:
        fix = "set network=conv or leave width out" if len(event_shape) == 3 else "leave width out"
        raise ValueError(f"width is for network=conv, not {built}: {fix}")
    if not conv and given.get("batch_norm"):
        raise ValueError(f"batch_norm is for the convolutional networks (network=conv), not {built}")


def with_context(h: Tensor, c: Tensor | None) -> Tensor:
    """[h, c]: a dense input with the one-hot label of a conditional model appended (h if none)."""
    return h if c is None else torch.cat([h, c.to(h)], dim=1)


class ContextMLP(nn.Module):
    """An MLP on the flattened input x with the one-hot label c appended: [x, c] ↦ y."""

    def __init__(self, features: int, out: int, hidden: tuple[int, ...], act: type[nn.Module], context: int):
        super().__init__()
        self.net = MLP(features + context, out, hidden, activation=act)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.net(with_context(x.flatten(1), c))


class MLPEncoder(ContextMLP):
    """(x, c) ↦ (μ, log σ) ∈ R^q × R^q through an MLP on the flattened x."""

    def __init__(
        self,
        event_shape: tuple[int, ...],
        latent: int,
        hidden: tuple[int, ...],
        act: type[nn.Module],
        context: int,
    ) -> None:
        super().__init__(math.prod(event_shape), 2 * latent, hidden, act, context)

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return super().forward(x, c).chunk(2, dim=1)


class MLPDecoder(ContextMLP):
    """(z, c) ↦ h of shape (B, params·C, H, W) (images) or (B, params·D) (vectors)."""

    def __init__(
        self,
        event_shape: tuple[int, ...],
        latent: int,
        hidden: tuple[int, ...],
        act: type[nn.Module],
        context: int,
        params: int,
    ) -> None:
        shape = (params * event_shape[0], *event_shape[1:])
        super().__init__(latent, math.prod(shape), tuple(reversed(hidden)), act, context)
        self.shape = shape

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return super().forward(z, c).reshape(z.shape[0], *self.shape)


def _check_image(event_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(event_shape) != 3 or event_shape[1] % 4 or event_shape[2] % 4:
        raise ValueError(
            f"the convolutional networks need images with sides divisible by 4, got {event_shape}"
        )
    c, h, w = event_shape
    return c, h, w


def _normed(layer: nn.Module, channels: int, batch_norm: bool) -> list[nn.Module]:
    """[layer, BatchNorm2d(channels)] with batch_norm (DCGAN's networks), else [layer]."""
    return [layer, nn.BatchNorm2d(channels)] if batch_norm else [layer]


class ConvDown(nn.Module):
    """Two stride-2 4×4 convolutions (w, 2w channels), then a dense layer that also reads the label
    c: (x, c) ↦ y ∈ R^out. The VAE's encoder (out = 2q) and the image GAN's critic (out = 1).
    With batch_norm, each convolution is followed by BatchNorm, as in the seed paper's
    discriminator (the DCGAN paper leaves the first unnormalised), which makes an output depend on
    the rest of its batch in training mode."""

    def __init__(
        self,
        event_shape: tuple[int, ...],
        width: int,
        act: Callable[[], nn.Module],
        context: int,
        out: int,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        c, h, w = _check_image(event_shape)
        self.conv = nn.Sequential(
            *_normed(nn.Conv2d(c, width, 4, 2, 1), width, batch_norm),
            act(),
            *_normed(nn.Conv2d(width, 2 * width, 4, 2, 1), 2 * width, batch_norm),
            act(),
            nn.Flatten(),
        )
        self.dense = nn.Linear(2 * width * (h // 4) * (w // 4) + context, out)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.dense(with_context(self.conv(x), c))


class ConvEncoder(ConvDown):
    """(x, c) ↦ (μ, log σ) through `ConvDown`."""

    def __init__(
        self, event_shape: tuple[int, ...], latent: int, width: int, act: type[nn.Module], context: int
    ) -> None:
        super().__init__(event_shape, width, act, context, 2 * latent)

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return super().forward(x, c).chunk(2, dim=1)


class ConvDecoder(nn.Module):
    """A dense layer to 2w × H/4 × W/4, then two stride-2 transposed convolutions (w, params·C).
    With batch_norm, the dense layer's and the first convolution's outputs are batch-normalised
    before their activations (DCGAN's generator, the seed paper's decoder)."""

    def __init__(
        self,
        event_shape: tuple[int, ...],
        latent: int,
        width: int,
        act: type[nn.Module],
        context: int,
        params: int,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        c, h, w = _check_image(event_shape)
        self.start = (2 * width, h // 4, w // 4)
        dense = nn.Linear(latent + context, math.prod(self.start))
        # the layers' indices (the weights' names) without BatchNorm are those of runs made before it
        norm = [nn.Unflatten(1, self.start), nn.BatchNorm2d(2 * width)] if batch_norm else []
        self.dense = nn.Sequential(dense, *norm, act())
        self.deconv = nn.Sequential(
            *_normed(nn.ConvTranspose2d(2 * width, width, 4, 2, 1), width, batch_norm),
            act(),
            nn.ConvTranspose2d(width, params * c, 4, 2, 1),
        )

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return self.deconv(self.dense(with_context(z, c)).reshape(z.shape[0], *self.start))
