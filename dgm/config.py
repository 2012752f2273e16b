"""The run configuration: one typed record filled from defaults, a YAML file and `--set` flags.

Precedence: defaults < YAML file (--config) < explicit flags < --set key=value.
Keys under `model_args.` go to the model's keyword-only constructor; keys under `optim.PLAYER.`
set one player's optimiser (`--set optim.critic.lr=5e-5`), and the top-level `lr`,
`weight_decay`, `grad_clip`, `warmup_steps` and `lr_schedule` set every player's at once.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dgm.errors import DgmError

#: How discrete data are made continuous: uniform noise, a learned q(u | k), or not at all.
DEQUANTIZERS = ("uniform", "variational", "none")


@dataclass
class RunConfig:
    """Everything that defines a training run (saved as the run's `config.json`)."""

    model: str
    data: str
    model_args: dict[str, Any] = field(default_factory=dict)
    preprocess: str | None = None  # None: "standardize" for points, "logit" for images
    objective: str | None = None  # None: the model's default objective
    conditional: bool = False  # condition on the data's class labels (context c = one-hot label)
    dequantize: str | None = None  # uniform | variational | none; None: uniform for discrete data
    max_steps: int | None = None
    epochs: int | None = None
    max_time: str | None = None  # "DD:HH:MM:SS" or "5m", "2h", "30s"
    batch_size: int = 256
    # Optimiser settings for every player; None: the objective's default for each player
    # (mle: Adam, lr 1e-3, cosine decay, no warm-up, no clipping, no weight decay).
    lr: float | None = None
    lr_schedule: str | None = None  # cosine | constant
    warmup_steps: int | None = None
    grad_clip: float | None = None
    weight_decay: float | None = None
    optim: dict[str, Any] = field(default_factory=dict)  # PLAYER -> {kind, lr, betas, every, ...}
    ema: float | None = None  # decay β of an exponential moving average of the weights, e.g. 0.999
    keep: str = "best"  # best: the weights with the best validation score; last: the final ones
    patience: int | None = None  # stop after this many validations without improvement
    threads: int | None = None  # torch CPU threads per process; None: chosen by data kind
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    dtype: str = "float32"
    val_every: int = 100
    checkpoint_every: int = 100
    log_every: int = 10

    def resolve(self, default_steps: int = 2000) -> RunConfig:
        """Fill the unset training length with a default and validate the values."""
        if self.max_steps is None and self.epochs is None and self.max_time is None:
            self.max_steps = default_steps
        for name in ("batch_size", "val_every", "checkpoint_every", "log_every", "devices", "num_nodes"):
            if getattr(self, name) < 1:
                raise DgmError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.max_steps is not None and self.epochs is not None:
            raise DgmError("give either max_steps or epochs, not both")
        if self.max_steps is not None and self.max_steps < 0:
            raise DgmError(f"max_steps must be 0 (fit the initialisation only) or more, got {self.max_steps}")
        if self.epochs is not None and self.epochs < 1:
            raise DgmError(f"epochs must be a positive integer, got {self.epochs}")
        for name in ("weight_decay", "warmup_steps"):
            if getattr(self, name) is not None and not getattr(self, name) >= 0:
                raise DgmError(f"{name} must be non-negative, got {getattr(self, name)}")
        for name in ("grad_clip", "lr"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise DgmError(f"{name} must be a positive finite number, got {value}")
        if self.lr_schedule not in (None, "cosine", "constant"):
            raise DgmError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.ema is not None and not 0 < self.ema < 1:
            raise DgmError(f"ema must be a decay in (0, 1) such as 0.999 (or null for none), got {self.ema}")
        if self.keep not in ("best", "last"):
            raise DgmError(f"keep must be 'best' or 'last', got {self.keep!r}")
        for name in ("patience", "threads"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise DgmError(f"{name} must be a positive integer (or null), got {getattr(self, name)}")
        if self.dequantize not in (None, *DEQUANTIZERS):
            raise DgmError(f"dequantize must be one of {', '.join(DEQUANTIZERS)}, got {self.dequantize!r}")
        if self.dtype not in ("float32", "float64"):
            raise DgmError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise DgmError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.max_time is not None:
            parse_duration(self.max_time)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise DgmError(f"unknown config key {unknown[0]!r} (known: {', '.join(sorted(names))})")
        if isinstance(d.get("dequantize"), bool):  # `dequantize: true` (and older run files)
            d = {**d, "dequantize": "uniform" if d["dequantize"] else "none"}
        types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
        return cls(**{k: _coerce(k, v, types[k]) for k, v in d.items()})


def _coerce(key: str, value: Any, annotation: str) -> Any:
    """Convert a value read from YAML or --set to the field's type (e.g. "3e-4" to a float)."""
    if value is None and "None" in annotation:
        return None
    for name, kind in (("int", int), ("float", float)):
        if annotation.startswith(name):
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise DgmError(f"{key} must be a number, got {value!r}")
            try:
                number = float(value)
                if not math.isfinite(number):
                    raise DgmError(f"{key} must be a finite number, got {value!r}")
                if kind is int:  # "1e3" and 1000.0 are the whole number 1000
                    if number != round(number):
                        raise DgmError(f"{key} must be a whole number, got {value!r}")
                    return int(value) if isinstance(value, int) else int(number)
            except ValueError:
                raise DgmError(f"{key} must be a number, got {value!r}") from None
            return number
    if annotation.startswith("dict") and not isinstance(value, dict):
        raise DgmError(f"{key} must be a mapping of names to values, got {value!r}")
    if annotation.startswith("bool") and not isinstance(value, bool):
        raise DgmError(f"{key} must be true or false, got {value!r}")
    if annotation.startswith("str") and not isinstance(value, str):
        return str(value)
    return value


def parse_duration(text: str) -> float:
    """Return seconds for "90s", "5m", "2h", "1d" or Lightning's "DD:HH:MM:SS"."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if m:
        return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    parts = text.split(":")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        d, h, mi, s = map(int, parts)
        return float(((d * 24 + h) * 60 + mi) * 60 + s)
    raise DgmError(f"cannot read max_time {text!r} (use e.g. 30s, 5m, 2h or DD:HH:MM:SS)")


def parse_value(text: str) -> Any:
    """Read a --set value as YAML (numbers, booleans, lists, null), falling back to the string."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(d: dict[str, Any], pairs: list[str]) -> dict[str, Any]:
    """Apply `key=value` pairs; `model_args.k=v` (or `model.k=v`) sets a model argument and
    `optim.PLAYER.k=v` one player's optimiser setting."""
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DgmError(f"--set expects key=value, got {pair!r}")
        head, dot, sub = key.partition(".")
        if not dot:
            d[key] = parse_value(value)
        elif head in ("model", "model_args"):
            d.setdefault("model_args", {})[sub] = parse_value(value)
        elif head == "optim" and sub.count(".") == 1 and all(sub.split(".")):
            player, setting = sub.split(".")
            optim = d.setdefault("optim", {})
            if not isinstance(optim.get(player, {}), dict):
                raise DgmError(f"--set key {key!r}: optim.{player} is not a mapping")
            optim.setdefault(player, {})[setting] = parse_value(value)
        else:
            raise DgmError(f"--set key {key!r}: only model_args.NAME and optim.PLAYER.SETTING have sub-keys")
    return d


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML config file into a dict (safe loader only)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise DgmError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DgmError(f"cannot read config file {path}: {getattr(e, 'strerror', None) or e}") from None
    except yaml.YAMLError as e:
        raise DgmError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DgmError(f"config file {path} must hold a mapping of keys to values")
    return data
