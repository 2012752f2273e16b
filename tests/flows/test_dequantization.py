"""Variational dequantisation: q(u | k) is a density on the unit cell, and the bound it gives sits
between uniform dequantisation and the exact discrete log-likelihood."""

from __future__ import annotations

import math

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model
from dgm.data.transforms import Identity
from dgm.errors import DgmError, NoDensityError
from dgm.flows.dequantization import VariationalDequantizer, VariationallyDequantized
from dgm.models import DiagonalGaussian
from dgm.testing import check_bijection

LEVELS = 4


def _perturb(module: torch.nn.Module, scale: float, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.mark.parametrize("shape", [(2,), (3,), (1, 4, 4), (2, 2, 4)])
def test_dequantizer_flow_is_a_bijection_with_the_data_as_context(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    q = VariationalDequantizer(shape, LEVELS, transforms=3, hidden=8).double()
    _perturb(q, 0.3)
    k = torch.randint(LEVELS, (4, *shape)).double()
    check_bijection(q.flow, torch.randn(4, *shape, dtype=torch.float64), q.context(k))


def test_q_is_a_density_on_the_unit_cell() -> None:
    """∫_{(0,1)²} q(u | k) du = 1 (midpoint rule), for a perturbed q and two cells k."""
    torch.manual_seed(0)
    q = VariationalDequantizer((2,), LEVELS, transforms=2, hidden=8).double()
    _perturb(q, 0.2)
    n = 600
    t = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    u = torch.cartesian_prod(t, t)
    for cell in ([0.0, 3.0], [2.0, 1.0]):
        k = torch.tensor(cell, dtype=torch.float64).expand(len(u), 2)
        with torch.no_grad():
            mass = q.log_prob(u, k).exp().mean().item()
        assert mass == pytest.approx(1.0, abs=2e-3)


def test_sampled_log_q_matches_the_density() -> None:
    torch.manual_seed(1)
    q = VariationalDequantizer((1, 4, 4), LEVELS, transforms=2, hidden=8).double()
    _perturb(q, 0.1)
    k = torch.randint(LEVELS, (5, 1, 4, 4)).double()
    u, log_q = q.sample(k)
    assert ((u > 0) & (u < 1)).all()
    torch.testing.assert_close(log_q, q.log_prob(u, k), rtol=0, atol=1e-9)


def _gaussian_on_cells() -> tuple[VariationallyDequantized, torch.Tensor]:
    """A diagonal Gaussian on [0, 1)², variationally dequantised on a 4×4 grid of cells, and
    log(P(k) L^D) exactly: P(k) = Π_i [Φ((k_i + 1)/L) − Φ(k_i/L)] (mass outside the box is lost)."""
    p = DiagonalGaussian((2,)).double()
    mean, std = torch.tensor([0.4, 0.6]), torch.tensor([0.3, 0.2])
    p._set(mean.double(), torch.diag(std**2).double())
    model = VariationallyDequantized(p, Identity(), VariationalDequantizer((2,), LEVELS, hidden=16)).double()
    cells = torch.cartesian_prod(torch.arange(4.0), torch.arange(4.0)).double()
    normal = torch.distributions.Normal(mean.double(), std.double())
    mass = normal.cdf((cells + 1) / LEVELS) - normal.cdf(cells / LEVELS)
    return model, mass.log().sum(1) + 2 * math.log(LEVELS)


def _bounds(model: VariationallyDequantized, cells: torch.Tensor, n: int = 2000) -> tuple[torch.Tensor, ...]:
    """Mean and standard error of the variational estimate, and the uniform bound E_u[log p], per cell."""
    k = cells.repeat_interleave(n, 0)
    with torch.no_grad():
        est = model.elbo(k / (LEVELS - 1)).reshape(len(cells), n)
        uniform = model.model.log_prob((k + torch.rand_like(k)) / LEVELS).reshape(len(cells), n)
    return est.mean(1), est.std(1) / math.sqrt(n), uniform.mean(1)


def test_bounds_are_ordered_uniform_below_variational_below_exact() -> None:
    """E_u[log p] ≤ ELBO(q) ≤ log(P(k) L^D): at initialisation the ELBO may be below the uniform
    bound, never above the exact value; after fitting q alone it beats uniform and nearly closes the gap."""
    torch.manual_seed(0)
    model, exact = _gaussian_on_cells()
    cells = torch.cartesian_prod(torch.arange(4.0), torch.arange(4.0)).double()
    est, se, uniform = _bounds(model, cells)
    assert (uniform <= exact + 1e-3).all()
    assert (est <= exact + 4 * se).all()
    opt = torch.optim.Adam(model.dequantizer.parameters(), lr=1e-2)
    for _ in range(200):
        k = cells[torch.randint(len(cells), (256,))]
        loss = -model.elbo(k / (LEVELS - 1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    est, se, uniform = _bounds(model, cells)
    assert (est <= exact + 4 * se).all()
    gap_variational, gap_uniform = (exact - est).mean().item(), (exact - uniform).mean().item()
    assert gap_variational < 0.25 * gap_uniform, (gap_variational, gap_uniform)


def test_elbo_takes_the_discrete_data() -> None:
    """elbo(x) reads the level k = round(x (L−1)): rounding noise in x changes nothing."""
    torch.manual_seed(0)
    model, _ = _gaussian_on_cells()
    assert model.discrete
    k = torch.cartesian_prod(torch.arange(4.0), torch.arange(4.0)).double()
    noise = (torch.rand_like(k) - 0.5) * 0.9
    with torch.random.fork_rng():
        a = model.elbo(k / (LEVELS - 1))
    b = model.elbo((k + noise) / (LEVELS - 1))
    torch.testing.assert_close(a, b)


def test_build_model_wraps_and_trains_the_dequantizer() -> None:
    model = build_model(
        "glow", (1, 8, 8), "logit", {"hidden": 8, "steps": 1}, dequantize="variational", levels=17
    )
    assert isinstance(model, VariationallyDequantized)
    x = torch.randint(17, (3, 1, 8, 8)) / 16.0
    model.elbo(x).sum().backward()
    grads = [p.grad for p in model.dequantizer.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    with pytest.raises(DgmError, match="variationally.*even"):
        build_model("diag-gaussian", (1, 5, 5), "logit", dequantize="variational", levels=17)
    with pytest.raises(DgmError, match="variationally.*levels"):
        build_model("diag-gaussian", (1, 4, 4), "logit", dequantize="variational", levels=None)


def test_density_is_a_bound_and_importance_sampling_tightens_it() -> None:
    """ELBO ≤ IWAE_K ≤ log(P(k) L^D) in expectation, IWAE_K increasing in K; log_prob refuses."""
    torch.manual_seed(0)
    model, exact = _gaussian_on_cells()
    assert model.density == "bound" and not model.has_density
    with pytest.raises(NoDensityError, match="bound"):
        model.log_prob(torch.zeros(1, 2, dtype=torch.float64))
    cells = torch.cartesian_prod(torch.arange(4.0), torch.arange(4.0)).double()
    x = cells.repeat_interleave(200, 0) / (LEVELS - 1)
    with torch.no_grad():
        elbo = model.elbo(x).mean().item()
        iw = [model.log_prob_importance(x, k=k).mean().item() for k in (1, 8, 64)]
    assert iw[0] == pytest.approx(elbo, abs=0.05)
    assert elbo < iw[1] < iw[2] <= exact.mean().item() + 0.01, (elbo, iw, exact.mean().item())
