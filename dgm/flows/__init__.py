"""Finite normalizing flows: bijections with tractable log-determinants, and the flow models.

Layers follow the contract y, ladj = f(x, c) of `dgm.bijection`. `dgm.flows.flow.Flow` turns a
bijection (data → latent) and a standard normal base into a density model, and
`dgm.flows.recipes` registers RealNVP, NICE, MAF, NSF and Glow in `dgm.registry.MODELS`.
"""

from dgm.flows.autoregressive import MaskedAutoregressive
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
    "Coupling",
    "Elementwise",
    "InvertibleLinear",
    "MaskedAutoregressive",
    "Permutation",
    "RQSpline",
    "rational_quadratic_spline",
]
