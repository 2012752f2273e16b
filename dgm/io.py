"""Model files: `model.safetensors` (weights) + `config.json` (everything needed to rebuild).

Nothing is ever unpickled: weights are read with safetensors and the config with `json`, so a
hostile file can at worst fail to load. Both files are written atomically.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from dgm.errors import DgmError
from dgm.models.base import Preprocessed
from dgm.utils import atomic_path, write_json

WEIGHTS, CONFIG = "model.safetensors", "config.json"
MAX_DIM = 10**8  # no real data sample has more dimensions; a larger event_shape is a tampered file


def save_model(
    run_dir: str | Path, model: Preprocessed | dict[str, torch.Tensor], config: dict[str, Any]
) -> None:
    """Write the model's weights (a model or its state dict) and config into run_dir (atomically,
    weights first)."""
    from safetensors.torch import save_file

    import dgm

    run_dir = Path(run_dir)
    weights = model if isinstance(model, dict) else model.state_dict()
    state = {k: v.detach().cpu().contiguous().clone() for k, v in weights.items()}
    with atomic_path(run_dir / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "dgm_version": dgm.__version__})
    write_json(run_dir / CONFIG, {**config, "dgm_version": dgm.__version__})


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """Read and check a run's config.json."""
    path = _run_dir(run_dir) / CONFIG
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise DgmError(f"{path} is missing: is {path.parent} a dgm run folder?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DgmError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise DgmError(f"{path} does not hold a JSON object")
    for key in ("model", "event_shape", "preprocess"):
        if key not in config:
            raise DgmError(f"{path} lacks the key {key!r}")
    _check_types(path, config)
    return config


def _check_types(path: Path, config: dict[str, Any]) -> None:
    """Refuse a tampered config before anything is built from it."""
    shape = config["event_shape"]
    if not (isinstance(shape, list) and shape and all(type(d) is int and d > 0 for d in shape)):
        raise DgmError(f"{path}: event_shape must be a list of positive integers, got {shape!r}")
    if math.prod(shape) > MAX_DIM:
        raise DgmError(f"{path}: event_shape {shape} has more than {MAX_DIM} dimensions")
    for key in ("model", "preprocess"):
        if not isinstance(config[key], str):
            raise DgmError(f"{path}: {key} must be a string, got {config[key]!r}")
    if config.get("dtype", "float32") not in ("float32", "float64"):
        raise DgmError(f"{path}: dtype must be float32 or float64, got {config.get('dtype')!r}")
    for key in ("model_args", "data", "train"):
        if not isinstance(config.get(key, {}), dict):
            raise DgmError(f"{path}: {key} must be a JSON object, got {config[key]!r}")


def load(path: str | Path, *, device: str | torch.device = "cpu") -> Preprocessed:
    """Load a trained model from a run folder (or its model.safetensors), without unpickling.

    Example:
        >>> model = dgm.load("runs/g")  # doctest: +SKIP
        >>> model.log_prob(x)           # log p(x) in the data's units, shape (B,)  # doctest: +SKIP
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from dgm.build import build_model

    run_dir = _run_dir(path)
    config = read_config(run_dir)
    model = build_model(
        config["model"],
        tuple(config["event_shape"]),
        config["preprocess"],
        config.get("model_args"),
        dequantize=config.get("dequantize"),
        levels=config.get("data", {}).get("levels"),
    )
    weights = run_dir / WEIGHTS
    try:
        state = load_file(str(weights))
    except FileNotFoundError:
        raise DgmError(f"{weights} is missing") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise DgmError(f"{weights} is not a valid safetensors file ({str(e).splitlines()[0]})") from None
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        problems = [
            f"{what}: {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        ]
        raise DgmError(f"{weights} does not match the model in {CONFIG} ({'; '.join(problems)})")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise DgmError(
            f"{weights} holds NaN or infinite values (in {bad[0]}): the run diverged or the file is corrupt"
        )
    model.load_state_dict(state, strict=True)
    return model.to(device=device, dtype=getattr(torch, config.get("dtype", "float32"))).eval()


def _run_dir(path: str | Path) -> Path:
    path = Path(path)
    if path.is_file() and path.name in (WEIGHTS, CONFIG):
        return path.parent
    if not path.exists():
        raise DgmError(f"run {path} does not exist")
    if not path.is_dir():
        raise DgmError(f"{path} is neither a run folder nor its {WEIGHTS}")
    return path
