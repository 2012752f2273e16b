"""Image flows: squeezing and the multi-scale architecture with factored-out latents (RealNVP, Glow)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dgm.bijection import Bijection


class Squeeze(Bijection):
    """(C, H, W) → (4C, H/2, W/2): every 2×2 block of pixels becomes 4 channels; log|det| = 0."""

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        b, ch, h, w = x.shape
        y = x.reshape(b, ch, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
        return y.reshape(b, 4 * ch, h // 2, w // 2), x.new_zeros(b)

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        b, ch, h, w = y.shape
        x = y.reshape(b, ch // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
        return x.reshape(b, ch // 4, 2 * h, 2 * w), y.new_zeros(b)


def squeezed(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """The shape after one Squeeze."""
    c, h, w = shape
    if h % 2 or w % 2:
        raise ValueError(f"cannot squeeze an image of size {h}×{w}: height and width must be even")
    return 4 * c, h // 2, w // 2


class MultiScale(Bijection):
    """The multi-scale architecture: level ℓ = squeeze, then a flow `steps[ℓ]`; after every level
    but the last, half of the channels are factored out straight to the latent.

    The output is the flattened concatenation z = (z_1, …, z_L), shape (B, D): every part is
    modelled by the standard normal base, and log|det| is the sum over levels.

    Args:
        event_shape: (C, H, W).
        steps: one bijection per level, each acting on that level's (squeezed) shape; build them
            with `level_shapes`.

    References: Dinh et al., Density estimation using Real NVP (2017), section 3.6.
    """

    def __init__(self, event_shape: tuple[int, int, int], steps: list[Bijection]) -> None:
        super().__init__()
        self.shapes = level_shapes(tuple(event_shape), len(steps))
        self.steps = nn.ModuleList(steps)
        self.squeeze = Squeeze()

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        ladj = x.new_zeros(x.shape[0])
        parts = []
        for level, step in enumerate(self.steps):
            x, _ = self.squeeze(x)
            x, ladj_k = step(x, c)
            ladj = ladj + ladj_k
            if level < len(self.steps) - 1:
                z, x = x.chunk(2, dim=1)
                parts.append(z.flatten(1))
        parts.append(x.flatten(1))
        return torch.cat(parts, dim=1), ladj

    def inverse(self, z: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        b = z.shape[0]
        ladj = z.new_zeros(b)
        sizes = [math.prod(s) // 2 for s in self.shapes[:-1]] + [math.prod(self.shapes[-1])]
        parts = z.split(sizes, dim=1)
        x = parts[-1].reshape(b, *self.shapes[-1])
        for level in reversed(range(len(self.steps))):
            if level < len(self.steps) - 1:
                c_half = self.shapes[level][0] // 2
                z_out = parts[level].reshape(b, c_half, *self.shapes[level][1:])
                x = torch.cat([z_out, x], dim=1)
            x, ladj_k = self.steps[level].inverse(x, c)
            ladj = ladj + ladj_k
            x, _ = self.squeeze.inverse(x)
        return x, ladj


def level_shapes(event_shape: tuple[int, int, int], levels: int) -> list[tuple[int, int, int]]:
    """The shape each level's flow acts on: squeezed, and halved in channels after each level."""
    shapes, shape = [], event_shape
    for level in range(levels):
        shape = squeezed(shape)
        shapes.append(shape)
        if level < levels - 1:
            shape = (shape[0] // 2, *shape[1:])
    return shapes
