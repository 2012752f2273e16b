"""Build a model from its name, data shape and keyword arguments, checked against its signature.

This module sits above the model families (it imports the catalogue that registers them), so
that `dgm.models`, `dgm.flows` and `dgm.gan` never import one another in a circle.
"""

from __future__ import annotations

import inspect
from typing import Any

import dgm.catalog  # noqa: F401  (registers every model)
from dgm.data.transforms import make_preprocessing
from dgm.errors import DgmError
from dgm.models.base import Preprocessed
from dgm.registry import MODELS


def model_arguments(name: str) -> dict[str, Any]:
    """Return the keyword-only constructor arguments of a registered model and their defaults."""
    sig = inspect.signature(MODELS.get(name).__init__)
    return {p.name: p.default for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _coerce(model: str, key: str, value: Any, default: Any) -> Any:
    """Convert a model argument read from YAML/--set to the type of its default ("1e-3" -> 0.001)."""
    kind = type(default)
    try:
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind in (int, float):
            number = kind(value) if not isinstance(value, bool) else None
            if number is None or (kind is int and number != float(value)):
                raise ValueError
            return number
        if kind is tuple:
            return tuple(_coerce(model, key, v, default[0]) for v in value) if default else tuple(value)
        if kind is str:
            if not isinstance(value, str):
                raise ValueError
            return value
    except (TypeError, ValueError):
        raise DgmError(
            f"model_args.{key} of {model!r} must be a {kind.__name__} like {default!r}, got {value!r}"
        ) from None
    return value


def checked_arguments(name: str, model_args: dict[str, Any]) -> dict[str, Any]:
    """The given model arguments, checked against the model's signature and converted to its types."""
    known = model_arguments(name)
    unknown = sorted(set(model_args) - set(known))
    if unknown:
        raise DgmError(
            f"model {name!r} has no argument {unknown[0]!r} (its arguments: {', '.join(known) or 'none'})"
        )
    return {k: _coerce(name, k, v, known[k]) for k, v in model_args.items()}


def resolved_arguments(name: str, model_args: dict[str, Any]) -> dict[str, Any]:
    """Every argument of the model, defaults filled in: what a model file records, so that it
    rebuilds the same architecture after a default changes."""
    return {**model_arguments(name), **checked_arguments(name, model_args)}


def build_model(
    name: str,
    event_shape: tuple[int, ...],
    preprocess: str,
    model_args: dict[str, Any] | None = None,
    *,
    dequantize: str | None = None,
    levels: int | None = None,
) -> Preprocessed:
    """Return `Preprocessed(MODELS[name](event_shape, **model_args), preprocessing)` (unfitted);
    with dequantize="variational", the variationally dequantised model of data with `levels` values."""
    model_args = dict(model_args or {})
    kind = "points" if len(event_shape) == 1 else "image"
    if kind not in MODELS.get(name).data_kinds:
        what = {"points": "vectors", "image": "images"}
        accepted = " or ".join(what[k] for k in MODELS.get(name).data_kinds)
        raise DgmError(
            f"model {name!r} models {accepted}; the data are {what[kind]} of shape {tuple(event_shape)}"
        )
    model_args = checked_arguments(name, model_args)
    try:
        model = MODELS.get(name)(tuple(event_shape), **model_args)
    except (TypeError, ValueError) as e:
        raise DgmError(f"cannot build model {name!r}: {e}") from None
    transform = make_preprocessing(preprocess, tuple(event_shape))
    if dequantize != "variational":
        wrapped = Preprocessed(model, transform)
        wrapped.discrete = dequantize == "none"  # discrete data reach it as they are, no noise
        return wrapped
    from dgm.flows.dequantization import VariationalDequantizer, VariationallyDequantized

    try:
        dequantizer = VariationalDequantizer(tuple(event_shape), int(levels or 0))  # checks levels ≥ 2
    except ValueError as e:
        raise DgmError(f"cannot dequantise variationally: {e}") from None
    return VariationallyDequantized(model, transform, dequantizer)
