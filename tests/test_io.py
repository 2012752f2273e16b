"""Model files: safetensors + JSON round trip; corrupted or hostile files fail cleanly."""

from __future__ import annotations

import json
import math
import pickle
import resource
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import dgm
import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model, model_arguments
from dgm.errors import DgmError
from dgm.io import save_model
from dgm.registry import MODELS
from dgm.testing import example_batch


def _saved(tmp_path: Path, name: str = "gaussian") -> tuple[Path, torch.nn.Module, torch.Tensor]:
    preprocess, x = example_batch(name, 100, torch.float32)
    model = build_model(name, tuple(x.shape[1:]), preprocess)
    model.transform.fit(x)
    model.initialize(x)
    config = {"model": name, "model_args": {}, "preprocess": preprocess, "event_shape": list(x.shape[1:])}
    save_model(tmp_path, model, {**config, "dtype": "float32"})
    return tmp_path, model, x


@pytest.mark.parametrize("name", MODELS.names())
def test_round_trip(tmp_path: Path, name: str) -> None:
    run, model, x = _saved(tmp_path, name)
    loaded = dgm.load(run)
    x = x[:10]
    if model.has_density:
        assert torch.equal(loaded.log_prob(x), model.eval().log_prob(x))
    assert json.loads((run / "config.json").read_text())["dgm_version"] == dgm.__version__
    assert not list(run.glob(".*.tmp"))


_SWITCHES = [(n, k) for n in MODELS.names() for k, v in model_arguments(n).items() if v is False]


@pytest.mark.parametrize(("name", "switch"), _SWITCHES, ids=[f"{n}-{k}" for n, k in _SWITCHES])
def test_round_trip_with_each_switch_on(tmp_path: Path, name: str, switch: str) -> None:
    """Every model's true/false option, turned on, saves and loads, on vectors or else on images
    (BatchNorm is for convolutional networks): options change the tensors a model holds, and
    spectral normalisation once made its runs unloadable (its power iteration reassigns tensors,
    which the bound on a model's construction counted as new ones)."""
    entry = MODELS.get(name)
    batches = {"points": torch.randn(100, 3) * 2 + 1, "image": torch.rand(100, 1, 4, 4) * 0.98 + 0.01}
    usable = []
    for kind in entry.data_kinds:
        try:
            entry.check_arguments({switch: True}, tuple(batches[kind].shape[1:]))
            usable.append(kind)
        except ValueError:
            pass
    assert usable, f"{name}: {switch}=true is refused on every kind of data"
    x, args = batches[usable[0]], {switch: True}
    preprocess = entry.pipeline_defaults(usable[0], args)[0]
    model = build_model(name, tuple(x.shape[1:]), preprocess, args)
    model.transform.fit(x)
    model.initialize(x)
    config = {"model": name, "model_args": args, "preprocess": preprocess, "event_shape": list(x.shape[1:])}
    save_model(tmp_path, model, {**config, "dtype": "float32"})
    loaded, saved = dgm.load(tmp_path).state_dict(), model.state_dict()
    assert loaded.keys() == saved.keys()
    assert all(torch.equal(loaded[k], v) for k, v in saved.items())


class _Boom:
    def __reduce__(self) -> tuple:
        return (Path("/tmp/dgm-pwned").touch, ())


def test_pickle_payload_renamed_executes_nothing(tmp_path: Path) -> None:
    run, _, _ = _saved(tmp_path)
    (run / "model.safetensors").write_bytes(pickle.dumps({"w": _Boom()}))
    Path("/tmp/dgm-pwned").unlink(missing_ok=True)
    with pytest.raises(DgmError, match="not a valid safetensors"):
        dgm.load(run)
    assert not Path("/tmp/dgm-pwned").exists()


def test_truncated_weights(tmp_path: Path) -> None:
    run, _, _ = _saved(tmp_path)
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(DgmError, match="safetensors"):
        dgm.load(run)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"model": "gaussian"}', "lacks the key"),
        ('{"model": "nope", "event_shape": [2], "preprocess": "none"}', "unknown model"),
    ],
)
def test_bad_config(tmp_path: Path, content: str, message: str) -> None:
    run, _, _ = _saved(tmp_path)
    (run / "config.json").write_text(content)
    with pytest.raises(DgmError, match=message):
        dgm.load(run)


def test_weights_that_do_not_match_the_config(tmp_path: Path) -> None:
    run, _, _ = _saved(tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "event_shape": [5]}))
    with pytest.raises(DgmError, match="does not match"):
        dgm.load(run)


def test_missing_run(tmp_path: Path) -> None:
    with pytest.raises(DgmError, match="does not exist"):
        dgm.load(tmp_path / "nothing")


def _tamper_weights(run: Path, change: Callable[[str, torch.Tensor], torch.Tensor]) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(run / "model.safetensors"))
    save_file({k: change(k, v) for k, v in state.items()}, str(run / "model.safetensors"))


def _first_float(run: Path) -> str:
    from safetensors.torch import load_file

    return next(k for k, v in load_file(str(run / "model.safetensors")).items() if v.is_floating_point())


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("dtype", [torch.int32, torch.float64])
def test_weights_of_another_dtype_are_refused(tmp_path: Path, name: str, dtype: torch.dtype) -> None:
    run, _, _ = _saved(tmp_path, name)
    key = _first_float(run)
    _tamper_weights(run, lambda k, v: v.to(dtype) if k == key else v)
    with pytest.raises(DgmError, match=f"{key} has dtype {str(dtype)[6:]}, the model in config.json expects"):
        dgm.load(run)


@pytest.mark.parametrize("name", MODELS.names())
def test_non_finite_weights_are_refused(tmp_path: Path, name: str) -> None:
    run, _, _ = _saved(tmp_path, name)
    key = _first_float(run)
    _tamper_weights(run, lambda k, v: v * math.nan if k == key else v)
    with pytest.raises(DgmError, match="NaN or infinite"):
        dgm.load(run)


def _set_model_args(run: Path, **args: object) -> None:
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "model_args": {**cfg["model_args"], **args}}))


def test_non_finite_model_arguments_are_refused(tmp_path: Path) -> None:
    run, _, _ = _saved(tmp_path, "realnvp")
    _set_model_args(run, scale_bound=math.nan)  # json writes NaN, which Python's json reads back
    with pytest.raises(DgmError, match="model_args.scale_bound of 'realnvp' must be a finite number"):
        dgm.load(run)


@pytest.mark.parametrize("name", MODELS.names())
def test_huge_architectures_fail_before_anything_is_allocated(tmp_path: Path, name: str) -> None:
    """Each size argument set to 10⁷ (hidden: 400 TB of weights) or 10⁹ (10⁹ layers: a hang) must
    fail at once, from the header of the weights file, with no memory taken. An integer that does
    not shape the weights (a solver's step count) loads the same weights and allocates nothing."""
    run, model, _ = _saved(tmp_path, name)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    sizes = {k: v for k, v in model_arguments(name).items() if type(v) is int or isinstance(v, tuple)}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    for key, default in sizes.items():
        for size in (10**7, 10**9):
            _set_model_args(run, **{key: [size] * len(default) if isinstance(default, tuple) else size})
            try:
                loaded = dgm.load(run)
            except DgmError:
                continue
            assert {k: v.shape for k, v in loaded.state_dict().items()} == shapes, key
        _set_model_args(run, **{key: default})
    assert time.perf_counter() - start < 10 + 2 * len(sizes)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # kB


def test_config_is_read_with_a_size_limit(tmp_path: Path) -> None:
    run, _, _ = _saved(tmp_path)
    (run / "config.json").unlink()
    (run / "config.json").symlink_to("/dev/zero")
    with pytest.raises(DgmError, match="not a regular file"):
        dgm.load(run)
    (run / "config.json").unlink()
    (run / "config.json").write_text(" " * 2**21 + "{}")
    with pytest.raises(DgmError, match="larger than"):
        dgm.load(run)


def test_weights_that_are_not_a_file_are_refused(tmp_path: Path) -> None:
    run, _, _ = _saved(tmp_path)
    (run / "model.safetensors").unlink()
    (run / "model.safetensors").symlink_to("/dev/zero")
    with pytest.raises(DgmError, match="not a regular file"):
        dgm.load(run)


def test_label_values_in_a_model_file_are_checked() -> None:
    from dgm.io import label_values

    assert label_values({"data": {}}, 3) == [0, 1, 2]  # files from before labels were mapped
    assert label_values({"data": {"label_values": [-7, 0, 5000]}}, 3) == [-7, 0, 5000]
    for bad in ([0, 0, 1], [0, 1], [0, 1, "2"]):
        with pytest.raises(DgmError, match="3 distinct integers"):
            label_values({"data": {"label_values": bad}}, 3)


def test_metrics_of_a_killed_run_leave_out_its_cut_last_line(tmp_path: Path) -> None:
    """A run killed while appending leaves a line without its newline: the rows before it are
    read (and plotted), the cut one is not; a complete line that is no numbers is named."""
    from dgm.io import read_metrics
    from dgm.plots import training_curves

    path = tmp_path / "metrics.csv"
    path.write_text("step,wall_time,train/loss\n10,1.0,0.5\n20,2.0,\n30,3.0,1e-")
    assert read_metrics(path) == [
        {"step": 10.0, "wall_time": 1.0, "train/loss": 0.5},
        {"step": 20.0, "wall_time": 2.0},
    ]
    assert training_curves(path, tmp_path / "training.png") == tmp_path / "training.png"
    path.write_text("step,wall_time\n10,x\n")
    with pytest.raises(DgmError, match="line 2: not a row of numbers"):
        read_metrics(path)


def test_a_run_saved_under_a_renamed_argument_still_loads(tmp_path: Path) -> None:
    """The flows' `batchnorm` is now `batch_norm`, as the GANs and VAEs spell it: a config.json
    written with the old name rebuilds the same model."""
    x = torch.randn(100, 2)
    model = build_model("realnvp", (2,), "standardize", {"transforms": 2, "batch_norm": True})
    model.transform.fit(x)
    model.initialize(x)
    config = {"model": "realnvp", "model_args": {"transforms": 2, "batchnorm": True}, "dtype": "float32"}
    save_model(tmp_path, model, {**config, "preprocess": "standardize", "event_shape": [2]})
    assert torch.equal(dgm.load(tmp_path).log_prob(x), model.eval().log_prob(x))
