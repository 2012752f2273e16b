"""User data from a file or folder: CSV, NumPy (.npy/.npz) or a folder of PNG images.

Every format becomes float32 samples with seeded 80/10/10 train/val/test splits (seed 0) plus
`splits["all"]`, the whole file in its own order (to evaluate on every sample of a held-out file).
Shapes decide the kind: (N, D) points; (N, H, W) or (N, C, H, W) images with values in [0, 1].
Points with a constant column are refused (they have no density). Labels (`y` or `labels` of an
.npz) may be any integers: class k is the k-th smallest value (`DataSource.label_values`).
NumPy files are always read with allow_pickle=False: dgm never unpickles.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from dgm.data.base import DataSource
from dgm.data.images import split_labelled
from dgm.errors import DgmError

SUPPORTED = ".csv, .npy, .npz, or a folder of .png images"
MIN_SAMPLES = 10  # so that the 80/10/10 split leaves 8 to train on and one each to validate and test

# Pillow mode -> the 8-bit mode we read it as; alpha is dropped, palettes are expanded to RGB.
_PNG_MODES = {"1": "L", "L": "L", "LA": "L", "P": "RGB", "PA": "RGB", "RGB": "RGB", "RGBA": "RGB"}


def load_file(path: Path | str) -> DataSource:
    """Read user data from `path` (see the module docstring for formats and splits)."""
    path = Path(path)
    labels, names = None, None
    if not path.exists():
        raise DgmError(f"{path}: no such file or folder")
    if path.is_dir():
        x, kind, levels = _read_png_folder(path), "image", 256
    elif path.suffix.lower() == ".csv":
        (x, names), kind, levels = _read_csv(path), "points", None
    elif path.suffix.lower() in (".npy", ".npz"):
        array, labels = _read_numpy(path)
        x, kind, levels = _as_samples(path, array)
        labels = _check_labels(path, labels, len(x))
    else:
        suffix = path.suffix or "(no extension)"
        raise DgmError(f"{path}: unsupported data format {suffix!r}; use {SUPPORTED}")
    data = _source(path, x, kind, levels, labels, tuple(names or ()))
    if kind == "points":
        _check_columns(path, data.splits["all"], data.splits["train"], names)
    return data


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _check_samples(path: Path, x: np.ndarray) -> None:
    """Require at least MIN_SAMPLES samples, each with at least one value, all finite."""
    n = x.shape[0]
    if n == 0:
        raise DgmError(f"{path}: contains no samples")
    if n < MIN_SAMPLES:
        raise DgmError(
            f"{path}: has only {n} sample{'s' if n > 1 else ''}; need at least {MIN_SAMPLES} "
            "(80/10/10 train, validation and test splits)"
        )
    if x[0].size == 0:
        raise DgmError(f"{path}: samples have no values (shape {x.shape})")
    finite = np.isfinite(x.reshape(n, -1)).all(axis=1)
    if not finite.all():
        first = int(np.argmin(finite))
        raise DgmError(f"{path}: sample {first} (0-based) has NaN or infinite values; data must be finite")


def _check_columns(path: Path, x: torch.Tensor, train: torch.Tensor, names: list[str] | None) -> None:
    """Refuse a column of points that is constant in the file or in its training split.

    All the mass of such a column sits on one value, so the data have no density in D dimensions:
    a model's log p(x) grows without bound as it fits, and standardising it would divide by σ = 0.
    """
    for rows, where in ((x, "in every row"), (train, "in the training split (80% of the rows)")):
        constant = torch.nonzero(rows.amax(0) == rows.amin(0)).flatten()
        if len(constant):
            j = int(constant[0])
            header = f" {names[j]!r}" if names and names[j] else ""
            raise DgmError(
                f"{path}: column {j} (0-based){header} is constant ({rows[0, j].item():g} {where}); "
                "a density on a degenerate column is infinite: drop that column"
            )


def _source(
    path: Path,
    x: np.ndarray,
    kind: str,
    levels: int | None,
    labels: np.ndarray | None,
    columns: tuple[str, ...] = (),
) -> DataSource:
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = None if labels is None else torch.from_numpy(labels.astype(np.int64))
    splits, split_labels = split_labelled(xt, yt)
    splits["all"] = xt
    if yt is not None:
        split_labels["all"] = yt
    return DataSource(
        name=str(path), kind=kind, splits=splits, labels=split_labels, levels=levels, columns=columns
    )


# ---------------------------------------------------------------------------------------- CSV


def _is_number(cell: str) -> bool:
    if "_" in cell:  # Python's digit grouping (1_000), which no CSV writer means
        return False
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _parse_row(path: Path, row: int, cells: list[str]) -> list[float]:
    for column, cell in enumerate(cells, 1):
        if not _is_number(cell):
            hint = " (dgm expects comma-separated columns)" if any(c in cell.strip() for c in "; \t") else ""
            raise DgmError(f"{path}: row {row}, column {column}: {cell.strip()!r} is not a number{hint}")
    return [float(cell) for cell in cells]


def _read_csv(path: Path) -> tuple[np.ndarray, list[str] | None]:
    """Parse comma-separated numbers and the column names; a first row with no numeric cell is a
    header (else the names are None).

    Rows are numbered as lines of the file (1-based, header included); blank lines are skipped.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: without the byte-order mark Excel writes
    except UnicodeDecodeError:
        raise DgmError(f"{path}: not UTF-8 text (expected comma-separated numbers)") from None
    lines = [(i, line.split(",")) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise DgmError(f"{path}: empty file")
    names = None
    if not any(_is_number(cell) for cell in lines[0][1]):
        names = [cell.strip() for cell in lines[0][1]]
        lines = lines[1:]
        if not lines:
            raise DgmError(f"{path}: has a header row but no data rows")
    width, first_row = len(lines[0][1]), lines[0][0]
    values = []
    for row, cells in lines:
        if len(cells) != width:
            raise DgmError(
                f"{path}: row {row} has {len(cells)} columns, expected {width} (as in row {first_row})"
            )
        values.append(_parse_row(path, row, cells))
    with np.errstate(over="ignore"):  # values beyond float32 range become inf, reported below
        x = np.array(values, dtype=np.float32)
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        i, j = bad[0]
        cell = lines[i][1][j].strip()
        raise DgmError(
            f"{path}: row {lines[i][0]}, column {j + 1}: {cell!r} is NaN, infinite or beyond float32 range"
        )
    _check_samples(path, x)
    return x, names if names is not None and len(names) == width else None


# -------------------------------------------------------------------------------------- NumPy


def _pick_npz(path: Path, npz: np.lib.npyio.NpzFile) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the data array (the only one, or "x"/"data") and the optional labels ("y"/"labels")."""
    keys = list(npz.files)
    if not keys:
        raise DgmError(f"{path}: holds no arrays")
    data_key = keys[0] if len(keys) == 1 else next((k for k in ("x", "data") if k in keys), None)
    if data_key is None:
        raise DgmError(f"{path}: holds arrays {', '.join(keys)}; store the data under 'x' or 'data'")
    label_key = next((k for k in ("y", "labels") if k in keys and k != data_key), None)
    return npz[data_key], None if label_key is None else npz[label_key]


#: the first bytes of an .npy file and of an .npz file (a zip archive; an empty one starts with
#: its end record)
NUMPY_MAGIC = (b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06")


def _read_numpy(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with path.open("rb") as f:
            head = f.read(6)
    except OSError as e:
        raise DgmError(f"{path}: cannot read NumPy data ({_one_line(e)})") from None
    if not head.startswith(NUMPY_MAGIC):  # numpy would try it as a pickle, and say so
        raise DgmError(f"{path}: not a NumPy .npy or .npz file (its first bytes are no NumPy header)")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                return _pick_npz(path, loaded)
        return loaded, None
    except ValueError as e:
        if "pickle" in str(e):
            raise DgmError(f"{path}: contains Python objects; dgm never unpickles") from None
        raise DgmError(f"{path}: cannot read NumPy data ({_one_line(e)})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DgmError(f"{path}: cannot read NumPy data ({_one_line(e)})") from None


def _as_samples(path: Path, a: np.ndarray) -> tuple[np.ndarray, str, int | None]:
    """Map an array to float32 samples: 1-D -> (N, 1) and 2-D points; 3-D (N, H, W) and 4-D images
    (N, C, H, W), or (N, H, W, C) with C in {1, 2, 3, 4} (grey, grey + alpha, RGB, RGBA), which is
    moved to channels-first.

    Image pixels: integers in 0..255 become x / 255 (levels 256), booleans 0/1 (levels 2), floats
    must already lie in [0, 1]; floats that are all 0 or 1 (levels 2), or all grey levels k/255
    (levels 256), are discrete like the integers, and dequantised in training.
    """
    if a.dtype.kind not in "biuf":
        raise DgmError(f"{path}: has dtype {a.dtype}; dgm needs real numbers")
    if not 1 <= a.ndim <= 4:
        raise DgmError(f"{path}: array of shape {a.shape}; expected (N,), (N, D), (N, H, W) or (N, C, H, W)")
    with np.errstate(over="ignore"):  # values beyond float32 range become inf, reported as not finite
        x = (a[:, None] if a.ndim == 1 else a).astype(np.float32)
    _check_samples(path, x)
    if a.ndim <= 2:
        return x, "points", None
    x = x[:, None] if a.ndim == 3 else x
    if a.ndim == 4 and a.shape[3] in (1, 2, 3, 4) and a.shape[1] not in (1, 2, 3, 4):  # channels last
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if a.dtype.kind == "b":
        return x, "image", 2
    lo, hi = float(x.min()), float(x.max())
    if a.dtype.kind in "iu":
        if lo < 0 or hi > 255:
            raise DgmError(f"{path}: integer pixels must lie in 0..255, found {lo:g}..{hi:g}")
        return x / 255, "image", 256
    if lo < 0 or hi > 1:
        raise DgmError(
            f"{path}: float image values must lie in [0, 1], found [{lo:.3g}, {hi:.3g}]; rescale them"
        )
    for levels in (2, 256):  # pixels saved as floats that are still discrete: a density needs noise
        k = np.rint(x * (levels - 1))
        if np.abs(x * (levels - 1) - k).max() < 1e-3:
            return (k / (levels - 1)).astype(np.float32), "image", levels
    return x, "image", None


def _check_labels(path: Path, y: np.ndarray | None, n: int) -> np.ndarray | None:
    if y is None:
        return None
    if y.dtype.kind not in "biu" or y.shape != (n,):
        raise DgmError(f"{path}: labels must be {n} integers (shape ({n},)), found {y.dtype} {y.shape}")
    return y


# ----------------------------------------------------------------------------------------- PNG


def _read_png(path: Path, image_module: ModuleType) -> np.ndarray:
    """Return one PNG as uint8 (C, H, W): grayscale C = 1, colour C = 3 (alpha dropped)."""
    try:
        with image_module.open(path) as img:
            img.load()
            mode = _PNG_MODES.get(img.mode)
            a = None if mode is None else np.asarray(img.convert(mode))
            found = img.mode
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, ... for broken files
        raise DgmError(f"{path}: unreadable or corrupt PNG ({_one_line(e)})") from None
    if a is None:
        raise DgmError(f"{path}: unsupported PNG pixel mode {found!r}; save 8-bit grayscale or RGB images")
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _read_png_folder(folder: Path) -> np.ndarray:
    """Read every *.png directly in `folder` (hidden files skipped, sorted by name) as x = uint8 / 255."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith("."))
    if not files:
        raise DgmError(f"{folder}: folder holds no .png images (supported data: {SUPPORTED})")
    try:
        from PIL import Image
    except ImportError:
        raise DgmError("reading PNG folders needs Pillow (pip install pillow)") from None
    images = [_read_png(files[0], Image)]
    for p in files[1:]:
        a = _read_png(p, Image)
        c0, h0, w0 = images[0].shape
        if a.shape[1:] != (h0, w0):
            h, w = a.shape[1:]
            sizes = f"{files[0].name} is {w0}x{h0}, {p.name} is {w}x{h}"
            raise DgmError(f"{folder}: images differ in size: {sizes}")
        if a.shape[0] != c0:
            raise DgmError(
                f"{folder}: mixes grayscale and colour images: {files[0].name} has {c0} channel(s), "
                f"{p.name} has {a.shape[0]}"
            )
        images.append(a)
    x = np.stack(images).astype(np.float32) / 255
    _check_samples(folder, x)
    return x
