"""Volume-changing linear maps: fixed permutations and LU-parametrised invertible linear layers.

For images (event (C, H, W)) the same C × C matrix acts on the channels at every pixel (Glow's
invertible 1×1 convolution), so log|det| = H·W·log|det W|.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dgm.bijection import Bijection


def _spatial(event_shape: tuple[int, ...]) -> int:
    return math.prod(event_shape[1:])


def _channels_last(x: Tensor) -> Tensor:
    """(B, C, ...) -> (B, ..., C), so a channel matrix applies with one matmul."""
    return x.movedim(1, -1)


class Permutation(Bijection):
    """y = x[:, π] along the feature (channel) dimension; log|det| = 0.

    Args:
        features: D (or C for images).
        permutation: "reverse" or "random" (seeded, so the model rebuilds identically from its config).
        seed: for "random".
    """

    def __init__(self, features: int, permutation: str = "reverse", seed: int = 0) -> None:
        super().__init__()
        if permutation == "reverse":
            perm = torch.arange(features - 1, -1, -1)
        elif permutation == "random":
            perm = torch.randperm(features, generator=torch.Generator().manual_seed(seed))
        else:
            raise ValueError(f"permutation must be 'reverse' or 'random', got {permutation!r}")
        self.register_buffer("perm", perm)
        self.register_buffer("inv_perm", torch.argsort(perm))

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return x[:, self.perm], x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return y[:, self.inv_perm], y.new_zeros(y.shape[0])


class InvertibleLinear(Bijection):
    """y = W x over the features (channels), W = P L (U + diag(sign · exp(log|s|))).

    P is a fixed permutation, L unit lower triangular, U strictly upper triangular: the
    determinant is Π s_i, so log|det ∂y/∂x| = spatial · Σ log|s_i| in O(C), and W stays
    invertible by construction. Initialised at a random rotation.

    References: Kingma & Dhariwal, Glow: Generative Flow with Invertible 1x1 Convolutions (2018).
    """

    def __init__(self, event_shape: tuple[int, ...], seed: int = 0) -> None:
        super().__init__()
        c = event_shape[0]
        self.spatial = _spatial(event_shape)
        q, _ = torch.linalg.qr(torch.randn(c, c, generator=torch.Generator().manual_seed(seed)))
        p, lower, upper = torch.linalg.lu(q)
        s = upper.diagonal()
        self.register_buffer("p", p)
        self.register_buffer("sign_s", s.sign())
        self.lower = nn.Parameter(lower.tril(-1))
        self.upper = nn.Parameter(upper.triu(1))
        self.log_s = nn.Parameter(s.abs().log())

    def _factors(self) -> tuple[Tensor, Tensor]:
        eye = torch.eye(len(self.log_s), dtype=self.log_s.dtype, device=self.log_s.device)
        lower = self.lower.tril(-1) + eye
        upper = self.upper.triu(1) + torch.diag(self.sign_s * self.log_s.exp())
        return lower, upper

    def _ladj(self, x: Tensor) -> Tensor:
        return (self.spatial * self.log_s.sum()).expand(x.shape[0])

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        lower, upper = self._factors()
        w = self.p @ lower @ upper
        y = _channels_last(x) @ w.T
        return y.movedim(-1, 1), self._ladj(x)

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        lower, upper = self._factors()
        # Solve P L U x = y column-wise: x = U⁻¹ L⁻¹ Pᵀ y.
        rhs = (_channels_last(y) @ self.p).reshape(-1, len(self.log_s)).T  # (Pᵀ y) as columns
        tmp = torch.linalg.solve_triangular(lower, rhs, upper=False, unitriangular=True)
        x = torch.linalg.solve_triangular(upper, tmp, upper=True).T
        return x.reshape(_channels_last(y).shape).movedim(-1, 1), -self._ladj(y)
