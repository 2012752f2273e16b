"""The shipped feature nets (package data, accuracy, floors) and the image metrics built on them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model
from dgm.data import load_data
from dgm.data.base import DataSource, seeded_split
from dgm.data.dequantize import dequantize
from dgm.data.mnist import load_mnist
from dgm.errors import DgmError
from dgm.metrics import Evaluation, evaluate
from dgm.metrics.features import (
    FEATURE_NETS,
    class_probabilities,
    feature_metadata,
    feature_net,
    features,
    has_feature_net,
    real_floors,
    training_subset,
)
from dgm.metrics.frechet import frechet_distance, inception_score
from dgm.metrics.suite.images import _dequantised_levels
from dgm.models.base import GenerativeModel
from dgm.registry import METRICS

MIN_ACCURACY = {"mnist": 0.99, "digits": 0.97}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One thread, as the nets were trained: on two contended cores these small convolutions and
    matrices run 3-5× slower with two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mnist() -> DataSource:
    try:
        return load_mnist(download=False)
    except DgmError as e:
        pytest.skip(f"MNIST is not available offline ({e}); set DGM_DATA to the folder of its .gz files")


def _data(name: str, request: pytest.FixtureRequest) -> DataSource:
    return request.getfixturevalue("mnist") if name == "mnist" else load_data(name)


_TEST_FEATURES: dict[str, torch.Tensor] = {}


def _test_features(name: str, data: DataSource) -> torch.Tensor:
    """Features of the whole test split, computed once for the tests that need them."""
    if name not in _TEST_FEATURES:
        _TEST_FEATURES[name] = features(data.split("test"), name)
    return _TEST_FEATURES[name]


@pytest.mark.parametrize("name", FEATURE_NETS)
def test_the_shipped_net_is_package_data_with_its_metadata(name: str) -> None:
    folder = resources.files("dgm.metrics") / "weights"
    weights = folder / f"{name}.safetensors"
    assert weights.is_file() and len(weights.read_bytes()) < 1_000_000
    meta = json.loads((folder / f"{name}.json").read_text())
    keys = {"architecture", "parameters", "weights_sha256", "command", "training", "test_accuracy", "floors"}
    assert keys <= set(meta)
    assert {"seed", "epochs"} <= set(meta["training"]) and "train_feature_nets.py" in meta["command"]
    assert meta["test_accuracy"] >= MIN_ACCURACY[name]
    net = feature_net(name)  # checks the SHA-256
    assert sum(p.numel() for p in net.parameters()) == meta["parameters"]
    assert not net.training and not any(p.requires_grad for p in net.parameters())


@pytest.mark.parametrize("name", FEATURE_NETS)
def test_the_test_accuracy_and_inception_score_match_the_metadata(
    name: str, request: pytest.FixtureRequest
) -> None:
    data = _data(name, request)
    meta = feature_metadata(name)
    # the head on the stored features: class_probabilities(test images) to the last bit
    probs = feature_net(name).head(_test_features(name, data).float()).double().softmax(1)
    accuracy = (probs.argmax(1) == data.split_labels("test")).double().mean().item()
    assert accuracy == pytest.approx(meta["test_accuracy"], abs=1e-3) and accuracy >= MIN_ACCURACY[name]
    ceiling = meta["floors"]["inception_score"]
    assert inception_score(probs, ceiling["splits"])[0] == pytest.approx(ceiling["value"], rel=1e-3)
    if name == "mnist":
        assert ceiling["value"] > 9.5  # near the ceiling of 10: confident, balanced predictions


def _recorded_floors(name: str) -> list[dict]:
    return feature_metadata(name)["floors"]["fid"]


def _check_floors(name: str, data: DataSource) -> None:
    recorded = _recorded_floors(name)
    floors = real_floors(name, data.split("train"), data.split("test"), tuple(f["n_fake"] for f in recorded))
    for floor, want in zip(floors, recorded, strict=True):
        assert floor["n_fake"] == want["n_fake"] and floor["n_real"] == want["n_real"]
        # the same computation: only the thread count's rounding in the convolutions may differ
        assert floor["fid"] == pytest.approx(want["fid"], rel=1e-4)
        assert floor["kid"] == pytest.approx(want["kid"], abs=1e-3 * want["kid_se"])
        assert floor["kid_se"] == pytest.approx(want["kid_se"], rel=1e-3)


def test_the_digits_floors_are_reproduced() -> None:
    _check_floors("digits", load_data("digits"))


def test_the_mnist_fid_floor_at_2000_training_images_is_reproduced(mnist: DataSource) -> None:
    """The fast check: the FID of the smallest recorded floor (its KID, in the slow test below)."""
    want = _recorded_floors("mnist")[0]
    fake = features(training_subset(mnist.split("train"), want["n_fake"]), "mnist")
    real = _test_features("mnist", mnist)
    assert len(real) == want["n_real"]
    assert frechet_distance(fake, real) == pytest.approx(want["fid"], rel=1e-4)


def test_the_mnist_fid_has_a_standard_error_and_the_nearest_floors(mnist: DataSource) -> None:
    """With 1,000 samples (5 subsets of 200 rows, more than the 128 features) the FID has its
    standard error; both floors come from the recorded one nearest 1,000 training images (2,000)."""
    model = build_model("vae", (1, 28, 28), "logit", {"latent": 2}, dequantize="uniform", levels=256)
    out = evaluate(model, mnist, "test", ["fid", "kid"], n_samples=1000, max_points=2000)
    assert out["fid"] > 5 * out["fid_se"] > 0  # an untrained model, far from the data
    floor = _recorded_floors("mnist")[0]
    assert floor["n_fake"] == 2000 and out["fid_floor"] == floor["fid"] and out["kid_floor"] == floor["kid"]


@pytest.mark.slow
def test_the_mnist_floors_are_reproduced(mnist: DataSource) -> None:
    _check_floors("mnist", mnist)


@pytest.mark.parametrize("name", FEATURE_NETS)
def test_fid_grows_with_gaussian_noise_on_real_images(name: str, request: pytest.FixtureRequest) -> None:
    data = _data(name, request)
    g = torch.Generator().manual_seed(0)
    test, train = data.split("test")[:2000], data.split("train")[:2000]
    real = features(train, name)
    fids = [
        frechet_distance(features((test + s * torch.randn(test.shape, generator=g)).clamp(0, 1), name), real)
        for s in (0.0, 0.1, 0.3)
    ]
    assert fids[0] < fids[1] < fids[2], fids


def test_features_and_probabilities_of_a_batch() -> None:
    x = torch.rand(7, 1, 8, 8)
    f = features(x, "digits", batch=3)
    assert f.shape == (7, feature_metadata("digits")["architecture"]["features"]) and f.dtype == torch.float64
    assert torch.allclose(f, features(x, "digits"), rtol=1e-5, atol=1e-5)  # batches: rounding only
    assert (f >= 0).all() and not f.requires_grad  # post-ReLU, no graph
    p = class_probabilities(x, "digits")
    assert p.shape == (7, 10) and torch.allclose(p.sum(1), torch.ones(7, dtype=torch.float64))
    assert has_feature_net("digits", (1, 8, 8)) and not has_feature_net("digits", (1, 28, 28))
    assert not has_feature_net("moons")
    with pytest.raises(DgmError, match=r"\(N, 1, 8, 8\)"):
        features(torch.rand(2, 1, 28, 28), "digits")
    with pytest.raises(DgmError, match="no feature net"):
        features(x, "cifar10")


def test_evaluate_reports_image_metrics_for_digits() -> None:
    data = load_data("digits")
    model = build_model("vae", (1, 8, 8), "logit", {"latent": 2}, dequantize="uniform", levels=17)
    out = evaluate(model, data, "test", ["fid", "kid", "inception_score"], n_samples=300)
    assert {"fid", "fid_n_fake", "fid_n_real", "fid_floor", "kid", "kid_se", "kid_floor"} <= set(out)
    assert {"inception_score", "inception_score_se"} <= set(out)
    assert out["fid_n_fake"] == 300 and out["fid_n_real"] == data.split("test").shape[0]
    assert out["fid"] > out["fid_floor"] > 0 and 1 <= out["inception_score"] <= 10
    assert out["kid"] > 5 * out["kid_se"]  # an untrained model is far from the data
    # 180 test images in 5 subsets of 36 rows, fewer than the 64 features: no FID standard error
    assert "fid_se" not in out
    floor = _recorded_floors("digits")[0]  # the only one: 1,437 training images
    assert (out["kid_floor"], out["kid_floor_se"], out["kid_floor_n_fake"]) == (
        floor["kid"], floor["kid_se"], floor["n_fake"])  # fmt: skip
    # a binary model is compared with the binarised images it models: no floor of grey images
    binary = build_model("vae", (1, 8, 8), "none", {"likelihood": "bernoulli"}, dequantize="none", levels=17)
    out = evaluate(binary, data, "test", ["fid", "kid"], n_samples=300)
    assert "fid" in out and "kid" in out and "fid_floor" not in out and "kid_floor" not in out


class _Replay(GenerativeModel):
    """A perfect model of some images under uniform dequantisation: its samples are them, dequantised."""

    density = "none"

    def __init__(self, images: torch.Tensor, levels: int) -> None:
        super().__init__(tuple(images.shape[1:]))
        self.images, self.levels, self.drawn = images, levels, 0
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # the metrics find the device by a parameter

    def sample(self, n: int, c: torch.Tensor | None = None) -> torch.Tensor:
        self.drawn += n  # evaluation draws in chunks: each call takes the next images
        return dequantize(self.images[self.drawn - n : self.drawn], self.levels)


def test_dequantised_samples_are_scored_on_the_stored_grey_levels() -> None:
    """The training images as a model's samples, dequantised as the model was trained on them,
    score the recorded floor (those images against the test split): the feature net sees them on
    the grid of the reference images. Left dequantised, they scored FID 7.3 against a floor of 2.8."""
    data = load_data("digits")
    floor = _recorded_floors("digits")[0]
    model = _Replay(training_subset(data.split("train"), floor["n_fake"]), data.levels)
    out = evaluate(model, data, "test", ["fid", "kid"], n_samples=floor["n_fake"])
    assert out["fid"] == pytest.approx(floor["fid"], rel=1e-6)
    assert out["kid"] == pytest.approx(floor["kid"], rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    ("dequantize", "likelihood", "levels"),
    [("uniform", None, 17), ("variational", None, 17), ("none", "bernoulli", None)],
)
def test_which_samples_are_put_back_on_the_grey_levels(
    dequantize: str, likelihood: str | None, levels: int | None
) -> None:
    """Samples x̃ = (k + u)/L of a model fit to uniformly dequantised data, or of one that
    dequantises variationally itself; not those of a binary model, compared with binary images."""
    data = load_data("digits")
    if likelihood:
        model = build_model(
            "vae", (1, 8, 8), "none", {"likelihood": likelihood}, dequantize=dequantize, levels=17
        )
    else:
        model = build_model("glow", (1, 8, 8), "logit", {}, dequantize=dequantize, levels=17)
    assert _dequantised_levels(Evaluation(model, data, data.split("test"))) == levels


def test_image_metrics_need_a_shipped_feature_net() -> None:
    points = DataSource("gauss", "points", seeded_split(torch.randn(300, 2)))
    model = build_model("gaussian", (2,), "none")
    ev = Evaluation(model, points, points.split("test"))
    assert not any(METRICS.get(m).applies(ev) for m in ("fid", "kid", "inception_score"))
    with pytest.raises(DgmError, match="feature net shipped by dgm"):
        evaluate(model, points, "test", ["kid"])
