"""User files: every format round-trips, every bad input fails with a one-line DgmError naming the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dgm.data.base import DataSource, seeded_split
from dgm.data.files import load_file
from dgm.data.images import load_digits, split_labelled
from dgm.errors import DgmError

RNG = np.random.default_rng(0)
POINTS = RNG.normal(size=(20, 3)).round(4)


def all_samples(data: DataSource) -> torch.Tensor:
    """The "all" split, checked to be the union of train, val and test (80/10/10)."""
    parts = [data.splits[s] for s in ("train", "val", "test")]
    assert [len(p) for p in parts] == [16, 2, 2]
    union = torch.cat(parts).flatten(1)
    assert torch.equal(torch.unique(union, dim=0), torch.unique(data.splits["all"].flatten(1), dim=0))
    return data.splits["all"]


def write_csv(path: Path, rows: np.ndarray, header: str | None = None) -> Path:
    lines = ([header] if header else []) + [", ".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("header", [None, "x, y ,z", ",a,b"])
def test_csv_round_trips(tmp_path: Path, header: str | None) -> None:
    data = load_file(write_csv(tmp_path / "d.csv", POINTS, header))
    assert data.kind == "points" and data.levels is None and data.event_shape == (3,)
    x = all_samples(data)
    assert x.dtype == torch.float32 and torch.allclose(x, torch.tensor(POINTS, dtype=torch.float32))


@pytest.mark.parametrize("header", [None, "x,y,z"])
def test_csv_with_a_byte_order_mark_reads_as_without(tmp_path: Path, header: str | None) -> None:
    """Excel's "CSV UTF-8" starts the file with U+FEFF, which is no part of the first cell."""
    plain = load_file(write_csv(tmp_path / "plain.csv", POINTS, header))
    marked = tmp_path / "bom.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "plain.csv").read_bytes())
    data = load_file(marked)
    assert torch.equal(all_samples(data), all_samples(plain)) and data.columns == plain.columns


def test_files_of_the_wrong_kind_are_named_so(tmp_path: Path) -> None:
    (tmp_path / "latin1.csv").write_bytes("é,1\n".encode("latin-1") * 12)
    expect_error(tmp_path / "latin1.csv", "not UTF-8 text")
    write_csv(tmp_path / "text.npy", POINTS)  # a CSV under a NumPy name: numpy would try to unpickle it
    expect_error(tmp_path / "text.npy", "not a NumPy .npy or .npz file")


def test_splits_are_seeded(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", POINTS)
    assert torch.equal(load_file(path).splits["val"], load_file(path).splits["val"])


@pytest.mark.parametrize("array", [POINTS, POINTS[:, 0]], ids=["2d", "1d"])
def test_npy_points(tmp_path: Path, array: np.ndarray) -> None:
    np.save(tmp_path / "d.npy", array)
    data = load_file(tmp_path / "d.npy")
    assert data.kind == "points" and data.labels == {}
    assert torch.allclose(all_samples(data), torch.tensor(array, dtype=torch.float32).reshape(20, -1))


@pytest.mark.parametrize(("data_key", "label_key"), [("x", "y"), ("data", "labels"), ("anything", None)])
def test_npz_with_and_without_labels(tmp_path: Path, data_key: str, label_key: str | None) -> None:
    images = RNG.integers(0, 256, size=(20, 2, 4, 5), dtype=np.uint8)
    labels = images[:, 0, 0, 0].astype(np.int64)  # a label we can read back from its sample
    np.savez(tmp_path / "d.npz", **{data_key: images}, **({label_key: labels} if label_key else {}))
    data = load_file(tmp_path / "d.npz")
    assert data.kind == "image" and data.levels == 256 and data.event_shape == (2, 4, 5)
    assert torch.allclose(all_samples(data), torch.tensor(images / 255, dtype=torch.float32))
    if label_key:  # labels follow their samples through the shuffle, as classes of their values
        for split in ("train", "val", "test", "all"):
            x, y = data.splits[split], data.labels[split]
            value = torch.tensor(data.label_values)[y]
            assert y.dtype == torch.long and torch.equal(value, (x[:, 0, 0, 0] * 255).round().long())
    else:
        assert data.labels == {}


def test_npy_float_and_bool_images(tmp_path: Path) -> None:
    gray = RNG.uniform(size=(20, 6, 7)).astype(np.float32)
    np.save(tmp_path / "f.npy", gray)
    data = load_file(tmp_path / "f.npy")
    assert data.event_shape == (1, 6, 7) and data.levels is None
    assert torch.equal(all_samples(data)[:, 0], torch.from_numpy(gray))  # floats are not rescaled
    np.save(tmp_path / "b.npy", gray > 0.5)
    assert load_file(tmp_path / "b.npy").levels == 2
    # floats that are grey levels k/255, or 0 and 1, are discrete: dequantised, bits/dim reported
    grey = RNG.integers(0, 256, size=(20, 6, 7))
    np.save(tmp_path / "k.npy", (grey / 255).astype(np.float32))
    data = load_file(tmp_path / "k.npy")
    assert data.levels == 256 and torch.equal(all_samples(data)[:, 0], torch.tensor(grey / 255).float())
    np.save(tmp_path / "01.npy", (gray > 0.5).astype(np.float64))
    assert load_file(tmp_path / "01.npy").levels == 2


def save_pngs(folder: Path, images: np.ndarray, mode: str) -> Path:
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image, mode=mode).save(folder / f"{i:03d}.png")
    return folder


@pytest.mark.parametrize(("shape", "mode", "channels"), [((20, 5, 6), "L", 1), ((20, 5, 6, 3), "RGB", 3)])
def test_png_folder_round_trips(tmp_path: Path, shape: tuple[int, ...], mode: str, channels: int) -> None:
    images = RNG.integers(0, 256, size=shape, dtype=np.uint8)
    data = load_file(save_pngs(tmp_path / "pngs", images, mode))
    assert data.kind == "image" and data.levels == 256 and data.event_shape == (channels, 5, 6)
    expected = images[:, None] if channels == 1 else images.transpose(0, 3, 1, 2)
    assert torch.allclose(data.splits["all"], torch.tensor(expected / 255, dtype=torch.float32))


def test_png_rgba_drops_alpha(tmp_path: Path) -> None:
    images = RNG.integers(0, 256, size=(10, 4, 4, 4), dtype=np.uint8)
    data = load_file(save_pngs(tmp_path / "pngs", images, "RGBA"))
    assert data.event_shape == (3, 4, 4)
    rgb = torch.tensor(images[..., :3].transpose(0, 3, 1, 2) / 255, dtype=torch.float32)
    assert torch.allclose(data.splits["all"], rgb)


def test_digits_and_labelled_split() -> None:
    data = load_digits()
    assert data.event_shape == (1, 8, 8) and data.levels == 17
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 1437, "val": 180, "test": 180}
    assert all(torch.allclose(v * 16, (v * 16).round()) and v.max() <= 1 for v in data.splits.values())
    x = torch.arange(30.0).reshape(10, 3)
    splits, labels = split_labelled(x, x[:, 0].long())
    assert all(torch.equal(splits[k][:, 0].long(), labels[k]) for k in splits)


def expect_error(path: Path, word: str) -> str:
    with pytest.raises(DgmError) as info:
        load_file(path)
    message = str(info.value)
    assert word in message and "\n" not in message, message
    return message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", ["empty"]),
        ("\n  \n", ["empty"]),
        ("a,b\n", ["header", "no data"]),
        ("1,2\n3,4\n", ["only 2 samples", "at least 10"]),
        ("1,2\n3,4\n5\n", ["row 3", "1 columns, expected 2"]),
        ("a,b\n1,2\n3,x\n4,5\n", ["row 3, column 2", "'x' is not a number"]),
        ("1,2\n3,\n4,5\n", ["row 2, column 2", "not a number"]),
        ("1;2\n3;4\n5;6\n", ["row 2, column 1", "comma-separated"]),  # row 1 reads as a header
        ("1,2\n3,nan\n4,5\n", ["row 2, column 2", "NaN"]),
        ("1,2\n3,4\n-inf,5\n", ["row 3, column 1", "infinite"]),
        ("1,2\n3,4\n5,1e300\n", ["row 3, column 2", "float32"]),
        ("1,2\n3,1_000\n4,5\n", ["row 2, column 2", "'1_000' is not a number"]),  # Python's, not CSV's
    ],
)
def test_bad_csv(tmp_path: Path, text: str, words: list[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    message = expect_error(path, words[0])
    assert str(path) in message and all(w in message for w in words), message


@pytest.mark.parametrize(
    ("payload", "word"),
    [
        (np.array([{"a": 1}, None, 3], dtype=object), "never unpickles"),
        (np.zeros((0, 3)), "no samples"),
        (np.zeros((1, 3)), "only 1 sample"),
        (np.zeros((12, 0)), "no values"),
        (np.array([[0.0, 1.0], [np.nan, 0.0], *[[1.0, 1.0]] * 10]), "sample 1 (0-based) has NaN"),
        (np.array(["a", "b", "c"]), "dtype"),
        (np.float64(3.0), "shape"),
        (np.full((12, 2, 2), 2.0), "[0, 1]"),
        (np.full((12, 2, 2), 300), "0..255"),
    ],
)
def test_bad_npy(tmp_path: Path, payload: np.ndarray, word: str) -> None:
    np.save(tmp_path / "bad.npy", payload, allow_pickle=True)
    expect_error(tmp_path / "bad.npy", word)


def test_bad_npz_and_corrupt_numpy_files(tmp_path: Path) -> None:
    np.savez(tmp_path / "keys.npz", a=POINTS, b=POINTS)
    expect_error(tmp_path / "keys.npz", "'x' or 'data'")
    np.savez(tmp_path / "labels.npz", x=POINTS, y=np.arange(5))
    expect_error(tmp_path / "labels.npz", "labels must be 20 integers")
    np.savez(tmp_path / "pickled.npz", x=np.array([None, 1, 2], dtype=object))
    expect_error(tmp_path / "pickled.npz", "never unpickles")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    expect_error(tmp_path / "junk.npz", "cannot read")


def test_bad_png_folders(tmp_path: Path) -> None:
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "notes.txt").write_text("no images here")
    expect_error(tmp_path / "none", "no .png")
    sizes = save_pngs(tmp_path / "sizes", np.zeros((3, 4, 4), np.uint8), "L")
    Image.fromarray(np.zeros((5, 4), np.uint8)).save(sizes / "zz.png")
    message = expect_error(sizes, "differ in size")
    assert "000.png is 4x4" in message and "zz.png is 4x5" in message
    corrupt = save_pngs(tmp_path / "corrupt", np.zeros((3, 4, 4), np.uint8), "L")
    (corrupt / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert "001.png" in expect_error(corrupt, "corrupt")
    mixed = save_pngs(tmp_path / "mixed", np.zeros((3, 4, 4), np.uint8), "L")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(mixed / "rgb.png")
    expect_error(mixed, "grayscale and colour")
    one = save_pngs(tmp_path / "one", np.zeros((1, 4, 4), np.uint8), "L")
    expect_error(one, "at least 10")


def test_unknown_extension_and_missing_path(tmp_path: Path) -> None:
    expect_error(tmp_path / "absent.csv", "no such file")
    (tmp_path / "data.txt").write_text("1,2\n")
    message = expect_error(tmp_path / "data.txt", "unsupported data format '.txt'")
    assert all(fmt in message for fmt in (".csv", ".npy", ".npz", ".png"))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])  # grey, grey + alpha, RGB, RGBA
def test_channels_last_images_are_moved_to_channels_first(tmp_path: Path, channels: int) -> None:
    images = RNG.integers(0, 256, size=(12, 5, 6, channels), dtype=np.uint8)
    np.save(tmp_path / "hwc.npy", images)
    data = load_file(tmp_path / "hwc.npy")
    assert data.event_shape == (channels, 5, 6)
    assert torch.allclose(
        data.splits["all"], torch.tensor(images.transpose(0, 3, 1, 2) / 255, dtype=torch.float32)
    )


@pytest.mark.parametrize("values", [[0, 5000], [-3, 7], [2, 1, 0]])
def test_npz_labels_of_any_integers_become_classes(tmp_path: Path, values: list[int]) -> None:
    y = np.array(values * 10)
    np.savez(tmp_path / "d.npz", x=np.c_[y, RNG.normal(size=len(y))], y=y)
    data = load_file(tmp_path / "d.npz")
    assert data.label_values == tuple(sorted(values)) and data.num_classes == len(values)
    for split in ("train", "val", "test", "all"):  # class k is the k-th smallest value
        classes = data.labels[split]
        assert classes.min() >= 0 and classes.max() < len(values)
        assert torch.equal(torch.tensor(data.label_values)[classes], data.splits[split][:, 0].long())


@pytest.mark.parametrize(
    ("header", "expected"),
    [("a,b,z", "column 2 (0-based) 'z' is constant"), (None, "column 2 (0-based) is constant")],
)
def test_constant_csv_column_is_refused(tmp_path: Path, header: str | None, expected: str) -> None:
    rows = np.c_[POINTS[:, :2], np.full(20, 1.5)]
    message = expect_error(write_csv(tmp_path / "c.csv", rows, header), expected)
    assert "1.5 in every row" in message and "infinite" in message and "drop" in message


def test_constant_npy_column_and_column_constant_in_training_split_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "c.npy", np.c_[np.zeros(20), POINTS[:, :1]])
    expect_error(tmp_path / "c.npy", "column 0 (0-based) is constant")
    np.save(tmp_path / "one.npy", np.full(20, 3.0))  # (N,) points are one column
    expect_error(tmp_path / "one.npy", "column 0 (0-based) is constant")
    odd = POINTS.copy()
    odd[:, 1] = 4.0
    odd[seeded_split(torch.arange(20))["val"].numpy(), 1] = 5.0  # varies only outside the training rows
    expect_error(write_csv(tmp_path / "odd.csv", odd), "4 in the training split")
