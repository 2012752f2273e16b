"""Small helpers used across the package."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    A reader never sees a half-written file: it finds the old file or the new one. The file gets
    the usual permissions (0666 less the umask), not mkstemp's private 0600.
    """
    from dgm.errors import DgmError

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise DgmError(f"cannot write {path}: {e.strerror or e}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except IsADirectoryError:
        raise DgmError(f"cannot write {path}: it is a folder") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def output_folder(out: Path) -> None:
    """Create the output folder `out` (--out) and its parents; one clear error when `out` is a file
    or cannot be made."""
    from dgm.errors import DgmError

    if out.exists() and not out.is_dir():
        raise DgmError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DgmError(f"cannot create --out {out}: {e.strerror or e}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write obj as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")


def valid_json(result: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or infinity: a non-finite number becomes null, and `not_finite` names it."""
    bad = [k for k, v in result.items() if isinstance(v, float) and not math.isfinite(v)]
    if not bad:
        return result
    return {**{k: None if k in bad else v for k, v in result.items()}, "not_finite": bad}


def one_hot(labels: torch.Tensor, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    """The context c of a class-conditional model: one-hot labels, shape (N, K), dtype/device of `like`."""
    return torch.nn.functional.one_hot(labels.long(), num_classes).to(like)


def resolve_device(name: str) -> torch.device:
    """Map --device auto|cpu|cuda to a torch device; auto picks CUDA when present."""
    from dgm.errors import DgmError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DgmError("--device cuda was asked for, but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise DgmError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with torch's random streams seeded, and restore them afterwards: on the CPU
    and, when `device` is a GPU, on that GPU (where randn_like on CUDA tensors draws)."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
