"""Model arguments are checked by their meaning, for every registered model, before anything is built."""

from __future__ import annotations

import math
from typing import Any

import pytest

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import MAX_SIZE, build_model, model_arguments
from dgm.errors import DgmError
from dgm.registry import MODELS
from dgm.testing import example_batch


def _numeric_arguments(name: str) -> dict[str, Any]:
    """The model's int, float and tuple-of-int arguments with their defaults."""
    return {
        k: v
        for k, v in model_arguments(name).items()
        if type(v) in (int, float) or (isinstance(v, tuple) and v and type(v[0]) is int)
    }


def _as_given(default: Any, number: float) -> Any:
    """`number` where the default is a number, or a list of it where the default is a tuple."""
    return [number] * len(default) if isinstance(default, tuple) else number


def _shape(name: str) -> tuple[int, ...]:
    return tuple(example_batch(name, 2)[1].shape[1:])


@pytest.mark.parametrize("name", MODELS.names())
def test_every_numeric_argument_must_be_finite_and_positive(name: str) -> None:
    assert _numeric_arguments(name) or name in ("gaussian", "diag-gaussian")
    for key, default in _numeric_arguments(name).items():
        zero_ok = key in MODELS.get(name).may_be_zero
        bad = [-3, math.nan, math.inf, -math.inf] + ([] if zero_ok else [0])
        if type(default) is not float:
            bad.append(MAX_SIZE + 1)
        for value in bad:
            with pytest.raises(DgmError, match=rf"^model_args\.{key} of '{name}' ") as e:
                build_model(name, _shape(name), "none", {key: _as_given(default, value)})
            assert len(str(e.value).splitlines()) == 1


def test_arguments_that_may_be_zero_build() -> None:
    assert build_model("gaussian", (2,), "none", {"ridge": 0}).model.ridge == 0
    assert build_model("realnvp", (2,), "none", {"context_features": 0}).context_features == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"hidden": "abc"}, "must be a list of integers like [128, 128], got 'abc'"),
        ({"hidden": 64}, "must be a list of integers like [128, 128], got 64"),
        ({"hidden": [-5]}, "must be positive, got [-5]"),
        ({"transforms": 2.5}, "must be an integer like 8, got 2.5"),
        ({"transforms": 12345678901234567890123}, "is too large"),
        ({"transforms": "12345678901234567890123"}, "is too large"),
        ({"scale_bound": "nan"}, "must be a finite number, got 'nan'"),
        ({"activation": 3}, "must be a string like 'relu', got 3"),
        ({"batch_norm": "yes"}, "must be true or false like False, got 'yes'"),
    ],
)
def test_messages_name_the_expected_kind_and_the_value_given(args: dict[str, Any], message: str) -> None:
    with pytest.raises(DgmError) as e:
        build_model("realnvp", (2,), "none", args)
    assert message in str(e.value), str(e.value)


def test_failed_construction_is_a_one_line_error_naming_the_model_and_arguments() -> None:
    with pytest.raises(DgmError, match=r"cannot build model 'glow' with levels=5: ") as e:
        build_model("glow", (1, 4, 4), "none", {"levels": 5})
    assert len(str(e.value).splitlines()) == 1
