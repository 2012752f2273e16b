"""The command line: light imports, one-line errors with exit code 2, list from the registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.cli.main import main
from dgm.registry import DATASETS, METRICS, MODELS


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dgm.cli.main", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_import_and_help_do_not_import_lightning() -> None:
    code = (
        "import sys, dgm, dgm.io, dgm.data, dgm.models, dgm.metrics\n"
        "from dgm.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('lightning', 'pytorch_lightning')\n"
        "assert not any(m.split('.')[0] in heavy for m in sys.modules), 'lightning'\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["train", "--help"], ["evaluate", "--help"]])
def test_version_and_help_start_without_torch(argv: list[str]) -> None:
    """Start-up stays fast: the parser and --version need neither torch nor the registry."""
    code = (
        "import sys\nfrom dgm.cli.main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    ("what", "registry"), [("models", MODELS), ("datasets", DATASETS), ("metrics", METRICS)]
)
def test_list_prints_the_registry(what: str, registry: object, capsys: pytest.CaptureFixture) -> None:
    assert main(["list", what]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == registry.names()  # type: ignore[attr-defined]


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture, needle: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "no-such-model", "--data", "moons"], "unknown model 'no-such-model'"),
        (["train", "gaussian", "--data", "no/such/file.csv"], "neither a registered dataset"),
        (["train", "gaussian", "--data", "moons", "--max-steps", "x"], "invalid int value"),
        (["train", "gaussian", "--data", "moons", "--set", "lr=abc"], "lr must be a number"),
        (["train", "gaussian", "--data", "moons", "--set", "model_args.bogus=1"], "no argument 'bogus'"),
        (["train", "gaussian"], "needs --data"),
        (["sample", "no/such/run"], "does not exist"),
        (["evaluate", "no/such/run", "--data", "moons"], "does not exist"),
        (["reproduce", "seed-paper", "--only", "wgan"], "no seed-paper experiment wgan"),
        (["list", "things"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        (["train", "gaussian", "--data", "moons", "--set", "model=maf"], "--set cannot change it"),
        (["sample", "no/such/run", "--seed", "99999999999999999999999"], "--seed: is too large"),
        (["evaluate", "no/such/run", "--data", "moons", "--seed", "1.5"], "--seed: must be a whole number"),
        (["evaluate", "no/such/run", "--data", "moons", "--metrics", ","], "--metrics names no metric"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    argv: list[str],
    needle: str,
    capsys: pytest.CaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    _one_line_error(argv, capsys, needle)


BAD_FILES = {
    "nan.csv": ("1,2\n3,nan\n5,6\n7,8\n", "NaN"),
    "text.csv": ("1,2\n3,abc\n5,6\n7,8\n", "not a number"),
    "ragged.csv": ("1,2\n3\n5,6\n7,8\n", "row"),
    "empty.csv": ("", "empty"),
    "one.csv": ("1,2\n", "at least"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_data_files_are_one_line_and_exit_2(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    content, needle = BAD_FILES[name]
    (tmp_path / name).write_text(content)
    _one_line_error(
        ["train", "gaussian", "--data", str(tmp_path / name), "--out", str(tmp_path / "r")], capsys, needle
    )


def test_mixed_image_sizes_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    (tmp_path / "imgs").mkdir()
    plt.imsave(tmp_path / "imgs" / "a.png", np.zeros((8, 8)), cmap="gray")
    plt.imsave(tmp_path / "imgs" / "b.png", np.zeros((9, 8)), cmap="gray")
    _one_line_error(["train", "gaussian", "--data", str(tmp_path / "imgs")], capsys, "size")


def test_hostile_model_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "config.json").write_text('{"model": "gaussian", "event_shape": [2], "preprocess": "none"}')
    (tmp_path / "model.safetensors").write_bytes(b"\x80\x04\x95garbage-pickle")
    _one_line_error(["sample", str(tmp_path), "-n", "5"], capsys, "safetensors")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    r = run_cli("--debug", "sample", str(tmp_path / "missing"))
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_registry_doc_is_up_to_date() -> None:
    from dgm.cli.list_ import registry_doc

    doc = Path(__file__).resolve().parents[2] / "docs" / "registry.md"
    assert doc.read_text() == registry_doc(), "regenerate docs/registry.md with dgm.cli.list_.registry_doc()"


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("weight_decay=-1", "weight_decay must be non-negative"),
        ("grad_clip=0", "grad_clip must be a positive"),
        ("warmup_steps=-3", "warmup_steps must be non-negative"),
        ("model_args.ridge=abc", "model_args.ridge"),
        ("model_args.init=7", "model_args.init"),
        ("epochs=2", "either max_steps or epochs"),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(
    setting: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _one_line_error(
        [
            "train",
            "gaussian",
            "--data",
            "moons",
            "--out",
            str(tmp_path / "r"),
            "--max-steps",
            "3",
            "--set",
            setting,
        ],
        capsys,
        needle,
    )


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("event_shape", [-1], "positive integers"),
        ("event_shape", [10**6, 10**6], "more than"),
        ("dtype", "__class__", "dtype"),
        ("model", ["x"], "must be a string"),
        ("model_args", [1], "JSON object"),
        ("data", "moons", "JSON object"),
    ],
)
def test_tampered_config_is_one_line_and_exit_2(
    field: str, value: object, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import json

    config = {"model": "gaussian", "event_shape": [2], "preprocess": "none", field: value}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes(b"")
    _one_line_error(["sample", str(tmp_path), "-n", "5"], capsys, needle)


def test_a_config_file_for_another_model_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "c.yaml").write_text("model: maf\ndata: moons\n")
    _one_line_error(["train", "realnvp", "--config", str(tmp_path / "c.yaml")], capsys, "is for model 'maf'")


def test_a_command_that_fails_leaves_no_folder_behind(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "c.yaml").write_text("")
    bad = ["--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "runs" / "new" / "run")]
    _one_line_error(["train", "gaussian", *bad], capsys, "neither a registered dataset")
    _one_line_error(
        ["compare", "--data", "moons", "--models", "gaussiann", "--out", str(tmp_path / "cmp")],
        capsys,
        "unknown model",
    )
    _one_line_error(["demo", "--out", str(tmp_path / "c.yaml")], capsys, "is a file, not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_unwritable_output_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "file").write_text("")
    _one_line_error(
        ["train", "gaussian", "--data", "moons", "--out", str(tmp_path / "file" / "run")],
        capsys,
        "cannot create --out",
    )


def test_debug_flag_is_accepted_after_the_subcommand(capsys: pytest.CaptureFixture) -> None:
    assert main(["list", "models", "--debug"]) == 0


def test_python_m_dgm_is_the_dgm_command() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "dgm", "--version"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0 and r.stdout.startswith("dgm "), r.stderr
