"""The 2-D toys: true densities integrate to 1, entropies agree across methods, samplers follow the
densities, splits are fixed. Parametrised over every toy registered in DATASETS."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from functools import cache

import pytest
import torch
from scipy import integrate
from scipy.stats import norm
from torch import Tensor

import dgm.data.toy as toy_module
from dgm.data.base import DataSource
from dgm.data.toy import SPLIT_SIZES, ToyDataset, monte_carlo_entropy
from dgm.errors import DgmError
from dgm.registry import DATASETS

# Datasets registered by dgm.data.toy (other factories may read files, so they are not called here).
TOYS = list(toy_module.TOY_NAMES)
CELLS_PER_SCALE = 3  # grid cells per length scale: midpoint sums of these densities are exact to ~1e-6


def make(name: str) -> ToyDataset:
    return DATASETS.get(name)()


@cache
def density_grid(name: str) -> tuple[Tensor, float, float]:
    """log p at the centres of the cells (hx x hy) of a grid tiling the toy's box, shape (nx, ny)."""
    toy = make(name)
    x0, x1, y0, y1 = toy.box
    nx = round((x1 - x0) * CELLS_PER_SCALE / toy.length_scale)
    ny = round((y1 - y0) * CELLS_PER_SCALE / toy.length_scale)
    hx, hy = (x1 - x0) / nx, (y1 - y0) / ny
    xs = x0 + hx * (torch.arange(nx, dtype=torch.float64) + 0.5)
    ys = y0 + hy * (torch.arange(ny, dtype=torch.float64) + 0.5)
    points = torch.cartesian_prod(xs, ys)
    return toy.log_prob(points).reshape(nx, ny), hx, hy


def chi_square_z(name: str, x: Tensor) -> float:
    """(X^2 - df) / sqrt(2 df) of the histogram of x against p integrated per bin: about N(0, 1)
    when x follows p. Bins are squares of one length scale (the checkerboard's squares); bins
    expecting fewer than 5 samples, and samples outside the kept bins, are pooled into one bin.
    """
    toy = make(name)
    log_p, hx, hy = density_grid(name)
    block = CELLS_PER_SCALE
    nx, ny = (log_p.shape[0] // block) * block, (log_p.shape[1] // block) * block
    prob = (log_p.exp() * hx * hy)[:nx, :ny].reshape(nx // block, block, ny // block, block).sum((1, 3))
    ix = torch.floor((x[:, 0].double() - toy.box[0]) / (hx * block)).long()
    iy = torch.floor((x[:, 1].double() - toy.box[2]) / (hy * block)).long()
    inside = (ix >= 0) & (ix < prob.shape[0]) & (iy >= 0) & (iy < prob.shape[1])
    counts = torch.bincount(ix[inside] * prob.shape[1] + iy[inside], minlength=prob.numel())
    expected, counts = len(x) * prob.flatten(), counts.double()
    keep = expected >= 5
    observed = torch.cat([counts[keep], (len(x) - counts[keep].sum()).reshape(1)])
    expected = torch.cat([expected[keep], (len(x) - expected[keep].sum()).clamp(min=1e-9).reshape(1)])
    chi2 = ((observed - expected) ** 2 / expected).sum().item()
    df = len(observed) - 1
    return (chi2 - df) / math.sqrt(2 * df)


def test_every_toy_is_registered_with_a_true_density() -> None:
    names = {"moons", "circles", "8gaussians", "checkerboard", "pinwheel", "2spirals", "rings", "swissroll"}
    assert names <= set(TOYS)
    for name in TOYS:
        toy = make(name)
        assert isinstance(toy, DataSource) and toy.has_true_density and toy.kind == "points"


@pytest.mark.parametrize("name", TOYS)
def test_density_integrates_to_one(name: str) -> None:
    log_p, hx, hy = density_grid(name)
    assert log_p.exp().sum().item() * hx * hy == pytest.approx(1.0, abs=0.005)


@pytest.mark.parametrize("name", TOYS)
def test_entropy_agrees_with_fresh_monte_carlo_and_with_the_grid(name: str) -> None:
    toy = make(name)
    stored, stored_se = toy.entropy
    fresh, fresh_se = monte_carlo_entropy(toy, 50_000, seed=12345)
    assert abs(fresh - stored) <= 4 * math.hypot(stored_se, fresh_se) + 1e-9
    # -int p log p by the midpoint rule: exact to ~1e-6 for these smooth densities (and for the
    # checkerboard, whose grid is aligned to its squares)
    log_p, hx, hy = density_grid(name)
    p = log_p.exp()
    grid_entropy = -(torch.where(p > 0, p * log_p, 0.0)).sum().item() * hx * hy
    assert grid_entropy == pytest.approx(stored, abs=0.01)


@pytest.mark.parametrize("name", TOYS)
def test_sampler_follows_the_density(name: str) -> None:
    toy = make(name)
    x = toy.sample(200_000, torch.Generator().manual_seed(7))
    assert chi_square_z(name, x) < 5
    # the same check rejects a scale 3% too large, or noise std 12% too large (0.5 length scales added)
    assert chi_square_z(name, 1.03 * x) > 20
    noise = 0.5 * toy.length_scale * torch.randn(x.shape, generator=torch.Generator().manual_seed(8))
    assert chi_square_z(name, x + noise.double()) > 20


@pytest.mark.parametrize("name", TOYS)
def test_splits_are_fixed_float32_and_inside_the_support(name: str) -> None:
    first, second = make(name), make(name)
    for split, n in SPLIT_SIZES.items():
        x = first.split(split)
        assert x.shape == (n, 2) and x.dtype == torch.float32 and torch.isfinite(x).all()
        assert torch.equal(x, second.split(split))
    assert not torch.equal(first.split("train")[: SPLIT_SIZES["test"]], first.split("test"))
    assert torch.isfinite(first.log_prob(first.split("test"))).all()


@pytest.mark.parametrize("name", TOYS)
def test_sample_and_log_prob_contracts(name: str) -> None:
    toy = make(name)
    x = toy.sample(100, torch.Generator().manual_seed(3))
    assert x.shape == (100, 2) and x.dtype == torch.float64
    assert torch.equal(x, toy.sample(100, torch.Generator().manual_seed(3)))
    assert toy.sample(0).shape == (0, 2)
    log_p = toy.log_prob(x.float())
    assert log_p.shape == (100,) and log_p.dtype == torch.float64
    assert torch.equal(log_p, toy.log_prob(x.float().double()))
    assert toy.log_prob(torch.zeros(0, 2)).shape == (0,)
    with pytest.raises(DgmError, match="shape"):
        toy.log_prob(torch.zeros(5, 3))
    with pytest.raises(DgmError, match="non-negative"):
        toy.sample(-1)
    copy = pickle.loads(pickle.dumps(toy))  # e.g. for spawned data-loading workers
    assert torch.equal(copy.log_prob(x.float()), log_p) and torch.equal(copy.split("test"), toy.split("test"))


def test_8gaussians_normalisation_at_a_centre() -> None:
    """Regression: FFJORD divides by 1.414 (not sqrt 2): std 0.5/1.414, centres at 4/1.414."""
    std, radius = 0.5 / 1.414, 4 / 1.414
    x = torch.tensor([[radius, 0.0]], dtype=torch.float64)
    centres = [(radius * math.cos(k * math.pi / 4), radius * math.sin(k * math.pi / 4)) for k in range(8)]
    terms = [math.exp(-((radius - a) ** 2 + b**2) / (2 * std**2)) for a, b in centres]
    p = sum(terms) / (8 * 2 * math.pi * std**2)
    assert make("8gaussians").log_prob(x).item() == pytest.approx(math.log(p), abs=1e-12)
    assert math.log(p) == pytest.approx(-1.838180, abs=1e-6)


def test_checkerboard_support_is_exact() -> None:
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-4.0, -4.0], [3.9999, 2.0], [4.0, 2.0], [0.0, -0.0]])
    expected = [-math.log(32), -math.inf, -math.log(32), -math.log(32), -math.inf, -math.log(32)]
    assert make("checkerboard").log_prob(x).tolist() == expected


# Independent references by adaptive quadrature (scipy.integrate.quad) of the integrals in the docstring.
def _quad(f: Callable[[float], float], a: float, b: float) -> float:
    return integrate.quad(f, a, b, limit=2000, epsabs=0, epsrel=1e-8)[0]


def _normal_2d(x: list[float], mx: float, my: float, std: float) -> float:
    return math.exp(-((x[0] - mx) ** 2 + (x[1] - my) ** 2) / (2 * std**2)) / (2 * math.pi * std**2)


def _moons(x: list[float]) -> float:
    outer = _quad(lambda t: _normal_2d(x, math.cos(t), math.sin(t), 0.05), 0, math.pi)
    inner = _quad(lambda t: _normal_2d(x, 1 - math.cos(t), 0.5 - math.sin(t), 0.05), 0, math.pi)
    return (outer + inner) / (2 * math.pi)


def _swissroll(x: list[float]) -> float:
    def integrand(t: float) -> float:
        return _normal_2d(x, t * math.cos(t) / 5, t * math.sin(t) / 5, 0.2)

    return _quad(integrand, 1.5 * math.pi, 4.5 * math.pi) / (3 * math.pi)


def _2spirals(x: list[float]) -> float:
    def box(u: float) -> float:  # U[0, 1/6) + N(0, 0.1^2)
        return (norm.cdf(u / 0.1) - norm.cdf((u - 1 / 6) / 0.1)) * 6

    def arm(y: list[float]) -> float:
        def integrand(v: float) -> float:
            a = (-v * math.cos(v) / 3, v * math.sin(v) / 3)
            return 2 * v / (3 * math.pi) ** 2 * box(y[0] - a[0]) * box(y[1] - a[1])

        return _quad(integrand, 0, 3 * math.pi)

    return (arm(x) + arm([-x[0], -x[1]])) / 2


CURVES = [("moons", _moons), ("swissroll", _swissroll), ("2spirals", _2spirals)]


@pytest.mark.parametrize(("name", "density"), CURVES)
def test_curve_quadrature_matches_adaptive_quadrature(name: str, density: Callable[..., float]) -> None:
    toy = make(name)
    x = torch.cat([toy.split("test")[:4].double(), torch.tensor([[0.3, 0.2], [1.0, -0.5], [2.0, 1.5]])])
    expected = torch.tensor([math.log(density(point.tolist())) for point in x], dtype=torch.float64)
    torch.testing.assert_close(toy.log_prob(x), expected, rtol=0, atol=1e-6)


def test_pinwheel_density_matches_the_change_of_variables_of_its_generator() -> None:
    """p(x) >= p(r, s) / |det dx/d(r, s)| / 5 for the latent (k, r, s) that made x, with equality
    unless other preimages contribute; the Jacobian here is autograd's, of FFJORD's einsum form."""
    g = torch.Generator().manual_seed(11)
    arms = torch.randint(5, (300,), generator=g).double()
    std = torch.tensor([0.3, 0.1], dtype=torch.float64)
    latents = torch.randn(300, 2, generator=g, dtype=torch.float64) * std
    latents[:, 0] += 1  # (r, s) ~ N((1, 0), diag(0.3^2, 0.1^2)), in float64 throughout

    def generate(k: Tensor, latent: Tensor) -> Tensor:  # x_j = 2 sum_i f_i R_ij, R = [[c, -s], [s, c]]
        t = 2 * math.pi * k / 5 + 0.25 * torch.exp(latent[0])
        rotation = torch.stack([torch.cos(t), -torch.sin(t), torch.sin(t), torch.cos(t)]).reshape(2, 2)
        return 2 * torch.einsum("i,ij->j", latent, rotation)

    x = torch.stack([generate(k, z) for k, z in zip(arms, latents, strict=True)])
    log_det = torch.stack(
        [
            torch.linalg.slogdet(
                torch.autograd.functional.jacobian(lambda z, k=k: generate(k, z), z)
            ).logabsdet
            for k, z in zip(arms, latents, strict=True)
        ]
    )
    r, s = latents.unbind(1)
    log_latent = -((r - 1) ** 2) / (2 * 0.3**2) - s**2 / (2 * 0.1**2) - math.log(2 * math.pi * 0.3 * 0.1)
    excess = make("pinwheel").log_prob(x) - (log_latent - log_det - math.log(5))
    assert excess.min() > -1e-9
    assert excess.median() < 1e-6


def test_float32_splits_are_rounded_down_into_half_open_supports() -> None:
    """A float64 sample just below a square's upper edge must not round up onto the next square."""
    x = torch.tensor([4 - 1e-9, 2 - 1e-9, -2.0, 0.1], dtype=torch.float64)
    y = toy_module._to_float32_floor(x)
    assert y.dtype == torch.float32 and (y.double() <= x).all() and (y.double() > x - 1e-6).all()
    assert y[0] < 4 and y[1] < 2 and y[2] == -2
