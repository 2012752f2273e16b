"""2-D toy data sets with their exact densities: samplers, log p(x) and entropies.

Each toy is a `ToyDataset`: an infinite sampler `sample(n, generator)`, the true log-density
`log_prob(x)` (float64) and the differential entropy `entropy = (H, standard error)` in nats, so that
a model's test NLL gives KL(p_data || p_model) = NLL - H. The toys follow FFJORD's lib/toy_data.py
(Grathwohl et al., 2019), except `moons`, which is the seed paper's (Ruthotto & Haber, 2021).
Where the reference draws angles on an equispaced grid (sklearn's moons and circles, FFJORD's rings),
we draw them uniformly, so that samples follow the density below exactly (the grid is its n -> inf
limit). Mixture components are drawn i.i.d. (FFJORD splits n evenly; its pinwheel returns 5*(n//5)
points, its 2spirals 2*(n//2)).

Notation: N(x; m, s^2) is an isotropic Gaussian, R(t) a rotation by t and
ring(x; R, s) = int N(x; R(cos f, sin f), s^2) df / 2pi
             = exp(-(|x| - R)^2 / 2s^2) i0e(R|x| / s^2) / (2 pi s^2),   i0e(z) = exp(-z) I0(z).

moons         t ~ U[0, pi]; arc (cos t, sin t) or (1 - cos t, 1/2 - sin t), each with prob. 1/2;
              + N(0, 0.05^2). This is sklearn make_moons(noise=0.05), unscaled.
              p(x) = 1/2 sum_arcs int_0^pi N(x; a(t), 0.05^2) dt / pi.
circles       f ~ U[0, 2pi), R in {3, 1.5} each with prob. 1/2; R (cos f, sin f) + N(0, 0.24^2)
              (3 * make_circles(factor=0.5, noise=0.08)).   p(x) = 1/2 sum_R ring(x; R, 0.24).
rings         R uniform in 3 * {1, 3/4, 1/2, 1/4}, f ~ U[0, 2pi); R (cos f, sin f) + N(0, 0.08^2).
              p(x) = 1/4 sum_R ring(x; R, 0.08).
8gaussians    k uniform in {0..7}; (4 (cos k pi/4, sin k pi/4) + N(0, 0.5^2)) / 1.414 (FFJORD's
              divisor, not sqrt 2).   p(x) = 1/8 sum_k N(x; 4 (cos k pi/4, sin k pi/4)/1.414, (0.5/1.414)^2).
checkerboard  x1 ~ U[-2, 2), x2 = U[0, 1) - 2 Bernoulli(1/2) + (floor(x1) mod 2); then * 2.
              p(x) = 1/32 on the squares [2a, 2a+2) x [2b, 2b+2), a, b in {-2..1}, a + b even;
              0 elsewhere (log p = -inf).
pinwheel      k uniform in {0..4}, r ~ N(1, 0.3^2), s ~ N(0, 0.1^2), t = 2 pi k/5 + exp(r)/4,
              x = 2 R(-t) (r, s).   p(x) = 1/5 sum_k sum_{(r, s) -> x} N(r; 1, 0.3^2) N(s; 0, 0.1^2)
              / (4 |1 + exp(r) s / 4|). With (p, q) the polar form of x/2, the preimages solve
              r = p cos(q + 2 pi k/5 + exp(r)/4), s = p sin(same); every root in [-p, p] is
              bracketed on a grid and bisected.
2spirals      v = 3 pi sqrt(U); arm (-v cos v + U1/2, v sin v + U2/2), negated with prob. 1/2,
              then / 3, + N(0, 0.1^2) (U, U1, U2 ~ U[0, 1)).   p(x) = (q(x) + q(-x)) / 2 with
              q(x) = int_0^{3 pi} (2v / 9 pi^2) prod_j B(x_j - a_j(v) - w/2) dv, a(v) = (-v cos v, v sin v)/3,
              B(u) = [Phi((u + w/2)/s) - Phi((u - w/2)/s)] / w, w = 1/6, s = 0.1 (box * Gaussian).
swissroll     t ~ U[1.5 pi, 4.5 pi]; (t cos t, t sin t) / 5 + N(0, 0.2^2) (make_swiss_roll(noise=1),
              columns 0 and 2, / 5).   p(x) = int N(x; (t cos t, t sin t)/5, 0.2^2) dt / 3 pi
              (uniform in t, not in arc length).

The curve integrals (moons, 2spirals, swissroll) use composite Gauss-Legendre quadrature on panels
of equal arc length (half the noise scale each, order 6), summed by log-sum-exp: log p is accurate
to ~1e-8 near the data (tests compare with scipy.integrate.quad).

Entropies: H = -mean log p(x_i) over n = 10^6 samples of `sample(10**6, Generator().manual_seed(0))`
(`monte_carlo_entropy(toy, 10**6, seed=0)`), standard error std(log p)/sqrt(n); checkerboard's
H = log 32 is exact. The tests check each against a fresh Monte Carlo estimate and a grid integral.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from dgm.data.base import DataSource
from dgm.errors import DgmError
from dgm.registry import DATASETS

SPLIT_SIZES: dict[str, int] = {"train": 20_000, "val": 5_000, "test": 10_000}
_CHUNK = 2048  # points per vectorised density evaluation (bounds memory at ~50 MB)
_PINWHEEL_GRID = 128  # bracketing grid over r in [-p, p] for the pinwheel's preimages
_F64 = torch.float64

Sampler = Callable[[int, torch.Generator], Tensor]


@dataclass(kw_only=True)
class ToyDataset(DataSource):
    """A 2-D toy with fixed splits, an infinite sampler and its true density.

    Attributes:
        sampler: (n, generator) -> (n, 2) float64 samples.
        log_density: x (N, 2) float64 -> log p(x) (N,).
        entropy_estimate: (H, standard error) in nats.
        box: (x_min, x_max, y_min, y_max), holding all but a negligible (< 1e-5) mass.
        length_scale: smallest feature of p (noise std, or the checkerboard's square side).
    """

    sampler: Sampler
    log_density: Callable[[Tensor], Tensor]
    entropy_estimate: tuple[float, float]
    box: tuple[float, float, float, float]
    length_scale: float
    has_true_density: bool = True

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw n fresh samples, shape (n, 2), float64; without a generator they are unseeded."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise DgmError(f"number of samples must be a non-negative integer, got {n!r}")
        if generator is None:
            generator = torch.Generator()
            generator.seed()
        return self.sampler(n, generator)

    def log_prob(self, x: Tensor) -> Tensor:
        """Return the true log p(x), shape (N,), float64, for x of shape (N, 2)."""
        if x.ndim != 2 or x.shape[1] != 2:
            raise DgmError(f"{self.name} log_prob expects points of shape (N, 2), got {tuple(x.shape)}")
        x = x.detach().to(_F64)
        return torch.cat([self.log_density(chunk) for chunk in x.split(_CHUNK)] or [x[:, 0]])

    @property
    def entropy(self) -> tuple[float, float]:
        """Differential entropy H = -E log p(x) in nats and its standard error."""
        return self.entropy_estimate


def monte_carlo_entropy(toy: ToyDataset, n: int, seed: int) -> tuple[float, float]:
    """Estimate H = -E log p(x) by -(1/n) sum_i log p(x_i); return (H, std(log p)/sqrt(n))."""
    nll = -toy.log_prob(toy.sample(n, torch.Generator().manual_seed(seed)))
    return nll.mean().item(), (nll.std() / math.sqrt(n)).item()


# ---------------------------------------------------------------- densities: closed forms


def _log_normal_2d(sq_dist: Tensor, std: float) -> Tensor:
    """log N(x; m, std^2 I) in 2-D given |x - m|^2."""
    return -sq_dist / (2 * std**2) - math.log(2 * math.pi * std**2)


def _log_rings(x: Tensor, radii: tuple[float, ...], std: float) -> Tensor:
    """log (1/K) sum_R ring(x; R, std), ring(x; R, s) = exp(-(|x|-R)^2/2s^2) i0e(R|x|/s^2)/(2 pi s^2)."""
    norm = x.norm(dim=1, keepdim=True)
    radius = torch.tensor(radii, dtype=_F64, device=x.device)
    log_ring = _log_normal_2d((norm - radius) ** 2, std) + torch.log(
        torch.special.i0e(norm * radius / std**2)
    )
    return torch.logsumexp(log_ring, dim=1) - math.log(len(radii))


def _log_8gaussians(x: Tensor) -> Tensor:
    """log (1/8) sum_k N(x; 4 (cos k pi/4, sin k pi/4) / 1.414, (0.5/1.414)^2 I)."""
    angle = torch.arange(8, dtype=_F64, device=x.device) * math.pi / 4
    centres = 4 / 1.414 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    sq_dist = ((x[:, None, :] - centres) ** 2).sum(-1)
    return torch.logsumexp(_log_normal_2d(sq_dist, 0.5 / 1.414), dim=1) - math.log(8)


def _log_checkerboard(x: Tensor) -> Tensor:
    """log p = -log 32 on the squares [2a, 2a+2) x [2b, 2b+2), a, b in {-2..1}, a + b even, else -inf."""
    cell = torch.floor(x / 2)
    inside = ((cell >= -2) & (cell <= 1)).all(dim=1) & (cell.sum(dim=1) % 2 == 0)
    return torch.where(inside, -math.log(32.0), -math.inf).to(_F64)


# ---------------------------------------------------------------- densities: curve integrals


def _moon_outer(t: Tensor) -> Tensor:
    return torch.stack([torch.cos(t), torch.sin(t)], dim=-1)


def _moon_inner(t: Tensor) -> Tensor:
    return torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], dim=-1)


def _spiral(v: Tensor) -> Tensor:
    return torch.stack([-v * torch.cos(v), v * torch.sin(v)], dim=-1) / 3


def _swissroll(t: Tensor) -> Tensor:
    return torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=-1) / 5


def _gauss_legendre(
    curve: Callable[[Tensor], Tensor], t0: float, t1: float, panel_length: float, order: int = 6
) -> tuple[Tensor, Tensor]:
    """Nodes t_i and weights w_i with sum_i w_i f(t_i) ~ int_{t0}^{t1} f(t) dt.

    Composite Gauss-Legendre rule on panels of equal arc length of `curve`, so that the node
    spacing along the curve is uniform where the integrand's features (the noise) are.
    """
    t = torch.linspace(t0, t1, 20_001, dtype=_F64)
    arc = torch.cat([t.new_zeros(1), torch.cumsum(curve(t).diff(dim=0).norm(dim=1), dim=0)])
    n_panels = math.ceil(arc[-1].item() / panel_length)
    edges = np.interp(np.linspace(0, arc[-1].item(), n_panels + 1), arc.numpy(), t.numpy())
    g, w = np.polynomial.legendre.leggauss(order)
    half = np.diff(edges)[:, None] / 2
    nodes = (edges[:-1, None] + half * (g + 1)).ravel()
    return torch.from_numpy(nodes), torch.from_numpy((half * w).ravel())


@lru_cache
def _curve_nodes(name: str) -> tuple[Tensor, Tensor]:
    """Kernel centres c_i (M, 2) and log weights log w_i (M,) with p(x) = sum_i w_i k(x - c_i)."""
    if name == "moons":
        t, w = _gauss_legendre(_moon_outer, 0.0, math.pi, 0.025)
        centres = torch.cat([_moon_outer(t), _moon_inner(t)])
        return centres, torch.log(w / (2 * math.pi)).repeat(2)
    if name == "swissroll":
        t, w = _gauss_legendre(_swissroll, 1.5 * math.pi, 4.5 * math.pi, 0.1)
        return _swissroll(t), torch.log(w / (3 * math.pi))
    if name == "2spirals":  # centre of the box [a, a + w)^2; density 2v / (3 pi)^2
        v, w = _gauss_legendre(_spiral, 0.0, 3 * math.pi, 0.05)
        return _spiral(v) + 1 / 12, torch.log(w * 2 * v / (3 * math.pi) ** 2)
    raise KeyError(name)


def _log_gaussian_curve(name: str, std: float) -> Callable[[Tensor], Tensor]:
    """x -> log sum_i w_i N(x; c_i, std^2 I) over the quadrature nodes of the curve `name`."""

    def log_density(x: Tensor) -> Tensor:
        centres, log_w = (a.to(x.device) for a in _curve_nodes(name))
        sq_dist = ((x[:, None, :] - centres) ** 2).sum(-1)
        return torch.logsumexp(log_w + _log_normal_2d(sq_dist, std), dim=1)

    return log_density


def _log_box_gaussian(u: Tensor, width: float, std: float) -> Tensor:
    """log B(u), B(u) = [Phi((u + w/2)/s) - Phi((u - w/2)/s)] / w = [erfc(a) - erfc(b)] / 2w,

    a = (|u| - w/2)/(s sqrt 2), b = (|u| + w/2)/(s sqrt 2); far out, log erfc(a) = log erfcx(a) - a^2.
    """
    a = (u.abs() - width / 2) / (std * math.sqrt(2))
    b = (u.abs() + width / 2) / (std * math.sqrt(2))
    out = torch.log(torch.erfc(a) - torch.erfc(b))
    far = a > 20  # erfc underflows near 27; erfc(b) / erfc(a) < exp(-40) there
    if far.any():
        out[far] = torch.log(torch.special.erfcx(a[far])) - a[far] ** 2
    return out - math.log(2 * width)


def _log_2spirals(x: Tensor) -> Tensor:
    """log (q(x) + q(-x))/2 with q(x) = sum_i w_i B(x_1 - c_i1) B(x_2 - c_i2)."""
    centres, log_w = (a.to(x.device) for a in _curve_nodes("2spirals"))
    both = torch.cat([x, -x])[:, None, :] - centres
    log_q = torch.logsumexp(log_w + _log_box_gaussian(both, 1 / 6, 0.1).sum(-1), dim=1)
    return torch.logaddexp(*log_q.chunk(2)) - math.log(2)


def _segment_logsumexp(values: Tensor, index: Tensor, n: int) -> Tensor:
    """out_j = log sum_{i: index_i = j} exp(values_i), shape (n,)."""
    peak = values.new_full((n,), -math.inf).scatter_reduce(0, index, values, "amax")
    total = values.new_zeros(n).index_add(0, index, torch.exp(values - peak[index]))
    return peak + torch.log(total)


def _log_pinwheel(x: Tensor) -> Tensor:
    """log p(x) = log (1/20) sum_k sum_roots N(r; 1, .3^2) N(s; 0, .1^2) / |1 + exp(r) s / 4|.

    For arm k the preimages of y = x/2 = p (cos q, sin q) are the roots of
    f(r) = r - p cos(c + exp(r)/4), c = q + 2 pi k/5, with s = p sin(c + exp(r)/4) and
    f'(r) = 1 + exp(r) s / 4. Since f(-p) <= 0 <= f(p), sign changes on a grid over [-p, p]
    bracket every root (up to pairs closer than the grid step), which bisection then refines.
    """
    rho, psi = (x / 2).norm(dim=1), torch.atan2(x[:, 1], x[:, 0])
    c = psi[:, None] + 2 * math.pi / 5 * torch.arange(5, dtype=_F64, device=x.device)  # (N, 5)

    def f(r: Tensor, rho: Tensor, c: Tensor) -> Tensor:
        return r - rho * torch.cos(c + torch.exp(r.clamp(max=50.0)) / 4)  # clamp: no inf phase

    half = rho * (1 + 1e-9) + 1e-12  # strictly f(-half) < 0 < f(half)
    grid = half[:, None] * torch.linspace(-1, 1, _PINWHEEL_GRID, dtype=_F64, device=x.device)
    negative = f(grid[:, None, :], rho[:, None, None], c[..., None]) < 0  # (N, 5, G)
    i, k, j = torch.nonzero(negative[..., :-1] != negative[..., 1:], as_tuple=True)
    lo, hi, lo_negative, rho_i, c_ik = grid[i, j], grid[i, j + 1], negative[i, k, j], rho[i], c[i, k]
    for _ in range(50):  # bracket width 2p/G * 2^-50
        mid = (lo + hi) / 2
        move_lo = (f(mid, rho_i, c_ik) < 0) == lo_negative
        lo, hi = torch.where(move_lo, mid, lo), torch.where(move_lo, hi, mid)
    r = (lo + hi) / 2
    s = rho_i * torch.sin(c_ik + torch.exp(r) / 4)
    log_term = (
        -((r - 1) ** 2) / (2 * 0.3**2)
        - s**2 / (2 * 0.1**2)
        - math.log(2 * math.pi * 0.3 * 0.1 * 20)
        - torch.log(torch.abs(1 + torch.exp(r) * s / 4))
    )
    return _segment_logsumexp(log_term, i, len(x))


# ---------------------------------------------------------------- samplers


def _uniform(n: int, g: torch.Generator, *shape: int) -> Tensor:
    return torch.rand(n, *shape, generator=g, dtype=_F64)


def _normal(n: int, g: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(n, *shape, generator=g, dtype=_F64)


def _choice(n: int, g: torch.Generator, k: int) -> Tensor:
    return torch.randint(k, (n,), generator=g)


def _on_circle(radius: Tensor, g: torch.Generator) -> Tensor:
    angle = 2 * math.pi * _uniform(len(radius), g)
    return radius[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


def _sample_moons(n: int, g: torch.Generator) -> Tensor:
    t = math.pi * _uniform(n, g)
    inner = _choice(n, g, 2).bool()[:, None]
    return torch.where(inner, _moon_inner(t), _moon_outer(t)) + 0.05 * _normal(n, g, 2)


def _sample_circles(n: int, g: torch.Generator) -> Tensor:
    radius = torch.tensor([3.0, 1.5], dtype=_F64)[_choice(n, g, 2)]
    return _on_circle(radius, g) + 0.24 * _normal(n, g, 2)


def _sample_rings(n: int, g: torch.Generator) -> Tensor:
    radius = 3 * torch.tensor([1.0, 0.75, 0.5, 0.25], dtype=_F64)[_choice(n, g, 4)]
    return _on_circle(radius, g) + 0.08 * _normal(n, g, 2)


def _sample_8gaussians(n: int, g: torch.Generator) -> Tensor:
    angle = _choice(n, g, 8).to(_F64) * math.pi / 4
    centre = 4 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return (centre + 0.5 * _normal(n, g, 2)) / 1.414


def _sample_checkerboard(n: int, g: torch.Generator) -> Tensor:
    x1 = 4 * _uniform(n, g) - 2
    x2 = _uniform(n, g) - 2 * _choice(n, g, 2) + torch.floor(x1) % 2
    return 2 * torch.stack([x1, x2], dim=1)


def _sample_pinwheel(n: int, g: torch.Generator) -> Tensor:
    arm = _choice(n, g, 5).to(_F64)
    r, s = 1 + 0.3 * _normal(n, g), 0.1 * _normal(n, g)
    t = 2 * math.pi * arm / 5 + torch.exp(r) / 4
    c, sn = torch.cos(t), torch.sin(t)
    return 2 * torch.stack([r * c + s * sn, -r * sn + s * c], dim=1)  # 2 R(-t) (r, s)


def _sample_2spirals(n: int, g: torch.Generator) -> Tensor:
    v = 3 * math.pi * torch.sqrt(_uniform(n, g))
    arm = 3 * _spiral(v) + 0.5 * _uniform(n, g, 2)
    sign = 1 - 2 * _choice(n, g, 2).to(_F64)[:, None]
    return sign * arm / 3 + 0.1 * _normal(n, g, 2)


def _sample_swissroll(n: int, g: torch.Generator) -> Tensor:
    t = 1.5 * math.pi * (1 + 2 * _uniform(n, g))
    return _swissroll(t) + 0.2 * _normal(n, g, 2)


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class _Toy:
    sampler: Sampler
    log_density: Callable[[Tensor], Tensor]
    entropy: tuple[float, float]
    box: tuple[float, float, float, float]
    length_scale: float
    seed: int  # of the fixed splits
    summary: str


# Entropies: monte_carlo_entropy(toy, 10**6, seed=0), see the module docstring.
_TOYS: dict[str, _Toy] = {
    "moons": _Toy(
        _sample_moons, _log_gaussian_curve("moons", 0.05), (0.0, 0.0),
        (-1.3, 2.3, -0.8, 1.3), 0.05, 1, "two interleaved half circles, noise 0.05 (seed paper)",
    ),
    "circles": _Toy(
        _sample_circles, lambda x: _log_rings(x, (3.0, 1.5), 0.24), (0.0, 0.0),
        (-4.5, 4.5, -4.5, 4.5), 0.24, 2, "two concentric circles, radii 3 and 1.5, noise 0.24",
    ),
    "8gaussians": _Toy(
        _sample_8gaussians, _log_8gaussians, (0.0, 0.0),
        (-4.8, 4.8, -4.8, 4.8), 0.5 / 1.414, 3, "eight Gaussians on a circle of radius 2.83",
    ),
    "checkerboard": _Toy(
        _sample_checkerboard, _log_checkerboard, (math.log(32.0), 0.0),
        (-4.0, 4.0, -4.0, 4.0), 2.0, 4, "uniform on 8 squares of a 4 x 4 checkerboard",
    ),
    "pinwheel": _Toy(
        _sample_pinwheel, _log_pinwheel, (0.0, 0.0),
        (-4.8, 4.8, -4.8, 4.8), 0.2, 5, "five curved Gaussian arms",
    ),
    "2spirals": _Toy(
        _sample_2spirals, _log_2spirals, (0.0, 0.0),
        (-4.0, 4.0, -4.0, 4.0), 0.1, 6, "two interleaved spirals, noise 0.1",
    ),
    "rings": _Toy(
        lambda n, g: _sample_rings(n, g), lambda x: _log_rings(x, (3.0, 2.25, 1.5, 0.75), 0.08),
        (0.0, 0.0), (-3.6, 3.6, -3.6, 3.6), 0.08, 7, "four concentric rings, noise 0.08",
    ),
    "swissroll": _Toy(
        _sample_swissroll, _log_gaussian_curve("swissroll", 0.2), (0.0, 0.0),
        (-4.0, 4.0, -4.0, 4.0), 0.2, 8, "2-D swiss roll, noise 0.2",
    ),
}


def _to_float32_floor(x: Tensor) -> Tensor:
    """Cast to float32 rounding towards -inf, so that a half-open support [a, b) stays closed."""
    y = x.to(torch.float32)
    return torch.where(y.to(_F64) > x, torch.nextafter(y, y.new_tensor(-math.inf)), y)


def make_toy(name: str) -> ToyDataset:
    """Build the toy `name` with its fixed float32 splits drawn from Generator().manual_seed(seed)."""
    if name not in _TOYS:
        raise DgmError(f"unknown toy {name!r} (known: {', '.join(sorted(_TOYS))})")
    toy = _TOYS[name]
    g = torch.Generator().manual_seed(toy.seed)
    splits = {k: _to_float32_floor(toy.sampler(n, g)) for k, n in SPLIT_SIZES.items()}
    return ToyDataset(
        name=name, kind="points", splits=splits, sampler=toy.sampler,
        log_density=toy.log_density, entropy_estimate=toy.entropy, box=toy.box,
        length_scale=toy.length_scale,
    )


def _factory(name: str) -> Callable[[], ToyDataset]:
    def factory() -> ToyDataset:
        return make_toy(name)

    return factory


for _name, _toy in _TOYS.items():
    DATASETS.add(_name, _factory(_name), _toy.summary)
