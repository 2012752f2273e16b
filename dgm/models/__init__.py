"""Generative models: the shared contract and the baseline Gaussians (flows, VAEs, GANs join here)."""

from dgm.models.base import GenerativeModel, Preprocessed
from dgm.models.build import build_model
from dgm.models.gaussian import DiagonalGaussian, Gaussian

__all__ = ["DiagonalGaussian", "Gaussian", "GenerativeModel", "Preprocessed", "build_model"]
