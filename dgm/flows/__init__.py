"""Finite normalizing flows: bijections with tractable log-determinants, and the flow models.

Layers follow the contract y, ladj = f(x, c). `dgm.flows.flow.Flow` turns a bijection (data →
latent) and a standard normal base into a density model, and `dgm.flows.recipes` registers
RealNVP, NICE, MAF and NSF in `dgm.registry.MODELS`. (This package imports only the layers, so
that `dgm.models` can use the bijection contract without a cycle.)
"""

from dgm.flows.autoregressive import MaskedAutoregressive
from dgm.flows.base import Bijection, Compose, Inverse
from dgm.flows.coupling import Coupling
from dgm.flows.elementwise import Additive, Affine, Elementwise
from dgm.flows.linear import InvertibleLinear, Permutation
from dgm.flows.normalization import ActNorm, BatchNorm
from dgm.flows.splines import RQSpline, rational_quadratic_spline

__all__ = [
    "ActNorm",
    "Additive",
    "Affine",
    "BatchNorm",
    "Bijection",
    "Compose",
    "Coupling",
    "Elementwise",
    "Inverse",
    "InvertibleLinear",
    "MaskedAutoregressive",
    "Permutation",
    "RQSpline",
    "rational_quadratic_spline",
]
