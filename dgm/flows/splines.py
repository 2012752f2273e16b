"""Monotone rational-quadratic splines (Neural Spline Flows): the elementwise map of NSF layers.

On [−B, B] the map is a rational-quadratic spline through K+1 increasing knots (x⁽ᵏ⁾, y⁽ᵏ⁾) with
positive derivatives δ⁽ᵏ⁾ at the knots; outside it is the identity. The boundary derivatives are
fixed to δ⁽⁰⁾ = δ⁽ᴷ⁾ = 1, so the map and its derivative are continuous where the tails join.

References:
    Neural Spline Flows (Durkan, Bekasov, Murray & Papamakarios, 2019), https://arxiv.org/abs/1906.04032
    Monotone piecewise rational-quadratic interpolation (Gregory & Delbourgo, 1982).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from dgm.errors import DgmError
from dgm.flows.elementwise import Elementwise

MIN_BIN_SIZE = 1e-3  # smallest bin width and height, as a fraction of the interval length 2B
MIN_DERIVATIVE = 1e-3
# softplus(0 + SHIFT) = 1 − MIN_DERIVATIVE, so zero parameters give δ = 1 and the identity map.
_DERIVATIVE_SHIFT = math.log(math.expm1(1.0 - MIN_DERIVATIVE))


def _spline_table(widths: Tensor, heights: Tensor, derivatives: Tensor, bound: float) -> Tensor:
    """Knots and knot derivatives as one table (..., 3, K+1) with rows x_k, y_k, δ_k.

    Bin widths and heights are 2B·(m + (1 − m·K)·softmax(θ)), the end knots are ∓B exactly;
    δ = m + softplus(θ + c) at the interior knots and 1 at both ends.
    """
    k = widths.shape[-1]
    lead = torch.broadcast_shapes(widths.shape[:-1], heights.shape[:-1], derivatives.shape[:-1])
    theta = torch.stack([widths.expand(*lead, k), heights.expand(*lead, k)], dim=-2)  # (..., 2, K)
    # softmax written out: on CPU torch.softmax is about twice as slow for a last dimension of K ~ 8
    e = (theta - theta.detach().amax(dim=-1, keepdim=True)).exp()
    sizes = MIN_BIN_SIZE + (1.0 - MIN_BIN_SIZE * k) * e / e.sum(dim=-1, keepdim=True)
    knots = 2.0 * bound * sizes[..., :-1].cumsum(dim=-1) - bound
    knots = F.pad(F.pad(knots, (1, 0), value=-bound), (0, 1), value=bound)
    deltas = MIN_DERIVATIVE + F.softplus(derivatives.expand(*lead, k - 1) + _DERIVATIVE_SHIFT)
    deltas = F.pad(deltas, (1, 1), value=1.0)
    return torch.cat([knots, deltas.unsqueeze(-2)], dim=-2)


def _bin_edges(table: Tensor, z: Tensor, row: int) -> tuple[Tensor, ...]:
    """x_k, x_{k+1}, y_k, y_{k+1}, δ_k, δ_{k+1} of the bin holding z, searched in table row 0 (x) or 1 (y)."""
    k = (z.unsqueeze(-1) >= table[..., row, 1:-1]).sum(dim=-1, keepdim=True)  # z = B: the last bin
    pair = torch.cat([k, k + 1], dim=-1)
    shape = pair.shape[:-1]  # z and the parameters broadcast
    edges = table.expand(*shape, *table.shape[-2:]).gather(-1, pair.unsqueeze(-2).expand(*shape, 3, 2))
    return edges.flatten(-2).unbind(-1)


def _inverse_xi(dy0: Tensor, dy1: Tensor, h: Tensor, s: Tensor, d0: Tensor, curvature: Tensor) -> Tensor:
    """The root ξ ∈ [0, 1] of aξ² + bξ + c = 0 (dy0 = y − y_k, dy1 = y_{k+1} − y), without cancellation.

    Solved for ξ, or for 1 − ξ (coefficients b' = 2a + b, c' = −s·dy1), whichever has the larger
    linear coefficient: b + b' = 2hs > 0, so it is positive and 2c / (−b − √(b² − 4ac)) never
    divides by a small number.
    """
    a = h * (s - d0) + dy0 * curvature
    b = h * d0 - dy0 * curvature
    c = -s * dy0
    from_right = b < h * s  # b < b'
    b_end = torch.where(from_right, 2.0 * a + b, b)
    c_end = torch.where(from_right, -s * dy1, c)
    root = 2.0 * c_end / (-b_end - (b.square() - 4.0 * a * c).clamp_min(0.0).sqrt())
    return torch.where(from_right, 1.0 - root, root)


def rational_quadratic_spline(
    x: Tensor,
    widths: Tensor,
    heights: Tensor,
    derivatives: Tensor,
    *,
    inverse: bool = False,
    bound: float = 5.0,
) -> tuple[Tensor, Tensor]:
    """Apply the monotone rational-quadratic spline g (or g⁻¹) elementwise; identity outside [−B, B].

    In bin k, with ξ = (x − x_k)/w_k, s_k = h_k/w_k and δ_k the knot derivatives,

        g(x)  = y_k + h_k [s_k ξ² + δ_k ξ(1−ξ)] / [s_k + (δ_{k+1} + δ_k − 2s_k) ξ(1−ξ)],
        g'(x) = s_k² [δ_{k+1} ξ² + 2s_k ξ(1−ξ) + δ_k (1−ξ)²] / [s_k + (δ_{k+1} + δ_k − 2s_k) ξ(1−ξ)]².

    The inverse solves aξ² + bξ + c = 0 with Δ = y − y_k, S = δ_{k+1} + δ_k − 2s_k,
    a = h_k(s_k − δ_k) + ΔS, b = h_k δ_k − ΔS, c = −s_k Δ, by the stable root
    ξ = 2c / (−b − √(b² − 4ac)) with the discriminant clamped at 0. Where b < h_k s_k it takes the
    same root of the mirrored equation for 1 − ξ (b' = 2a + b, c' = −s_k (y_{k+1} − y)) instead:
    b + b' = 2h_k s_k > 0, so the chosen linear coefficient is positive and the root never cancels.

    Args:
        x: inputs (or outputs y when `inverse`), shape (...).
        widths: unnormalised bin widths, shape (..., K); w = 2B(m + (1 − mK)·softmax(widths)).
            The parameters' leading dimensions broadcast against each other and against x.
        heights: unnormalised bin heights, shape (..., K), normalised like the widths.
        derivatives: unnormalised interior knot derivatives, shape (..., K−1);
            δ = m + softplus(derivatives + c), with c chosen so that 0 gives δ = 1.
        inverse: evaluate g⁻¹ instead of g.
        bound: B, the half-width of the interval the spline covers.

    Returns:
        g(x) and log g'(x), or for `inverse`: g⁻¹(y) and log (g⁻¹)'(y) = −log g'(g⁻¹(y)),
        both of the broadcast shape of x and the parameters' leading dimensions.
        With all parameters zero, g is the identity.
    """
    k = widths.shape[-1]
    if heights.shape[-1] != k or derivatives.shape[-1] != k - 1:
        raise DgmError(
            f"spline parameters need K widths, K heights and K-1 derivatives, got "
            f"{widths.shape[-1]}, {heights.shape[-1]} and {derivatives.shape[-1]}"
        )
    table = _spline_table(widths, heights, derivatives, bound)  # rows x_k, y_k, δ_k
    # Spline arithmetic only ever sees in-domain values: out-of-domain elements are clamped to ±B
    # and replaced afterwards, so no NaN/inf can reach the output or the gradients.
    z = x.clamp(-bound, bound)
    inside = z == x
    x0, x1, y0, y1, d0, d1 = _bin_edges(table, z, int(inverse))
    w, h = x1 - x0, y1 - y0
    s = h / w
    curvature = d0 + d1 - 2.0 * s
    xi = _inverse_xi(z - y0, y1 - z, h, s, d0, curvature) if inverse else (z - x0) / w
    xi2, t = xi.square(), xi * (1.0 - xi)
    denominator = s + curvature * t
    slope = s.square() * (d1 * xi2 + 2.0 * s * t + d0 * (1.0 - xi).square()) / denominator.square()
    if inverse:
        out, log_slope = x0 + xi * w, -slope.log()
    else:
        out, log_slope = y0 + h * (s * xi2 + d0 * t) / denominator, slope.log()
    return torch.where(inside, out, x), torch.where(inside, log_slope, 0.0)


class RQSpline(Elementwise):
    """g(x; θ): a monotone rational-quadratic spline with K bins on [−B, B], identity outside.

    θ (3K − 1 values per dimension) = K unnormalised bin widths, K heights and K − 1 interior knot
    derivatives. In bin k, with ξ = (x − x_k)/w_k and s_k = h_k/w_k,

        g(x)  = y_k + h_k [s_k ξ² + δ_k ξ(1−ξ)] / [s_k + (δ_{k+1} + δ_k − 2s_k) ξ(1−ξ)],
        g'(x) = s_k² [δ_{k+1} ξ² + 2s_k ξ(1−ξ) + δ_k (1−ξ)²] / [s_k + (δ_{k+1} + δ_k − 2s_k) ξ(1−ξ)]²,

    with δ_0 = δ_K = 1 so the linear tails join smoothly. At θ = 0, g is the identity.
    See `rational_quadratic_spline` for the normalisation and the inverse.

    References:
        Neural Spline Flows (Durkan, Bekasov, Murray & Papamakarios, 2019).

    Example:
        >>> g = RQSpline(bins=4)
        >>> y, ladj = g.forward(torch.tensor([[0.5, 7.0]]), torch.zeros(1, 2, g.params))
        >>> y, ladj.abs().max() < 1e-6
        (tensor([[0.5000, 7.0000]]), tensor(True))
    """

    def __init__(self, bins: int = 8, bound: float = 5.0) -> None:
        if not 1 <= bins < 1.0 / MIN_BIN_SIZE:
            raise DgmError(f"spline bins must be between 1 and {int(1 / MIN_BIN_SIZE) - 1}, got {bins}")
        if not bound > 0:
            raise DgmError(f"spline bound must be positive, got {bound}")
        self.bins = bins
        self.bound = float(bound)
        self.params = 3 * bins - 1

    def _split(self, theta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        k = self.bins
        return theta.split([k, k, k - 1], dim=-1)

    def forward(self, x: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
        return rational_quadratic_spline(x, *self._split(theta), bound=self.bound)

    def inverse(self, y: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
        return rational_quadratic_spline(y, *self._split(theta), inverse=True, bound=self.bound)
