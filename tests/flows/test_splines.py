"""Rational-quadratic splines: inverse, log-derivative, identity, monotonicity, continuity, NaN safety."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dgm.errors import DgmError
from dgm.flows.splines import MIN_BIN_SIZE, MIN_DERIVATIVE, RQSpline, rational_quadratic_spline

K, BOUND = 8, 5.0


def random_params(n: int, scale: float, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    """Unnormalised (widths, heights, derivatives) for n splines; a large scale gives uneven bins."""
    return (
        torch.randn(n, K, dtype=dtype) * scale,
        torch.randn(n, K, dtype=dtype) * scale,
        torch.randn(n, K - 1, dtype=dtype) * scale,
    )


def x_knots(widths: torch.Tensor) -> torch.Tensor:
    """Knot positions (n, K+1) recomputed from the documented normalisation, ends pinned to ∓B."""
    sizes = MIN_BIN_SIZE + (1 - MIN_BIN_SIZE * K) * torch.softmax(widths, -1)
    inner = 2 * BOUND * sizes[:, :-1].cumsum(-1) - BOUND
    return F.pad(F.pad(inner, (1, 0), value=-BOUND), (0, 1), value=BOUND)


def test_inverse_round_trip_everywhere() -> None:
    n = 400
    w, h, d = random_params(n, 2.0)
    u = torch.rand(n, dtype=torch.float64)
    inside = (2 * u - 1) * BOUND
    knots = x_knots(w)[torch.arange(n), torch.randint(0, K + 1, (n,))]
    edges = torch.tensor([BOUND, -BOUND], dtype=torch.float64).repeat(n // 2)
    tails = torch.sign(u - 0.5) * (BOUND + 45 * u)  # 5 < |x| ≤ 50
    for x in (inside, knots, edges, tails):
        y, ladj = rational_quadratic_spline(x, w, h, d, bound=BOUND)
        x_back, ladj_inv = rational_quadratic_spline(y, w, h, d, inverse=True, bound=BOUND)
        err = ((x_back - x).abs().max() / x.abs().max()).item()
        assert err < 1e-10, f"relative round-trip error {err:.3g}"
        assert torch.allclose(ladj_inv, -ladj, atol=1e-8, rtol=0)


def test_inverse_is_accurate_up_to_conditioning_for_very_uneven_bins() -> None:
    """With θ ~ 3·N(0, 1) slopes reach 1e-7, so x = g⁻¹(y) can only be as accurate as ε·B/g'(x).

    The bound (20 ε·B/g') fails for the textbook root 2c / (−b − √(b² − 4ac)) alone, which cancels
    when b < 0 (near the right end of a bin).
    """
    n = 4000
    w, h, d = random_params(n, 3.0)
    x = (2 * torch.rand(n, dtype=torch.float64) - 1) * BOUND
    y, ladj = rational_quadratic_spline(x, w, h, d)
    x_back, _ = rational_quadratic_spline(y, w, h, d, inverse=True)
    eps = torch.finfo(torch.float64).eps
    assert ((x_back - x).abs() <= 20 * eps * BOUND / ladj.exp()).all()
    y_back, _ = rational_quadratic_spline(x_back, w, h, d)
    assert (y_back - y).abs().max() < 1e-12


@pytest.mark.parametrize("inverse", [False, True])
def test_log_derivative_matches_autograd(inverse: bool) -> None:
    n = 1000
    w, h, d = random_params(n, 3.0)
    x = torch.cat(
        [torch.linspace(-6, 6, n - 4, dtype=torch.float64), torch.tensor([-BOUND, BOUND, -20, 20.0])]
    )
    x.requires_grad_(True)
    y, ladj = rational_quadratic_spline(x, w, h, d, inverse=inverse)
    (dy_dx,) = torch.autograd.grad(y.sum(), x)
    assert (ladj - dy_dx.log()).abs().max() < 1e-8


def test_zero_parameters_give_the_identity() -> None:
    for dtype, tol in ((torch.float64, 1e-14), (torch.float32, 1e-6)):
        x = torch.linspace(-8, 8, 1001, dtype=dtype)
        zeros = torch.zeros(1001, K, dtype=dtype)
        for inverse in (False, True):
            y, ladj = rational_quadratic_spline(x, zeros, zeros, zeros[:, 1:], inverse=inverse)
            assert (y - x).abs().max() < tol * BOUND and ladj.abs().max() < tol


def test_monotone_and_maps_the_interval_onto_itself() -> None:
    w, h, d = random_params(20, 3.0)
    x = torch.linspace(-6, 6, 20001, dtype=torch.float64)
    y, _ = rational_quadratic_spline(x[:, None], w, h, d)  # (20001, 20)
    assert (y.diff(dim=0) > 0).all()
    ends = torch.tensor([[-BOUND], [BOUND]], dtype=torch.float64)
    y_ends, ladj_ends = rational_quadratic_spline(ends, w, h, d)
    assert torch.allclose(y_ends, ends.expand(2, 20), atol=1e-12, rtol=0)
    assert ladj_ends.abs().max() < 1e-12  # δ = 1 at ±B: the tails join smoothly


def test_value_and_derivative_are_continuous_at_every_knot() -> None:
    w, h, d = random_params(50, 3.0)
    knots = x_knots(w)  # (50, K+1), including ±B where the tails join
    params = (w[:, None], h[:, None], d[:, None])
    # ±1e-14 (ten ulps or more) puts the points in the bins on either side of the knot; log g' can vary
    # by 1e7 per unit x for such uneven bins, so a larger step would not measure a limit.
    y_left, ladj_left = rational_quadratic_spline(knots - 1e-14, *params)
    y_right, ladj_right = rational_quadratic_spline(knots + 1e-14, *params)
    assert (y_right - y_left).abs().max() < 1e-6
    assert (ladj_right - ladj_left).abs().max() < 1e-6
    # and g'(x_k) = δ_k: the softplus normalisation of the interior derivatives
    _, ladj = rational_quadratic_spline(knots[:, 1:-1], w[:, None], h[:, None], d[:, None])
    shift = torch.log(torch.expm1(torch.tensor(1 - MIN_DERIVATIVE, dtype=torch.float64)))
    delta = MIN_DERIVATIVE + F.softplus(d + shift)
    assert torch.allclose(ladj, delta.log(), atol=1e-8, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("inverse", [False, True])
def test_gradients_are_finite_in_the_tails_and_at_the_boundary(dtype: torch.dtype, inverse: bool) -> None:
    # ±1e30 overflows ξ² in float32 if the spline formula ever sees an out-of-domain value
    far = [-1e30, -50, -BOUND - 1e-3, BOUND + 1e-3, 50, 1e4, 1e30]
    x = torch.tensor([*far, -BOUND, 0.3, BOUND], dtype=dtype)
    params = [p.requires_grad_(True) for p in random_params(x.numel(), 20.0, dtype)]
    x.requires_grad_(True)
    y, ladj = rational_quadratic_spline(x, *params, inverse=inverse)
    grads = torch.autograd.grad((y + ladj).sum(), [x, *params])
    assert torch.isfinite(y).all() and torch.isfinite(ladj).all()
    assert all(torch.isfinite(g).all() for g in grads)
    tails = x.detach().abs() > BOUND
    assert (y[tails] == x[tails]).all() and (ladj[tails] == 0).all()
    assert (grads[0][tails] == 1).all() and all((g[tails] == 0).all() for g in grads[1:])


def test_rqspline_shapes_and_round_trip() -> None:
    g = RQSpline(bins=K, bound=BOUND)
    assert g.params == 3 * K - 1
    x = torch.randn(16, 3, dtype=torch.float64) * 4
    theta = torch.randn(16, 3, g.params, dtype=torch.float64)
    y, ladj = g.forward(x, theta)
    x_back, ladj_inv = g.inverse(y, theta)
    assert y.shape == ladj.shape == x_back.shape == ladj_inv.shape == (16, 3)
    assert torch.allclose(x_back, x, atol=1e-10, rtol=0) and torch.allclose(ladj_inv, -ladj, atol=1e-10)
    assert not torch.allclose(y, x)


def test_bad_configuration_raises() -> None:
    with pytest.raises(DgmError, match="bins"):
        RQSpline(bins=0)
    with pytest.raises(DgmError, match="bound"):
        RQSpline(bound=-1.0)
    with pytest.raises(DgmError, match="K-1 derivatives"):
        x = torch.zeros(4)
        rational_quadratic_spline(x, torch.zeros(4, K), torch.zeros(4, K), torch.zeros(4, K))
