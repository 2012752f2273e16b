"""Build a model from its name, data shape and keyword arguments, checked against its signature.

This module sits above the model families (it imports the catalogue that registers them), so
that `dgm.models`, `dgm.flows` and `dgm.gan` never import one another in a circle.
"""

from __future__ import annotations

import inspect
import math
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


#: The largest integer model argument: a size beyond 2³¹ − 1 elements is no real layer.
MAX_SIZE = 2**31 - 1


def _kind(default: Any) -> str:
    """How a value of the default's type is described in a message: "an integer like 128"."""
    if isinstance(default, tuple):
        items = {bool: "true/false values", int: "integers", float: "numbers", str: "strings"}
        return (
            f"a list of {items.get(type(default[0]), 'values') if default else 'values'} like {list(default)}"
        )
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return f"{names.get(type(default), type(default).__name__)} like {default!r}"


def _convert(value: Any, default: Any) -> Any:
    """Convert one value read from YAML/--set to the type of its default ("1e-3" -> 0.001); ValueError
    if it has another type."""
    kind = type(default)
    if kind is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError
        return tuple(_convert(v, default[0]) for v in value) if default else tuple(value)
    if kind in (int, float):
        if isinstance(value, bool):
            raise ValueError
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError  # 2.5 is no size; 1e3 is 1000
        return kind(value)
    if kind in (bool, str) and not isinstance(value, kind):
        raise ValueError
    return value


def _check_meaning(model: str, key: str, value: Any, given: Any, may_be_zero: bool) -> None:
    """Numbers in model arguments are sizes, counts and scales: finite and positive (≥ 0 for the
    arguments a model lists in `may_be_zero`, such as `context_features`), integers at most MAX_SIZE.
    Messages show the value as `given`."""
    for v in value if isinstance(value, tuple) else (value,):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if not math.isfinite(v):
            raise DgmError(f"model_args.{key} of {model!r} must be a finite number, got {given!r}")
        if v < 0 or (v == 0 and not may_be_zero):
            sign = "non-negative" if may_be_zero else "positive"
            raise DgmError(f"model_args.{key} of {model!r} must be {sign}, got {given!r}")
        if isinstance(v, int) and v > MAX_SIZE:
            raise DgmError(f"model_args.{key} of {model!r} is too large ({v} > {MAX_SIZE})")


def _coerce(model: str, key: str, value: Any, default: Any) -> Any:
    """The model argument `key` converted to the type of its default and checked for its meaning."""
    try:
        converted = _convert(value, default)
    except (TypeError, ValueError, OverflowError):
        raise DgmError(f"model_args.{key} of {model!r} must be {_kind(default)}, got {value!r}") from None
    _check_meaning(model, key, converted, value, key in MODELS.get(model).may_be_zero)
    return converted


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
    except (TypeError, ValueError, RuntimeError, ArithmeticError, LookupError, StopIteration) as e:
        given = ", ".join(f"{k}={v!r}" for k, v in model_args.items()) or "its default arguments"
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DgmError(f"cannot build model {name!r} with {given}: {reason}") from None
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
