"""MNIST: the IDX parser on tiny synthetic files, the real files, and the downloader over file:// URLs."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from dgm.data.mnist import MNIST_SHA256, download_mnist, idx_sha256, load_mnist, mnist_dir, read_idx
from dgm.errors import DgmError

SHARED_MNIST = (Path(__file__).parents[2] / ".." / "shared" / "data" / "mnist").resolve()
needs_mnist = pytest.mark.skipif(
    not all((SHARED_MNIST / name).is_file() for name in MNIST_SHA256),
    reason=f"the shared MNIST copy is absent ({SHARED_MNIST})",
)


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    """Encode an array as IDX: 0x00 0x00 <code> <ndim>, big-endian uint32 sizes, big-endian values."""
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes, compress: bool) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trips_images_and_labels(tmp_path: Path, compress: bool) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5, dtype=np.uint8)
    got_images = read_idx(write(tmp_path / "images", idx_bytes(images, 0x08), compress))
    got_labels = read_idx(write(tmp_path / "labels", idx_bytes(labels, 0x08), compress))
    assert got_images.dtype == np.uint8 and np.array_equal(got_images, images)
    assert got_labels.shape == (5,) and np.array_equal(got_labels, labels)


def test_read_idx_decodes_big_endian_types(tmp_path: Path) -> None:
    values = np.array([[1.5, -2.25], [1e6, 0.0]], dtype=np.float32)
    ints = np.array([1, -70000, 2**30], dtype=np.int32)
    assert np.array_equal(read_idx(write(tmp_path / "f", idx_bytes(values, 0x0D), False)), values)
    assert np.array_equal(read_idx(write(tmp_path / "i", idx_bytes(ints, 0x0C), True)), ints)


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda b: b[:-1], "truncated"),
        (lambda b: b + b"\x00", "trailing"),
        (lambda b: b"\x01" + b[1:], "magic"),
        (lambda b: b[:2] + b"\x07" + b[3:], "type code"),
        (lambda b: b[:6], "header"),
    ],
)
def test_read_idx_rejects_broken_files(tmp_path: Path, mutate, problem: str) -> None:
    good = idx_bytes(np.zeros((2, 3, 3), dtype=np.uint8), 0x08)
    path = write(tmp_path / "broken.gz", mutate(good), True)
    with pytest.raises(DgmError, match=problem) as info:
        read_idx(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_read_idx_rejects_a_cut_gzip_stream_and_a_missing_file(tmp_path: Path) -> None:
    packed = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8).reshape(2, 10, 10), 0x08))
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DgmError, match="gzip"):
        read_idx(tmp_path / "cut.gz")
    with pytest.raises(DgmError, match="not found"):
        read_idx(tmp_path / "absent.gz")


def test_mnist_dir_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGM_DATA", str(tmp_path))
    assert mnist_dir() == tmp_path / "mnist"
    for name in MNIST_SHA256:  # a folder that directly holds the four files is used as it is
        (tmp_path / name).touch()
    assert mnist_dir() == tmp_path
    monkeypatch.delenv("DGM_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert mnist_dir() == tmp_path / "cache" / "dgm" / "mnist"


@needs_mnist
@pytest.mark.parametrize("data_dir", [SHARED_MNIST, SHARED_MNIST.parent])
def test_load_real_mnist(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("DGM_DATA", str(data_dir))
    data = load_mnist(download=False)
    sizes = {k: v.shape for k, v in data.splits.items()}
    counts = {"train": 50_000, "val": 10_000, "test": 10_000}
    assert sizes == {k: torch.Size([n, 1, 28, 28]) for k, n in counts.items()}
    assert data.kind == "image" and data.levels == 256 and data.event_shape == (1, 28, 28)
    for split, x in data.splits.items():
        assert x.dtype == torch.float32 and x.min() == 0 and x.max() == 1
        assert torch.equal(torch.unique(data.labels[split]), torch.arange(10))
    # pixels are multiples of 1/255; train and val are disjoint pieces of the official training set
    assert torch.allclose(data.splits["val"][:50] * 255, (data.splits["val"][:50] * 255).round(), atol=1e-4)
    assert not torch.equal(data.splits["train"][:10], data.splits["val"][:10])
    assert load_mnist(download=False).splits["train"] is data.splits["train"]  # cached


def test_load_mnist_without_files_and_download_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGM_DATA", str(tmp_path))
    with pytest.raises(DgmError, match="missing"):
        load_mnist(download=False)


@needs_mnist
def test_download_real_files_from_file_url(tmp_path: Path) -> None:
    mirror, dest = tmp_path / "mirror", tmp_path / "cache"
    shutil.copytree(SHARED_MNIST, mirror)
    download_mnist(dest, base_url=["file:///nonexistent/mirror/", mirror.as_uri()])  # the first mirror fails
    assert sorted(p.name for p in dest.iterdir()) == sorted(MNIST_SHA256)
    assert all(idx_sha256(dest / name) == sha for name, sha in MNIST_SHA256.items())


def tiny_mirror(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A mirror holding two tiny IDX files and their checksums (SHA-256 of the decompressed bytes)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    files = {}
    arrays = {"a.gz": np.arange(12, dtype=np.uint8).reshape(3, 2, 2), "b.gz": np.ones(3, np.uint8)}
    for name, array in arrays.items():
        raw = idx_bytes(array, 0x08)
        write(mirror / name, raw, True)
        files[name] = hashlib.sha256(raw).hexdigest()
    return mirror, files


def test_download_verifies_checksums_and_leaves_nothing_behind(tmp_path: Path) -> None:
    mirror, files = tiny_mirror(tmp_path)
    write(mirror / "b.gz", idx_bytes(np.zeros(3, np.uint8), 0x08), True)  # corrupted copy
    dest = tmp_path / "dest"
    with pytest.raises(DgmError, match="checksum") as info:
        download_mnist(dest, base_url=mirror.as_uri(), files=files)
    assert "b.gz" in str(info.value) and "\n" not in str(info.value)
    assert sorted(p.name for p in dest.iterdir()) == ["a.gz"]  # no partial or temporary file


def test_download_keeps_verified_files_and_rejects_corrupted_ones(tmp_path: Path) -> None:
    mirror, files = tiny_mirror(tmp_path)
    dest = tmp_path / "dest"
    download_mnist(dest, base_url=mirror.as_uri(), files=files)
    download_mnist(dest, base_url="file:///nonexistent/", files=files)  # present and valid: no download
    write(dest / "a.gz", b"\x00" * 20, True)
    with pytest.raises(DgmError, match="checksum mismatch; delete it"):
        download_mnist(dest, base_url=mirror.as_uri(), files=files)


def test_download_reports_every_failing_mirror(tmp_path: Path) -> None:
    _, files = tiny_mirror(tmp_path)
    with pytest.raises(DgmError, match="could not download a.gz") as info:
        download_mnist(tmp_path / "dest", base_url=["file:///nowhere1/", "file:///nowhere2/"], files=files)
    assert "nowhere1" in str(info.value) and "nowhere2" in str(info.value)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download attempt fails the test (AssertionError is not caught like a network error)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test tried to download")

    monkeypatch.setattr("dgm.data.mnist.urllib.request.urlopen", refuse)


def fake_mnist(folder: Path, names: list[str]) -> Path:
    """Tiny well-formed IDX files under the MNIST names (their checksums cannot match)."""
    folder.mkdir(exist_ok=True)
    for name in names:
        array = np.zeros((3, 28, 28) if "images" in name else (3,), np.uint8)
        write(folder / name, idx_bytes(array, 0x08), True)
    return folder


@pytest.mark.usefixtures("no_network")
def test_dgm_data_with_some_files_names_the_missing_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = list(MNIST_SHA256)
    monkeypatch.setenv("DGM_DATA", str(fake_mnist(tmp_path, names[:3])))
    with pytest.raises(DgmError, match=f"missing: {names[3]} ") as info:
        load_mnist()
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "mnist").exists()  # nothing was downloaded anywhere


@pytest.mark.usefixtures("no_network")
def test_present_files_are_checksum_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGM_DATA", str(fake_mnist(tmp_path, list(MNIST_SHA256))))
    with pytest.raises(DgmError, match="train-images-idx3-ubyte.gz: checksum mismatch") as info:
        load_mnist()
    assert "\n" not in str(info.value)


@needs_mnist
@pytest.mark.usefixtures("no_network")
def test_a_pixel_inverted_test_set_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in MNIST_SHA256:
        (tmp_path / name).symlink_to(SHARED_MNIST / name)
    target = tmp_path / "t10k-images-idx3-ubyte.gz"
    target.unlink()
    inverted = 255 - read_idx(SHARED_MNIST / target.name)
    write(target, idx_bytes(inverted, 0x08), False)  # a valid IDX file of the right shape
    monkeypatch.setenv("DGM_DATA", str(tmp_path))
    with pytest.raises(DgmError, match="t10k-images-idx3-ubyte.gz: checksum mismatch"):
        load_mnist()
