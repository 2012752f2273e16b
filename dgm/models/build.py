"""Build a model from its name, data shape and keyword arguments, checked against its signature."""

from __future__ import annotations

import inspect
from typing import Any

from dgm.data.transforms import make_preprocessing
from dgm.errors import DgmError
from dgm.models.base import Preprocessed
from dgm.registry import MODELS


def model_arguments(name: str) -> dict[str, Any]:
    """Return the keyword-only constructor arguments of a registered model and their defaults."""
    sig = inspect.signature(MODELS.get(name).__init__)
    return {p.name: p.default for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def build_model(
    name: str, event_shape: tuple[int, ...], preprocess: str, model_args: dict[str, Any] | None = None
) -> Preprocessed:
    """Return `Preprocessed(MODELS[name](event_shape, **model_args), preprocessing)` (unfitted)."""
    model_args = dict(model_args or {})
    kind = "points" if len(event_shape) == 1 else "image"
    if kind not in MODELS.get(name).data_kinds:
        what = {"points": "vectors", "image": "images"}
        accepted = " or ".join(what[k] for k in MODELS.get(name).data_kinds)
        raise DgmError(
            f"model {name!r} models {accepted}; the data are {what[kind]} of shape {tuple(event_shape)}"
        )
    known = model_arguments(name)
    unknown = sorted(set(model_args) - set(known))
    if unknown:
        raise DgmError(
            f"model {name!r} has no argument {unknown[0]!r} (its arguments: {', '.join(known) or 'none'})"
        )
    try:
        model = MODELS.get(name)(tuple(event_shape), **model_args)
    except (TypeError, ValueError) as e:
        raise DgmError(f"cannot build model {name!r}: {e}") from None
    return Preprocessed(model, make_preprocessing(preprocess, tuple(event_shape)))
