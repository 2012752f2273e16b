"""Build a model (or an objective) from its name and keyword arguments, checked against its signature.

This module sits above the model families (it imports the catalogue that registers them), so
that `dgm.models`, `dgm.flows` and `dgm.gan` never import one another in a circle.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any

import dgm.catalog  # noqa: F401  (registers every model)
from dgm.config import RunConfig
from dgm.data.transforms import make_preprocessing
from dgm.errors import DgmError
from dgm.models.base import Preprocessed
from dgm.objectives.base import Objective
from dgm.registry import MODELS, OBJECTIVES, Registry


def model_arguments(name: str, registry: Registry[Any] = MODELS) -> dict[str, Any]:
    """Return the keyword-only constructor arguments of a registered model (or objective) and their
    defaults."""
    sig = inspect.signature(registry.get(name).__init__)
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


def _check_meaning(where: str, value: Any, given: Any, may_be_zero: bool) -> None:
    """Numbers in model and objective arguments are sizes, counts, scales and weights: finite and
    positive (≥ 0 for the arguments a component lists in `may_be_zero`, such as
    `context_features`), integers at most MAX_SIZE. Messages name `where` and show `given`."""
    for v in value if isinstance(value, tuple) else (value,):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if not math.isfinite(v):
            raise DgmError(f"{where} must be a finite number, got {given!r}")
        if v < 0 or (v == 0 and not may_be_zero):
            sign = "non-negative" if may_be_zero else "positive"
            raise DgmError(f"{where} must be {sign}, got {given!r}")
        if isinstance(v, int) and v > MAX_SIZE:
            raise DgmError(f"{where} is too large ({v} > {MAX_SIZE})")


def checked_arguments(name: str, given: dict[str, Any], registry: Registry[Any] = MODELS) -> dict[str, Any]:
    """The given arguments of a registered model (or objective), checked against its signature,
    converted to its types and checked for their meaning."""
    known = model_arguments(name, registry)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise DgmError(
            f"{registry.kind} {name!r} has no argument {unknown[0]!r} "
            f"(its arguments: {', '.join(known) or 'none'})"
        )
    checked = {}
    for key, value in given.items():
        where = f"{registry.kind}_args.{key} of {name!r}"
        try:
            checked[key] = _convert(value, known[key])
        except (TypeError, ValueError, OverflowError):
            raise DgmError(f"{where} must be {_kind(known[key])}, got {value!r}") from None
        _check_meaning(where, checked[key], value, key in registry.get(name).may_be_zero)
    return checked


def resolved_arguments(name: str, given: dict[str, Any], registry: Registry[Any] = MODELS) -> dict[str, Any]:
    """Every argument of the model (or objective), defaults filled in: what a model file records,
    so that it rebuilds the same architecture after a default changes."""
    return {**model_arguments(name, registry), **checked_arguments(name, given, registry)}


def build_objective(name: str, given: dict[str, Any]) -> Objective:
    """The registered objective `name` with its keyword arguments, checked."""
    args = checked_arguments(name, given, OBJECTIVES)
    try:
        return OBJECTIVES.get(name)(**args)
    except ValueError as e:
        raise DgmError(f"cannot build objective {name!r}: {e}") from None


def route_arguments(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings with each key that is no config key moved to the arguments of the objective or the
    model that accepts it: `--set coupling=ot` is `--set objective_args.coupling=ot`. A key both
    accept, or one also given under its full name with another value, is an error."""
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    loose = [k for k in settings if k not in fields]
    if not loose or "model" not in settings:
        return settings
    settings = dict(settings)
    model = MODELS.get(settings["model"])
    objective = settings.get("objective") or model.default_objective
    OBJECTIVES.get(objective)  # an unknown objective is named as such, not as unknown keys
    takers = {
        "objective_args": model_arguments(objective, OBJECTIVES),
        "model_args": model_arguments(settings["model"]),
    }
    for key in loose:
        targets = [target for target, accepted in takers.items() if key in accepted]
        if len(targets) > 1:
            raise DgmError(
                f"{key!r} is an argument of both the objective and the model: "
                f"set objective_args.{key} or model_args.{key}"
            )
        if not targets:
            continue  # RunConfig.from_dict names it as an unknown key
        given = settings.get(targets[0], {})
        value = settings.pop(key)
        if key in given and given[key] != value:
            raise DgmError(f"{key} is given twice: as {key}={value!r} and {targets[0]}.{key}={given[key]!r}")
        settings[targets[0]] = {**given, key: value}
    return settings


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
    try:
        model.check_pipeline(preprocess, dequantize or "none", levels)
    except ValueError as e:
        raise DgmError(f"model {name!r}: {e}") from None
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
