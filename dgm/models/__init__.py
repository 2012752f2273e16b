"""Generative models: the shared contract and the baseline Gaussians (`dgm.build` builds any
registered model by name)."""

from dgm.models.base import GenerativeModel, Preprocessed
from dgm.models.gaussian import DiagonalGaussian, Gaussian

__all__ = ["DiagonalGaussian", "GenerativeModel", "Gaussian", "Preprocessed"]
