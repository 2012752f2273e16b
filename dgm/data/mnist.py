"""MNIST from the standard gzip IDX files: our own parser, a cached download, fixed splits.

Where the files live (`mnist_dir`):
    1. `$DGM_DATA` when it directly holds the four `.gz` files (e.g. DGM_DATA=/work/shared/data/mnist);
       a folder of your own is never downloaded into, so one holding only some of them is refused,
       naming the missing files;
    2. else `$DGM_DATA/mnist` when DGM_DATA is set;
    3. else the user cache `$XDG_CACHE_HOME/dgm/mnist`, by default `~/.cache/dgm/mnist`.

Checksums are SHA-256 digests of the *decompressed* IDX files: mirrors re-gzip the data (so the
`.gz` bytes differ between copies) but the content is the same everywhere. Every file is checked
whenever it is read: the digest of the bytes the parser decompresses anyway costs ~0.04 s for all
four, so no cache of the verification is needed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import tempfile
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dgm.data.base import DataSource
from dgm.errors import DgmError

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
N_VAL = 10_000  # cut from the official 60k training set; the official 10k test set stays the test split
SPLIT_SEED = 0

# IDX type codes (third byte of the magic number); multi-byte values are big-endian.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    """Return the content of `path`, decompressed when it starts with the gzip magic bytes 1f 8b."""
    try:
        with open(path, "rb") as f:
            is_gzip = f.read(2) == b"\x1f\x8b"
        return gzip.open(path).read() if is_gzip else path.read_bytes()
    except FileNotFoundError:
        raise DgmError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DgmError(f"{path}: corrupted or truncated gzip file ({e})") from None


def read_idx(path: Path | str, sha256: str | None = None) -> np.ndarray:
    """Parse an IDX file (gzip or plain) into an array in native byte order; with `sha256`, the
    decompressed content must have that SHA-256 digest.

    Layout: magic = 0x00 0x00 <type code> <ndim>, then ndim big-endian uint32 sizes d_1..d_ndim,
    then prod(d_i) values of the type, big-endian. The payload length must match exactly.
    """
    path = Path(path)
    data = _read_bytes(path)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise DgmError(
            f"{path}: checksum mismatch (the SHA-256 of its decompressed data is not the original's): "
            "the file is modified or not this MNIST file; replace it with an original copy"
        )
    if len(data) < 4:
        raise DgmError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    if data[:2] != b"\x00\x00":
        raise DgmError(f"{path}: bad magic number {data[:4].hex()} (not an IDX file)")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise DgmError(f"{path}: unknown IDX type code 0x{code:02x}")
    if ndim == 0:
        raise DgmError(f"{path}: IDX header declares no dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DgmError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected, found = int(np.prod(shape)) * dtype.itemsize, len(data) - header
    if found != expected:
        problem = "truncated" if found < expected else "trailing bytes"
        raise DgmError(f"{path}: {problem}: shape {shape} needs {expected} data bytes, found {found}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def mnist_dir() -> Path:
    """Return the folder holding the MNIST files (see the module docstring for the rule)."""
    root = os.environ.get("DGM_DATA")
    if root:
        root_path = Path(root).expanduser()
        missing = [name for name in MNIST_SHA256 if not (root_path / name).is_file()]
        if not missing:
            return root_path
        if len(missing) < len(MNIST_SHA256):
            raise DgmError(
                f"DGM_DATA={root} holds only some MNIST files; missing: {', '.join(missing)} "
                "(copy them there: dgm downloads only into DGM_DATA/mnist, never into a folder of your own)"
            )
        return root_path / "mnist"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "dgm" / "mnist"


def idx_sha256(path: Path) -> str:
    """Return the SHA-256 hex digest of the decompressed content of a gzip file."""
    digest = hashlib.sha256()
    try:
        with gzip.open(path) as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as e:
        raise DgmError(f"{path}: corrupted or truncated gzip file ({e})") from None
    return digest.hexdigest()


def _fetch(url: str, target: Path, sha256: str) -> None:
    """Download `url` to `target` through a temporary file, replaced into place only once verified."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        if idx_sha256(Path(tmp)) != sha256:
            raise DgmError(f"{url}: checksum mismatch (SHA-256 of the decompressed data)")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def download_mnist(
    dest: Path,
    *,
    base_url: str | Sequence[str] | None = None,
    files: Mapping[str, str] = MNIST_SHA256,
) -> None:
    """Make sure `dest` holds every file of `files` (name -> SHA-256 of the decompressed data).

    Files already there are verified, not downloaded again. Missing ones are fetched from the
    first mirror of `base_url` (default `MIRRORS`) that serves a file with the right checksum.
    """
    urls = MIRRORS if base_url is None else (base_url,) if isinstance(base_url, str) else tuple(base_url)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DgmError(f"cannot create the MNIST folder {dest} ({e.strerror}); set DGM_DATA") from None
    for name, sha256 in files.items():
        target = dest / name
        if target.exists():
            if idx_sha256(target) != sha256:
                raise DgmError(f"{target}: checksum mismatch; delete it to download it again")
            continue
        errors = []
        for base in urls:
            url = base.rstrip("/") + "/" + name
            print(f"downloading {url}", file=sys.stderr)
            try:
                _fetch(url, target, sha256)
                break
            except DgmError as e:
                errors.append(str(e))
            except OSError as e:  # URLError, HTTPError and timeouts are OSErrors
                errors.append(f"{url}: {e}")
        else:
            raise DgmError(f"could not download {name}: " + "; ".join(errors))


def _check_shape(path: Path, array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if array.shape != shape or array.dtype != np.uint8:
        raise DgmError(f"{path}: expected uint8 data of shape {shape}, found {array.dtype} {array.shape}")
    return array


@lru_cache(maxsize=2)
def _mnist_tensors(folder: Path) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Decode the four files, checksum-verified, into x = uint8 / 255 of shape (N, 1, 28, 28) and
    labels, per split."""
    raw = {}
    for split, prefix, n in (("train", "train", 60_000), ("test", "t10k", 10_000)):
        images = folder / f"{prefix}-images-idx3-ubyte.gz"
        labels = folder / f"{prefix}-labels-idx1-ubyte.gz"
        x = _check_shape(images, read_idx(images, MNIST_SHA256[images.name]), (n, 28, 28))
        y = _check_shape(labels, read_idx(labels, MNIST_SHA256[labels.name]), (n,))
        if y.max() > 9:
            raise DgmError(f"{labels}: labels must lie in 0..9, found {y.max()}")
        raw[split] = (torch.from_numpy(x).unsqueeze(1).float().div_(255), torch.from_numpy(y).long())
    perm = torch.randperm(60_000, generator=torch.Generator().manual_seed(SPLIT_SEED))
    index = {"train": perm[N_VAL:], "val": perm[:N_VAL]}
    splits = {k: raw["train"][0][v] for k, v in index.items()} | {"test": raw["test"][0]}
    labels = {k: raw["train"][1][v] for k, v in index.items()} | {"test": raw["test"][1]}
    return splits, labels


def load_mnist(root: Path | None = None, *, download: bool = True) -> DataSource:
    """Return MNIST: train 50,000 / val 10,000 (seeded cut of the official train set) / test 10,000.

    Pixels are x = uint8 / 255 in [0, 1] of shape (N, 1, 28, 28), levels = 256. The decoded tensors
    are cached and shared between calls: do not modify them in place.
    """
    folder = (root or mnist_dir()).expanduser().resolve()
    missing = [name for name in MNIST_SHA256 if not (folder / name).is_file()]
    if missing:
        if not download:
            raise DgmError(f"MNIST files missing in {folder}: {', '.join(missing)}")
        download_mnist(folder)
    splits, labels = _mnist_tensors(folder)
    return DataSource(name="mnist", kind="image", splits=dict(splits), labels=dict(labels), levels=256)
