"""Run configuration: YAML + flags + --set precedence and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgm.config import RunConfig, apply_overrides, parse_duration, read_yaml
from dgm.errors import DgmError


def test_overrides_parse_values_and_model_args() -> None:
    d = apply_overrides(
        {"model": "gaussian", "data": "moons"},
        ["lr=3e-4", "grad_clip=1.0", "model_args.init=standard", "model.ridge=0.1"],
    )
    c = RunConfig.from_dict(d).resolve()
    assert c.lr == 3e-4 and c.grad_clip == 1.0
    assert c.model_args == {"init": "standard", "ridge": 0.1}
    assert c.max_steps == 2000  # the default length when none is given


@pytest.mark.parametrize("bad", ["lr", "=3", "foo.bar=1"])
def test_bad_override(bad: str) -> None:
    with pytest.raises(DgmError):
        apply_overrides({}, [bad])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("lr", -1.0),
        ("batch_size", 0),
        ("lr_schedule", "warp"),
        ("device", "tpu"),
        ("max_time", "soon"),
        ("dtype", "int8"),
    ],
)
def test_invalid_values(key: str, value: object) -> None:
    with pytest.raises(DgmError, match=key.split("_")[0]):
        RunConfig.from_dict({"model": "gaussian", "data": "moons", key: value}).resolve()


def test_unknown_key() -> None:
    with pytest.raises(DgmError, match="unknown config key 'learning_rate'"):
        RunConfig.from_dict({"model": "g", "data": "d", "learning_rate": 1})


def test_durations() -> None:
    assert parse_duration("5m") == 300 and parse_duration("1.5h") == 5400
    assert parse_duration("00:01:00:05") == 3605


def test_yaml(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("lr: 0.01\nmodel_args:\n  init: standard\n")
    assert read_yaml(tmp_path / "a.yaml") == {"lr": 0.01, "model_args": {"init": "standard"}}
    (tmp_path / "b.yaml").write_text("- 1\n")
    with pytest.raises(DgmError, match="mapping"):
        read_yaml(tmp_path / "b.yaml")
    with pytest.raises(DgmError, match="does not exist"):
        read_yaml(tmp_path / "c.yaml")


def test_config_doc_is_up_to_date() -> None:
    from dgm.config import config_doc

    doc = Path(__file__).resolve().parents[1] / "docs" / "config.md"
    assert doc.read_text() == config_doc(), "regenerate docs/config.md with dgm.config.config_doc()"


def test_every_config_key_is_documented_with_type_and_default() -> None:
    import dataclasses

    from dgm.config import config_doc

    doc = config_doc()
    for f in dataclasses.fields(RunConfig):
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{f.name}` |"))
        cells = [c.strip() for c in row.replace("\\|", "¦").split("|")[1:-1]]
        assert len(cells) == 4 and all(cells), row  # key, type, default, meaning


def test_train_help_points_at_the_config_doc(capsys: pytest.CaptureFixture) -> None:
    from dgm.cli.main import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "docs/config.md" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("batch_size", 12345678901234567890123, "batch_size is too large"),
        ("batch_size", "12345678901234567890123", "batch_size is too large"),
        ("seed", 10**400, "seed is too large"),
        ("lr", "inf", "lr must be a finite number"),
        ("lr", float("nan"), "lr must be a finite number"),
    ],
)
def test_numbers_out_of_range_say_so(key: str, value: object, message: str) -> None:
    with pytest.raises(DgmError, match=message):
        RunConfig.from_dict({"model": "gaussian", "data": "moons", key: value}).resolve()
