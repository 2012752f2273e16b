"""Small helpers: JSON without NaN."""

from __future__ import annotations

import json
import math

from dgm.utils import valid_json


def test_valid_json_turns_non_finite_numbers_into_null_and_names_them() -> None:
    result = valid_json({"nll": math.nan, "kl": math.inf, "n_test": 3, "energy_distance": 0.5})
    assert result == {
        "nll": None,
        "kl": None,
        "n_test": 3,
        "energy_distance": 0.5,
        "not_finite": ["nll", "kl"],
    }
    json.dumps(result, allow_nan=False)
    assert valid_json({"nll": 1.0}) == {"nll": 1.0}
