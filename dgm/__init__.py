"""dgm: deep generative modeling — normalizing flows, continuous flows, VAEs and GANs in one framework.

A generator g maps a latent distribution p_Z to data space; the families differ in how the
distance between model and data is measured. Symbols used throughout:

    x      data sample, shape (B, *event_shape)
    z      latent sample
    c      context (e.g. a class label)
    t      time (continuous flows)
    K      number of importance samples
    ladj   log|det ∂y/∂x|, the log-absolute-determinant of a bijection's Jacobian, shape (B,)
    nll    negative log-likelihood in nats per sample, in the data's own units

Importing dgm is light: Lightning is imported only by training (dgm.train).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from dgm.models.base import Preprocessed

__all__ = ["__version__", "fit", "load"]


def fit(model: str, data: Any, **kwargs: Any) -> Preprocessed:
    """Train a registered model and return it: see `dgm.api.fit`."""
    from dgm.api import fit as _fit

    return _fit(model, data, **kwargs)


def load(path: Any, *, device: str = "cpu") -> Preprocessed:
    """Load a trained model from a run folder: see `dgm.io.load`."""
    from dgm.io import load as _load

    return _load(path, device=device)
