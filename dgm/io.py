"""Model files: `model.safetensors` (weights) + `config.json` (everything needed to rebuild).

Nothing is ever unpickled: weights are read with safetensors and the config with `json`, so a
hostile file can at worst fail to load. Both files are written atomically.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from dgm.errors import DgmError
from dgm.models.base import Preprocessed
from dgm.utils import atomic_path, write_json

WEIGHTS, CONFIG = "model.safetensors", "config.json"
#: model arguments renamed since runs were first saved: old name -> new name.
RENAMED_ARGUMENTS = {"batchnorm": "batch_norm"}  # the flows', spelt as the GANs' and VAEs'
MAX_DIM = 10**8  # no real data sample has more dimensions; a larger event_shape is a tampered file
MAX_CONFIG_BYTES = 2**20  # a config.json is a few kB


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


def read_metrics(path: Path) -> list[dict[str, float]]:
    """The rows of a run's metrics.csv, each {column: value} for its non-empty cells. A last line
    cut short by a crash (appended lines end with a newline) is left out."""
    import csv

    lines = [line for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]
    rows = []
    for number, row in enumerate(csv.DictReader(lines), start=2):
        try:
            rows.append({k: float(v) for k, v in row.items() if k is not None and v})
        except (TypeError, ValueError):
            raise DgmError(f"{path}, line {number}: not a row of numbers") from None
    return rows


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """Read and check a run's config.json."""
    path = _run_dir(run_dir) / CONFIG
    try:
        config = json.loads(_read_capped(path, MAX_CONFIG_BYTES))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DgmError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise DgmError(f"{path} does not hold a JSON object")
    for key in ("model", "event_shape", "preprocess"):
        if key not in config:
            raise DgmError(f"{path} lacks the key {key!r}")
    _check_types(path, config)
    args = config.get("model_args", {})
    for old, new in RENAMED_ARGUMENTS.items():  # a run saved before the rename still loads
        if old in args and new not in args:
            args[new] = args.pop(old)
    return config


def _read_capped(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes: reads no more than limit + 1 bytes, so a
    config.json that is huge, or a link to /dev/zero or a pipe, cannot exhaust memory or hang."""
    if not path.exists():
        raise DgmError(f"{path} is missing: is {path.parent} a dgm run folder?")
    if not path.is_file():
        raise DgmError(f"{path} is not a regular file")
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise DgmError(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > limit:
        raise DgmError(f"{path} is larger than {limit} bytes: not a dgm model config")
    return data


def label_values(config: dict[str, Any], classes: int) -> list[int]:
    """The data's label value of each class 0..K−1 of a conditional model, from its config.json
    (data.label_values); model files saved before labels were mapped have the values 0..K−1."""
    values = config.get("data", {}).get("label_values") or list(range(classes))
    if not (
        isinstance(values, list)
        and len(values) == classes
        and all(type(v) is int for v in values)
        and len(set(values)) == classes
    ):
        raise DgmError(f"data.label_values in {CONFIG} must be {classes} distinct integers, got {values!r}")
    return values


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

    Nothing is allocated before the architecture in config.json is known to match the tensors in
    model.safetensors: the model is first built on the meta device (no memory), its construction
    bounded by the number of tensors in the file, and compared with the file's header. The weights
    must then have the model's dtypes and be finite.

    Example:
        >>> model = dgm.load("runs/g")  # doctest: +SKIP
        >>> model.log_prob(x)           # log p(x) in the data's units, shape (B,)  # doctest: +SKIP
    """
    from dgm.build import build_model

    run_dir = _run_dir(path)
    config = read_config(run_dir)
    weights = run_dir / WEIGHTS
    dtype = getattr(torch, config.get("dtype", "float32"))

    def build() -> Preprocessed:
        return build_model(
            config["model"],
            tuple(config["event_shape"]),
            config["preprocess"],
            config.get("model_args"),
            dequantize=config.get("dequantize"),
            levels=config.get("data", {}).get("levels"),
        )

    shapes = header_shapes(weights)
    with torch.device("meta"), _bounded_construction(2 * len(shapes) + 64, weights):
        skeleton = build().state_dict()
    _check_shapes(weights, skeleton, shapes)
    model = build()
    state = _read_weights(weights)
    _check_values(
        weights, state, {k: dtype if v.is_floating_point() else v.dtype for k, v in skeleton.items()}
    )
    model.load_state_dict(state, strict=True)
    return model.to(device=device, dtype=dtype).eval()


def header_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, read from the safetensors header alone (no tensor data)."""
    from safetensors import SafetensorError, safe_open

    if weights.exists() and not weights.is_file():
        raise DgmError(f"{weights} is not a regular file")
    try:
        with safe_open(str(weights), "pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except FileNotFoundError:
        raise DgmError(f"{weights} is missing") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise DgmError(f"{weights} is not a valid safetensors file ({str(e).splitlines()[0]})") from None


def _read_weights(weights: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise DgmError(f"{weights} is not a valid safetensors file ({str(e).splitlines()[0]})") from None


@contextlib.contextmanager
def _bounded_construction(limit: int, weights: Path) -> Iterator[None]:
    """Stop building a model once it has registered more than `limit` parameters and buffers: a
    config.json asking for 10⁹ layers fails at once instead of looping (on the meta device). A
    tensor assigned again under its name counts once: spectral normalisation reassigns its power
    iteration's vectors at every iteration."""
    from torch.nn.modules import module

    seen: set[tuple[int, str]] = set()

    def hook(owner: torch.nn.Module, name: str, tensor: Any) -> None:
        seen.add((id(owner), name))
        if len(seen) > limit:
            raise DgmError(f"{CONFIG} describes a model with far more tensors than {weights} holds")

    handles = [
        module.register_module_parameter_registration_hook(hook),
        module.register_module_buffer_registration_hook(hook),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _check_shapes(
    weights: Path, expected: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]]
) -> None:
    """The names and shapes of the model's state dict must be those in the weights file."""
    missing, unexpected = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
    wrong = [k for k in expected if k in shapes and shapes[k] != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        problems = [
            f"{what}: {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        ]
        raise DgmError(f"{weights} does not match the model in {CONFIG} ({'; '.join(problems)})")


def _check_values(weights: Path, state: dict[str, torch.Tensor], dtypes: dict[str, torch.dtype]) -> None:
    """Every tensor has the model's dtype (floating ones the run's dtype) and is finite."""
    wrong = [k for k, v in state.items() if v.dtype != dtypes[k]]
    if wrong:
        k = wrong[0]
        raise DgmError(
            f"{weights}: {k} has dtype {str(state[k].dtype).removeprefix('torch.')}, the model "
            f"in {CONFIG} expects {str(dtypes[k]).removeprefix('torch.')}"
        )
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise DgmError(
            f"{weights} holds NaN or infinite values (in {bad[0]}): the run diverged or the file is corrupt"
        )


def _run_dir(path: str | Path) -> Path:
    path = Path(path)
    if path.is_file() and path.name in (WEIGHTS, CONFIG):
        return path.parent
    if not path.exists():
        raise DgmError(f"run {path} does not exist")
    if not path.is_dir():
        raise DgmError(f"{path} is neither a run folder nor its {WEIGHTS}")
    return path
