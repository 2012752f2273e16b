"""Every bijection, in every configuration: inverse(forward(x)) = x to 1e-10 (float64) and
log|det J| equal to the autograd Jacobian's to 1e-8, at initialisation and after random
parameter perturbations, with and without a context.

Perturbations have the size of trained weights (0.1 and 0.3 per entry). Much larger ones make
splines so steep (slopes below 1e-7) that a 1e-10 round trip is impossible in float64;
tests/flows/test_splines.py checks that regime against the conditioning bound instead.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from dgm.bijection import Bijection, Compose, Inverse
from dgm.flows.autoregressive import MaskedAutoregressive
from dgm.flows.coupling import Coupling
from dgm.flows.elementwise import Additive, Affine
from dgm.flows.image import MultiScale, Squeeze, level_shapes
from dgm.flows.linear import InvertibleLinear, Permutation
from dgm.flows.normalization import ActNorm, BatchNorm
from dgm.flows.splines import RQSpline
from dgm.testing import check_bijection

C = 3  # context size in the conditional cases
ELEMENTWISE = {"affine": Affine, "additive": Additive, "spline": lambda: RQSpline(bins=5, bound=3.0)}

CASES: dict[str, tuple[Callable[[int], Bijection], tuple[int, ...]]] = {}
for name, make in ELEMENTWISE.items():
    for d in (2, 5):
        for parity in (0, 1):
            CASES[f"coupling-{name}-d{d}-p{parity}"] = (
                lambda ctx, make=make, d=d, parity=parity: Coupling(
                    d, make(), parity=parity, hidden=(16, 16), context_features=ctx
                ),
                (d,),
            )
    if name != "additive":
        CASES[f"autoregressive-{name}"] = (
            lambda ctx, make=make: MaskedAutoregressive(4, make(), hidden=(16, 16), context_features=ctx),
            (4,),
        )
        CASES[f"inverse-autoregressive-{name}"] = (
            lambda ctx, make=make: Inverse(
                MaskedAutoregressive(4, make(), hidden=(16, 16), context_features=ctx)
            ),
            (4,),
        )
CASES.update(
    {
        "permutation-reverse": (lambda ctx: Permutation(5, "reverse"), (5,)),
        "permutation-random": (lambda ctx: Permutation(5, "random", seed=3), (5,)),
        "linear-vector": (lambda ctx: InvertibleLinear((5,)), (5,)),
        "linear-image": (lambda ctx: InvertibleLinear((3, 2, 2)), (3, 2, 2)),
        "actnorm-vector": (lambda ctx: ActNorm((4,)), (4,)),
        "actnorm-image": (lambda ctx: ActNorm((3, 2, 2)), (3, 2, 2)),
        "batchnorm-vector": (lambda ctx: BatchNorm((4,)), (4,)),
        "batchnorm-image": (lambda ctx: BatchNorm((2, 2, 2)), (2, 2, 2)),
        "squeeze": (lambda ctx: Squeeze(), (2, 4, 2)),
        "coupling-image-affine": (
            lambda ctx: Coupling((3, 2, 2), Affine(), parity=1, hidden=(8,), context_features=ctx),
            (3, 2, 2),
        ),
        "coupling-image-spline": (
            lambda ctx: Coupling((2, 2, 2), RQSpline(4, 3.0), hidden=(8,), context_features=ctx),
            (2, 2, 2),
        ),
        "multiscale": (
            lambda ctx: MultiScale(
                (1, 4, 4),
                [
                    Compose(
                        ActNorm(s),
                        InvertibleLinear(s),
                        Coupling(s, Affine(), hidden=(8,), context_features=ctx),
                    )
                    for s in level_shapes((1, 4, 4), 2)
                ],
            ),
            (1, 4, 4),
        ),
        "compose": (
            lambda ctx: Compose(
                ActNorm((4,)),
                Coupling(4, Affine(), hidden=(8,), context_features=ctx),
                InvertibleLinear((4,)),
                MaskedAutoregressive(4, RQSpline(4, 3.0), hidden=(8,), context_features=ctx),
            ),
            (4,),
        ),
    }
)
CONDITIONAL = {
    k for k in CASES if k.startswith(("coupling", "autoregressive", "inverse", "compose", "multiscale"))
}


def _build(name: str, ctx: int) -> tuple[Bijection, torch.Tensor, torch.Tensor | None]:
    make, shape = CASES[name]
    f = make(ctx).double()
    x = torch.randn(6, *shape, dtype=torch.float64) * 1.5
    c = torch.randn(6, ctx, dtype=torch.float64) if ctx else None
    f.train()
    with torch.no_grad():  # data-dependent init and batch-norm running statistics
        for _ in range(3):
            f(
                torch.randn(64, *shape, dtype=torch.float64) * 2 + 1,
                None if c is None else c.repeat(11, 1)[:64],
            )
    return f.eval(), x, c


def _perturb(f: Bijection, scale: float) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in f.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.mark.parametrize("name", sorted(CASES))
def test_bijection_at_initialisation(name: str) -> None:
    f, x, _ = _build(name, 0)
    check_bijection(f, x)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("scale", [0.1, 0.3])
def test_bijection_after_perturbation(name: str, scale: float) -> None:
    f, x, _ = _build(name, 0)
    _perturb(f, scale)
    check_bijection(f, x)


@pytest.mark.parametrize("name", sorted(CONDITIONAL))
def test_conditional_bijection(name: str) -> None:
    f, x, c = _build(name, C)
    _perturb(f, 0.3)
    check_bijection(f, x, c)
    # The context must matter once the conditioner is not zero.
    assert not torch.allclose(f(x, c)[0], f(x, c + 1.0)[0])


def test_autoregressive_jacobian_is_triangular() -> None:
    f = MaskedAutoregressive(4, Affine(), hidden=(16, 16)).double()
    _perturb(f, 0.5)
    x = torch.randn(4, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: f(v[None])[0][0], x)
    assert torch.allclose(jac.triu(1), torch.zeros_like(jac))


def test_coupling_counts_only_the_transformed_coordinates() -> None:
    """Regression test for the seed code's RealNVP: the log-det must not sum the identity half."""
    f = Coupling(2, Affine(), hidden=(8,)).double()
    _perturb(f, 1.0)
    x = torch.randn(5, 2, dtype=torch.float64)
    y, ladj = f(x)
    assert torch.equal(y[:, 0], x[:, 0])
    dy = torch.autograd.functional.jacobian(lambda v: f(v[None])[0][0], x[0])
    assert torch.allclose(ladj[0], dy[1, 1].abs().log())
