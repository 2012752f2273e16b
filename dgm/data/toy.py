"""2-D toy data sets with their exact densities: samplers, log p(x) and entropies.

Each `ToyDataset` has an infinite sampler `sample(n, generator)`, the true `log_prob(x)` (float64)
and the entropy `entropy = (H, error)` in nats, so that a test NLL gives KL(p_data || p) = NLL - H.
The toys are FFJORD's (lib/toy_data.py, Grathwohl et al., 2019), but `moons` is the seed paper's
(Ruthotto & Haber, 2021). Where those draw angles on an equispaced grid (sklearn's moons and circles,
FFJORD's rings), we draw them uniformly, so that samples follow the densities below exactly (the
grid's n -> inf limit); mixture components are drawn i.i.d. rather than in equal numbers.

Notation: N(x; m, s^2) is an isotropic Gaussian, R(t) the rotation by t, and
ring(x; R, s) = int N(x; R (cos f, sin f), s^2) df / 2 pi
              = exp(-(|x| - R)^2 / 2s^2) i0e(R |x| / s^2) / (2 pi s^2),   i0e(z) = exp(-z) I0(z).

moons         t ~ U[0, pi]; arc (cos t, sin t) or (1 - cos t, 1/2 - sin t) with prob. 1/2 each;
              + N(0, 0.05^2): sklearn make_moons(noise=0.05), unscaled.
              p(x) = 1/2 sum_arcs int_0^pi N(x; a(t), 0.05^2) dt / pi.
circles       f ~ U[0, 2 pi), R = 3 or 1.5 with prob. 1/2 each; R (cos f, sin f) + N(0, 0.24^2)
              (3 make_circles(factor=0.5, noise=0.08)).   p(x) = 1/2 sum_R ring(x; R, 0.24).
rings         R uniform in 3 {1, 3/4, 1/2, 1/4}, f ~ U[0, 2 pi); R (cos f, sin f) + N(0, 0.08^2).
              p(x) = 1/4 sum_R ring(x; R, 0.08).
8gaussians    k uniform in {0..7}; (4 (cos k pi/4, sin k pi/4) + N(0, 0.5^2)) / 1.414 (FFJORD's
              divisor, not sqrt 2).   p(x) = 1/8 sum_k N(x; 4 (cos k pi/4, sin k pi/4)/1.414, (0.5/1.414)^2).
checkerboard  x1 ~ U[-2, 2), x2 = U[0, 1) - 2 Bernoulli(1/2) + (floor(x1) mod 2); then x 2.
              p(x) = 1/32 on the squares [2a, 2a + 2) x [2b, 2b + 2), a, b in {-2..1}, a + b even,
              0 elsewhere (log p = -inf).
pinwheel      k uniform in {0..4}, r ~ N(1, 0.3^2), s ~ N(0, 0.1^2), t = 2 pi k/5 + exp(r)/4;
              x = 2 R(-t) (r, s).   p(x) = 1/5 sum_k sum_{(r, s) -> x} N(r; 1, 0.3^2) N(s; 0, 0.1^2)
              / (4 |1 + exp(r) s / 4|), the preimages found by bracketing and bisection (`_log_pinwheel`).
2spirals      v = 3 pi sqrt(U); arm (-v cos v + U1/2, v sin v + U2/2), negated with prob. 1/2, / 3,
              + N(0, 0.1^2) (U, U1, U2 ~ U[0, 1)).   p(x) = (q(x) + q(-x)) / 2 with q(x) =
              int_0^{3 pi} (2v / 9 pi^2) prod_j B(x_j - a_j(v) - w/2) dv, a(v) = (-v cos v, v sin v)/3,
              B(u) = [Phi((u + w/2)/s) - Phi((u - w/2)/s)] / w, w = 1/6, s = 0.1 (a box blurred by N).
swissroll     t ~ U[1.5 pi, 4.5 pi]; (t cos t, t sin t)/5 + N(0, 0.2^2) (make_swiss_roll(noise=1.0),
              columns 0 and 2, / 5).   p(x) = int N(x; (t cos t, t sin t)/5, 0.2^2) dt / 3 pi
              (uniform in t, not in arc length).

ring8         k uniform in {0..7}; (cos k pi/4, sin k pi/4) + N(0, 0.01^2).
              p(x) = 1/8 sum_k N(x; c_k, 0.01^2).
grid25        c uniform in {-4, -2, 0, 2, 4}^2; c + N(0, 0.05^2).   p(x) = 1/25 sum_c N(x; c, 0.05^2).
              These two are the mode-collapse benchmarks of the GAN literature (Srivastava et al.,
              2017; Lin et al., PacGAN, 2018): K far-apart modes, so H = log K + log(2 pi e s^2) to
              within exp(-d^2 / 8 s^2) for modes d apart (below 1e-300 here).

The curve integrals (moons, 2spirals, swissroll) use composite Gauss-Legendre quadrature (order 6)
on panels of arc length one noise std, graded towards the curve's ends: log p agrees with adaptive
quadrature to ~1e-9 near the data and ~1e-6 at log p = -1500 (tests use scipy.integrate.quad).

Entropies: H = -int p log p dA by the midpoint rule on cells of side length_scale/7 over the box
widened by 6 length scales; cells of length_scale/4 and a widening by 3 agree to < 3e-7, hence the
error 1e-6 (checkerboard: log 32, exact). `monte_carlo_entropy(toy, 10**6, seed=0)` agrees within
2.5 standard errors (0.0007-0.001): moons 0.29101, circles 3.26856, 8gaussians 2.83249, pinwheel
2.31883, 2spirals 2.64587, rings 2.62337, swissroll 2.66984.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np
import torch
from torch import Tensor

from dgm.data.base import DataSource
from dgm.errors import DgmError
from dgm.registry import DATASETS

SPLIT_SIZES: dict[str, int] = {"train": 20_000, "val": 5_000, "test": 10_000}
_CHUNK = 2048  # points per vectorised density evaluation (bounds memory at ~100 MB)
_F64 = torch.float64

Sampler = Callable[[int, torch.Generator], Tensor]


@dataclass(kw_only=True)
class ToyDataset(DataSource):
    """A 2-D toy with fixed float32 splits, an infinite sampler and its true density.

    Attributes:
        sampler: (n, generator) -> samples (n, 2), float64.
        log_density: x (N, 2) float64 -> log p(x) (N,).
        entropy_nats: (H, its numerical error) in nats.
        box: (x_min, x_max, y_min, y_max) holding all but < 1e-5 of the mass.
        length_scale: the smallest feature of p (noise std, or the checkerboard's square side).
        modes: (centres (K, 2), their common std) for toys made of K separated Gaussians
            (ring8, grid25), whose mode coverage is measured; None otherwise.
    """

    sampler: Sampler
    log_density: Callable[[Tensor], Tensor]
    entropy_nats: tuple[float, float]
    box: tuple[float, float, float, float]
    length_scale: float
    modes: tuple[Tensor, float] | None = None
    has_true_density: bool = True

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw n fresh samples, shape (n, 2), float64; without a generator they are unseeded."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise DgmError(f"number of samples must be a non-negative integer, got {n!r}")
        if generator is None:
            generator = torch.Generator()
            generator.seed()  # fresh entropy from the OS, not the global RNG
        return self.sampler(n, generator)

    def log_prob(self, x: Tensor) -> Tensor:
        """Return the true log p(x), shape (N,), float64, for points x of shape (N, 2)."""
        if x.ndim != 2 or x.shape[1] != 2:
            raise DgmError(f"{self.name} log_prob expects points of shape (N, 2), got {tuple(x.shape)}")
        x = x.detach().to(_F64)
        if len(x) == 0:
            return x.new_zeros(0)
        return torch.cat([self.log_density(chunk) for chunk in x.split(_CHUNK)])

    @property
    def entropy(self) -> tuple[float, float]:
        """Differential entropy H = -E log p(x) in nats and its numerical error."""
        return self.entropy_nats


def monte_carlo_entropy(toy: ToyDataset, n: int, seed: int) -> tuple[float, float]:
    """Estimate H = -E log p(x) by -(1/n) sum_i log p(x_i); return (H, std(log p) / sqrt(n))."""
    nll = -toy.log_prob(toy.sample(n, torch.Generator().manual_seed(seed)))
    return nll.mean().item(), (nll.std() / math.sqrt(n)).item()


def _log_normal_2d(sq_dist: Tensor, std: float) -> Tensor:
    """log N(x; m, std^2 I) in 2-D, given |x - m|^2."""
    return -sq_dist / (2 * std**2) - math.log(2 * math.pi * std**2)


def _log_rings(x: Tensor, radii: tuple[float, ...], std: float) -> Tensor:
    """log (1/K) sum_R ring(x; R, s), ring = exp(-(|x| - R)^2 / 2s^2) i0e(R |x| / s^2) / (2 pi s^2)."""
    norm = x.norm(dim=1, keepdim=True)
    radius = torch.tensor(radii, dtype=_F64, device=x.device)
    log_ring = _log_normal_2d((norm - radius) ** 2, std) + torch.special.i0e(norm * radius / std**2).log()
    return torch.logsumexp(log_ring, dim=1) - math.log(len(radii))


def _log_8gaussians(x: Tensor) -> Tensor:
    """log (1/8) sum_k N(x; 4 (cos k pi/4, sin k pi/4) / 1.414, (0.5 / 1.414)^2 I)."""
    angle = torch.arange(8, dtype=_F64, device=x.device) * math.pi / 4
    centres = 4 / 1.414 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    log_normal = _log_normal_2d(torch.cdist(x, centres).square(), 0.5 / 1.414)
    return torch.logsumexp(log_normal, dim=1) - math.log(8)


def _ring8_centres() -> Tensor:
    angle = torch.arange(8, dtype=_F64) * math.pi / 4
    return torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


def _grid25_centres() -> Tensor:
    side = torch.arange(-4.0, 5.0, 2.0, dtype=_F64)
    return torch.cartesian_prod(side, side)


_MODES = {"ring8": (_ring8_centres, 0.01), "grid25": (_grid25_centres, 0.05)}


def _log_modes(x: Tensor, name: str) -> Tensor:
    """log (1/K) sum_k N(x; c_k, s^2 I) over the K modes of `name`."""
    centres, std = _MODES[name]
    log_normal = _log_normal_2d(torch.cdist(x, centres().to(x.device)).square(), std)
    return torch.logsumexp(log_normal, dim=1) - math.log(len(log_normal[0]))


def mode_centres(name: str) -> tuple[Tensor, float]:
    """The centres (K, 2) and common std of a toy whose modes are known (ring8, grid25)."""
    centres, std = _MODES[name]
    return centres(), std


def _log_checkerboard(x: Tensor) -> Tensor:
    """log p = -log 32 on the squares [2a, 2a+2) x [2b, 2b+2), a, b in {-2..1}, a + b even; else -inf."""
    cell = torch.floor(x / 2)
    inside = ((cell >= -2) & (cell <= 1)).all(dim=1) & (cell.sum(dim=1) % 2 == 0)
    return torch.where(inside, x.new_tensor(-math.log(32.0)), x.new_tensor(-math.inf))


def _moon_arcs(t: Tensor) -> tuple[Tensor, Tensor]:
    """The outer arc (cos t, sin t) and the inner arc (1 - cos t, 1/2 - sin t), each (len(t), 2)."""
    outer = torch.stack([torch.cos(t), torch.sin(t)], dim=-1)
    return outer, torch.tensor([1.0, 0.5], dtype=_F64) - outer


def _spiral(v: Tensor) -> Tensor:
    return torch.stack([-v * torch.cos(v), v * torch.sin(v)], dim=-1) / 3


def _swissroll(t: Tensor) -> Tensor:
    return torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=-1) / 5


def _gauss_legendre(curve: Callable[..., Tensor], t0: float, t1: float, panel: float) -> tuple[Tensor, ...]:
    """Nodes t_i and weights w_i with sum_i w_i f(t_i) = int_{t0}^{t1} f(t) dt for smooth f.

    Composite Gauss-Legendre rule of order 6 on panels of equal arc length `panel` along `curve`.
    Beyond an end of the curve, at distance D, the integrand decays on the scale std^2 / D: the
    end panels are split geometrically to resolve it.
    """
    t = torch.linspace(t0, t1, 20_001, dtype=_F64)
    arc = torch.cat([t.new_zeros(1), torch.cumsum(curve(t).diff(dim=0).norm(dim=1), dim=0)])
    edges = np.interp(np.linspace(0, arc[-1].item(), math.ceil(arc[-1].item() / panel) + 1), arc, t)
    grading = 2.0 ** -np.arange(1, 11)
    edges = np.sort(np.concatenate([edges, t0 + (edges[1] - t0) * grading, t1 - (t1 - edges[-2]) * grading]))
    g, w = np.polynomial.legendre.leggauss(6)
    half = np.diff(edges)[:, None] / 2
    nodes, weights = edges[:-1, None] + half * (g + 1), half * w
    return torch.from_numpy(nodes.ravel()), torch.from_numpy(weights.ravel())


@lru_cache
def _curve_nodes(name: str) -> tuple[Tensor, Tensor]:
    """Kernel centres c_i (M, 2) and log weights log w_i (M,) with p(x) = sum_i w_i k(x - c_i)."""
    if name == "moons":  # t ~ U[0, pi] on either arc
        t, w = _gauss_legendre(lambda t: _moon_arcs(t)[0], 0.0, math.pi, 0.05)
        return torch.cat(_moon_arcs(t)), torch.log(w / (2 * math.pi)).repeat(2)
    if name == "swissroll":  # t ~ U[1.5 pi, 4.5 pi]
        t, w = _gauss_legendre(_swissroll, 1.5 * math.pi, 4.5 * math.pi, 0.2)
        return _swissroll(t), torch.log(w / (3 * math.pi))
    # 2spirals: v has density 2v / (3 pi)^2; the kernel is centred on the box [a, a + w)^2
    v, w = _gauss_legendre(_spiral, 0.0, 3 * math.pi, 0.1)
    return _spiral(v) + _BOX / 2, torch.log(w * 2 * v / (3 * math.pi) ** 2)


def _log_quadrature(
    x: Tensor, name: str, log_kernel: Callable[..., Tensor], kernel: Callable[..., Tensor] | None = None
) -> Tensor:
    """log sum_i w_i k(x - c_i) over the nodes of the curve `name`, shape (N,).

    The sum runs in linear space (one matrix product; `kernel` defaults to exp(log_kernel)); rows
    where it underflows (below e^-575) are redone by log-sum-exp of log k.
    """
    centres, log_w = (a.to(x.device) for a in _curve_nodes(name))
    k = kernel(x, centres) if kernel else log_kernel(x, centres).exp()
    out = torch.log(k @ log_w.exp())
    far = ~(out > -575.0)
    if far.any():
        out[far] = torch.logsumexp(log_w + log_kernel(x[far], centres), dim=1)
    return out


def _log_gaussian_curve(x: Tensor, name: str, std: float) -> Tensor:
    """log sum_i w_i N(x; c_i, std^2 I) over the quadrature nodes c_i of the curve `name`."""
    return _log_quadrature(x, name, lambda x, c: _log_normal_2d(torch.cdist(x, c).square(), std))


_BOX, _BOX_STD = 1 / 6, 0.1  # 2spirals: side w of the uniform jitter box, noise std s


def _box_erfc_args(x: Tensor, centres: Tensor) -> tuple[Tensor, Tensor]:
    """a = (|u| - w/2) / (s sqrt 2) and b = a + w / (s sqrt 2) for u = x - c, shape (N, M, 2)."""
    scale = 1 / (_BOX_STD * math.sqrt(2))
    a = ((x[:, None, :] - centres).abs_() - _BOX / 2).mul_(scale)
    return a, a + _BOX * scale


def _box_kernel(x: Tensor, centres: Tensor) -> Tensor:
    """prod_j B(x_j - c_ij), B(u) = [Phi((u + w/2)/s) - Phi((u - w/2)/s)] / w = [erfc(a) - erfc(b)] / 2w."""
    a, b = _box_erfc_args(x, centres)
    return torch.erfc(a).sub_(torch.erfc(b)).prod(-1) / (2 * _BOX) ** 2


def _log_box_kernel(x: Tensor, centres: Tensor) -> Tensor:
    """log of `_box_kernel` where erfc underflows, by erfc(z) = erfcx(z) exp(-z^2):
    log[erfc(a) - erfc(b)] = log erfcx(a) - a^2 + log(1 - erfcx(b) / erfcx(a) exp(a^2 - b^2))."""
    a, b = _box_erfc_args(x, centres)
    erfcx_a = torch.special.erfcx(a)
    log_diff = erfcx_a.log() - a**2 + torch.log1p(-torch.special.erfcx(b) / erfcx_a * (a**2 - b**2).exp())
    return log_diff.sum(-1) - 2 * math.log(2 * _BOX)


def _log_2spirals(x: Tensor) -> Tensor:
    """log (q(x) + q(-x)) / 2 with q(x) = sum_i w_i B(x_1 - c_i1) B(x_2 - c_i2)."""
    log_q = _log_quadrature(torch.cat([x, -x]), "2spirals", _log_box_kernel, _box_kernel)
    return torch.logaddexp(*log_q.chunk(2)) - math.log(2)


def _segment_logsumexp(values: Tensor, index: Tensor, n: int) -> Tensor:
    """out_j = log sum_{i: index_i = j} exp(values_i), shape (n,)."""
    peak = values.new_full((n,), -math.inf).scatter_reduce(0, index, values, "amax")
    return peak + values.new_zeros(n).index_add(0, index, torch.exp(values - peak[index])).log()


def _log_pinwheel(x: Tensor) -> Tensor:
    """log p(x) = log (1/20) sum_k sum_roots N(r; 1, 0.3^2) N(s; 0, 0.1^2) / |1 + exp(r) s / 4|.

    Arm k maps (r, s) = p (cos a, sin a) to y = x/2 = p (cos q, sin q) exactly when
    h(a) = a - exp(p cos a)/4 - q - 2 pi k/5 is a multiple of 2 pi. As h(pi) - h(-pi) = 2 pi, the
    crossings of multiples of 2 pi between the nodes of a grid over [-pi, pi] bracket every root
    (but pairs closer than a grid step, near folds of the map where p < e^-20), and bisection
    refines them. The Jacobian of (r, s) -> y is dh/da = 1 + exp(r) s / 4.
    """
    rho, psi = (x / 2).norm(dim=1), torch.atan2(x[:, 1], x[:, 0])
    c = psi[:, None] + 2 * math.pi / 5 * torch.arange(5, dtype=_F64, device=x.device)  # (N, 5)

    def turns(a: Tensor, rho: Tensor, c: Tensor) -> Tensor:  # h(a) / 2 pi; the clamp avoids inf
        return (a - torch.exp((rho * torch.cos(a)).clamp(max=700)) / 4 - c) / (2 * math.pi)

    # grid sizes found by convergence: 128 is exact for |x| < 7, 512 for |x| < 14 (beyond, a lower bound)
    size = 128 if rho.max() < 3.5 else 512
    grid = torch.linspace(-math.pi, math.pi, size, dtype=_F64, device=x.device)
    level = torch.floor(turns(grid, rho[:, None, None], c[..., None]))  # (N, 5, size)
    i, k, j = torch.nonzero(level[..., :-1] != level[..., 1:], as_tuple=True)
    m = torch.maximum(level[i, k, j], level[i, k, j + 1])  # the multiple of 2 pi crossed
    lo, hi, rho_i, c_ik = grid[j], grid[j + 1], rho[i], c[i, k]
    lo_below = turns(lo, rho_i, c_ik) < m
    for _ in range(50):  # to a bracket of width 2 pi / size * 2^-50
        mid = (lo + hi) / 2
        move_lo = (turns(mid, rho_i, c_ik) < m) == lo_below
        lo, hi = torch.where(move_lo, mid, lo), torch.where(move_lo, hi, mid)
    r, s = rho_i * torch.cos((lo + hi) / 2), rho_i * torch.sin((lo + hi) / 2)
    log_jacobian = torch.log(torch.abs(1 + torch.exp(r.clamp(max=700)) * s / 4))
    log_term = -((r - 1) ** 2) / 0.18 - s**2 / 0.02 - math.log(2 * math.pi * 0.03 * 20) - log_jacobian
    return _segment_logsumexp(log_term, i, len(x))


def _uniform(n: int, g: torch.Generator, *shape: int) -> Tensor:
    return torch.rand(n, *shape, generator=g, dtype=_F64)


def _normal(n: int, g: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(n, *shape, generator=g, dtype=_F64)


def _choice(n: int, g: torch.Generator, k: int) -> Tensor:
    return torch.randint(k, (n,), generator=g)


def _sample_rings(n: int, g: torch.Generator, radii: tuple[float, ...], std: float) -> Tensor:
    """R (cos f, sin f) + N(0, std^2 I) with R uniform in radii and f ~ U[0, 2 pi)."""
    radius = torch.tensor(radii, dtype=_F64)[_choice(n, g, len(radii))]
    angle = 2 * math.pi * _uniform(n, g)
    return radius[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1) + std * _normal(n, g, 2)


def _sample_moons(n: int, g: torch.Generator) -> Tensor:
    outer, inner = _moon_arcs(math.pi * _uniform(n, g))
    return torch.where(_choice(n, g, 2).bool()[:, None], inner, outer) + 0.05 * _normal(n, g, 2)


def _sample_8gaussians(n: int, g: torch.Generator) -> Tensor:
    angle = _choice(n, g, 8).to(_F64) * math.pi / 4
    centre = 4 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return (centre + 0.5 * _normal(n, g, 2)) / 1.414


def _sample_modes(n: int, g: torch.Generator, name: str) -> Tensor:
    centres, std = mode_centres(name)
    return centres[_choice(n, g, len(centres))] + std * _normal(n, g, 2)


def _sample_checkerboard(n: int, g: torch.Generator) -> Tensor:
    x1 = 4 * _uniform(n, g) - 2
    x2 = _uniform(n, g) - 2 * _choice(n, g, 2) + torch.floor(x1) % 2
    return 2 * torch.stack([x1, x2], dim=1)


def _sample_pinwheel(n: int, g: torch.Generator) -> Tensor:
    arm, r, s = _choice(n, g, 5).to(_F64), 1 + 0.3 * _normal(n, g), 0.1 * _normal(n, g)
    t = 2 * math.pi * arm / 5 + torch.exp(r) / 4
    cos, sin = torch.cos(t), torch.sin(t)
    return 2 * torch.stack([r * cos + s * sin, -r * sin + s * cos], dim=1)  # 2 R(-t) (r, s)


def _sample_2spirals(n: int, g: torch.Generator) -> Tensor:
    arm = _spiral(3 * math.pi * torch.sqrt(_uniform(n, g))) + _BOX * _uniform(n, g, 2)
    sign = 1 - 2 * _choice(n, g, 2).to(_F64)[:, None]
    return sign * arm + 0.1 * _normal(n, g, 2)


def _sample_swissroll(n: int, g: torch.Generator) -> Tensor:
    return _swissroll(1.5 * math.pi * (1 + 2 * _uniform(n, g))) + 0.2 * _normal(n, g, 2)


@dataclass(frozen=True)
class _Toy:
    sampler: Sampler
    log_density: Callable[[Tensor], Tensor]
    entropy: float  # see the module docstring
    box: tuple[float, float, float, float]
    length_scale: float
    seed: int  # of the fixed splits
    summary: str


# Everything held by a ToyDataset is a module-level function or a partial of one, so it pickles.
_CIRCLES, _RINGS = {"radii": (3.0, 1.5), "std": 0.24}, {"radii": (3.0, 2.25, 1.5, 0.75), "std": 0.08}
_TOYS: dict[str, _Toy] = {
    "moons": _Toy(
        _sample_moons,
        partial(_log_gaussian_curve, name="moons", std=0.05),
        0.289234,
        (-1.3, 2.3, -0.8, 1.3),
        0.05,
        1,
        "two interleaved half circles, noise 0.05 (seed paper)",
    ),
    "circles": _Toy(
        partial(_sample_rings, **_CIRCLES),
        partial(_log_rings, **_CIRCLES),
        3.268136,
        (-4.5, 4.5) * 2,
        0.24,
        2,
        "two concentric circles, radii 3 and 1.5, noise 0.24",
    ),
    "8gaussians": _Toy(
        _sample_8gaussians,
        _log_8gaussians,
        2.831880,
        (-4.8, 4.8) * 2,
        0.5 / 1.414,
        3,
        "eight Gaussians (std 0.354) on a circle of radius 2.83",
    ),
    "checkerboard": _Toy(
        _sample_checkerboard,
        _log_checkerboard,
        math.log(32),
        (-4.0, 4.0) * 2,
        2.0,
        4,
        "uniform on the 8 dark squares of a 4 x 4 checkerboard of side 8",
    ),
    "pinwheel": _Toy(
        _sample_pinwheel, _log_pinwheel, 2.317788, (-4.8, 4.8) * 2, 0.2, 5, "five curved Gaussian arms"
    ),
    "2spirals": _Toy(
        _sample_2spirals,
        _log_2spirals,
        2.645450,
        (-4.0, 4.0) * 2,
        0.1,
        6,
        "two interleaved spirals of 1.5 turns, noise 0.1",
    ),
    "rings": _Toy(
        partial(_sample_rings, **_RINGS),
        partial(_log_rings, **_RINGS),
        2.623183,
        (-3.6, 3.6) * 2,
        0.08,
        7,
        "four concentric rings, radii 3, 2.25, 1.5, 0.75, noise 0.08",
    ),
    "swissroll": _Toy(
        _sample_swissroll,
        partial(_log_gaussian_curve, name="swissroll", std=0.2),
        2.669646,
        (-4.0, 4.0) * 2,
        0.2,
        8,
        "a 2-D swiss roll, noise 0.2",
    ),
    "ring8": _Toy(
        partial(_sample_modes, name="ring8"),
        partial(_log_modes, name="ring8"),
        math.log(8) + math.log(2 * math.pi * math.e * 0.01**2),
        (-1.1, 1.1) * 2,
        0.01,
        9,
        "eight Gaussians (std 0.01) on the unit circle: a GAN's mode-collapse test",
    ),
    "grid25": _Toy(
        partial(_sample_modes, name="grid25"),
        partial(_log_modes, name="grid25"),
        math.log(25) + math.log(2 * math.pi * math.e * 0.05**2),
        (-4.6, 4.6) * 2,
        0.05,
        10,
        "25 Gaussians (std 0.05) on the grid {-4, -2, 0, 2, 4}²: a GAN's mode-collapse test",
    ),
}


#: The registered toy names: the datasets with a known true density.
TOY_NAMES: tuple[str, ...] = tuple(_TOYS)


def _to_float32_floor(x: Tensor) -> Tensor:
    """Cast to float32 rounding towards -inf, so that a half-open support [a, b) keeps every point."""
    y = x.to(torch.float32)
    return torch.where(y.to(_F64) > x, torch.nextafter(y, y.new_tensor(-math.inf)), y)


def make_toy(name: str) -> ToyDataset:
    """Build the toy `name`; its splits are drawn in turn from Generator().manual_seed(seed)."""
    if name not in _TOYS:
        raise DgmError(f"unknown toy {name!r} (known: {', '.join(sorted(_TOYS))})")
    toy = _TOYS[name]
    g = torch.Generator().manual_seed(toy.seed)
    splits = {split: _to_float32_floor(toy.sampler(n, g)) for split, n in SPLIT_SIZES.items()}
    return ToyDataset(
        name=name,
        kind="points",
        splits=splits,
        sampler=toy.sampler,
        log_density=toy.log_density,
        entropy_nats=(toy.entropy, 0.0 if name == "checkerboard" else 1e-6),
        box=toy.box,
        length_scale=toy.length_scale,
        modes=mode_centres(name) if name in _MODES else None,
    )


for _name, _toy in _TOYS.items():
    DATASETS.add(_name, lambda name=_name: make_toy(name), _toy.summary)
