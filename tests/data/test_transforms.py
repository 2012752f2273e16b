"""Preprocessing transforms are bijections: inverse, log|det J| against autograd, in float64."""

from __future__ import annotations

import pytest
import torch

from dgm.data.transforms import PREPROCESSING, make_preprocessing
from dgm.errors import DgmError
from dgm.testing import check_bijection


@pytest.mark.parametrize("name", sorted(PREPROCESSING))
@pytest.mark.parametrize("shape", [(3,), (1, 2, 2)])
def test_preprocessing_is_a_bijection(name: str, shape: tuple[int, ...]) -> None:
    x = torch.randn(64, *shape, dtype=torch.float64) * 3 + 2
    if name == "logit":  # its domain is [0, 1]
        x = torch.rand(64, *shape, dtype=torch.float64)
    t = make_preprocessing(name, shape).double().fit(x)
    check_bijection(t, x[:8])


def test_standardize_whitens_the_training_data() -> None:
    x = torch.randn(1000, 2, dtype=torch.float64) * torch.tensor([5.0, 0.1], dtype=torch.float64) + 7
    y, ladj = make_preprocessing("standardize", (2,)).double().fit(x)(x)
    assert torch.allclose(y.mean(0), torch.zeros(2, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(y.std(0), torch.ones(2, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(ladj, -x.std(0).log().sum().expand(1000))


def test_standardize_floors_constant_features() -> None:
    x = torch.zeros(10, 2)
    t = make_preprocessing("standardize", (2,)).fit(x)
    assert torch.isfinite(t(x)[1]).all()


def test_unknown_preprocessing() -> None:
    with pytest.raises(DgmError, match="unknown preprocessing"):
        make_preprocessing("whiten", (2,))


def test_dequantised_uniform_density_has_log_levels_bits_per_dim() -> None:
    """A standard logistic density seen through the logit (α = 0) is uniform on [0, 1]^D, so every
    dequantised image has log p = 0 and costs exactly log2(L) bits per dimension."""
    from dgm.data.dequantize import bits_per_dim, dequantize
    from dgm.data.transforms import Logit

    levels, shape = 256, (1, 4, 4)
    x = torch.randint(0, levels, (500, *shape)).double() / (levels - 1)
    x_tilde = dequantize(x, levels, torch.Generator().manual_seed(0))
    assert ((x_tilde * levels).floor() == (x * (levels - 1)).round()).all()  # stays in its cell
    y, ladj = Logit(shape, alpha=0.0)(x_tilde)
    logistic = (-y - 2 * torch.nn.functional.softplus(-y)).reshape(500, -1).sum(1)  # log σ'(y)
    log_p = logistic + ladj
    assert torch.allclose(log_p, torch.zeros_like(log_p), atol=1e-9)
    assert bits_per_dim(-log_p.mean().item(), 16, levels) == pytest.approx(8.0, abs=1e-9)


def test_binarisation_draws_bernoulli_values_fresh_or_reproducibly() -> None:
    from dgm.data.dequantize import binarize

    x = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64).repeat(20_000, 1)
    b = binarize(x, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) == {0.0, 1.0}
    assert torch.allclose(b.mean(0), x[0], atol=0.015)  # E[b] = x (4 standard errors at p = ½)
    assert torch.equal(b, binarize(x, torch.Generator().manual_seed(0)))
    assert not torch.equal(binarize(x), binarize(x))  # training draws afresh


@pytest.mark.parametrize("kind", ["binarize", "dequantize"])
def test_the_pipeline_noise_mean_is_the_mean_of_its_draws(kind: str) -> None:
    from dgm.data.dequantize import PipelineNoise

    levels = 4
    x = torch.tensor([0.0, 1 / 3, 2 / 3, 1.0], dtype=torch.float64)
    noise = PipelineNoise(kind, levels)
    draws = noise(x.repeat(40_000, 1), torch.Generator().manual_seed(0))
    assert torch.allclose(draws.mean(0), noise.mean(x), atol=0.01)  # over 3 standard errors
    if kind == "dequantize":
        assert torch.allclose(noise.mean(x), torch.tensor([0.125, 0.375, 0.625, 0.875], dtype=torch.float64))


@pytest.mark.parametrize(
    ("model_args", "expected"),
    [
        ({}, ("dequantize", "logit")),  # a Gaussian decoder: a density of dequantised grey values
        ({"likelihood": "continuous-bernoulli"}, ("dequantize", "none")),
        ({"likelihood": "bernoulli"}, ("binarize", "none")),
        ({"likelihood": "logistic"}, (None, "none")),  # it takes the grey levels as they are
    ],
)
def test_the_pipeline_follows_the_decoder_likelihood(model_args: dict, expected: tuple) -> None:
    import dgm.catalog  # noqa: F401
    from dgm.build import build_model
    from dgm.data.dequantize import pipeline_noise
    from dgm.registry import MODELS

    preprocess, dequantize = MODELS.get("vae").pipeline_defaults("image", model_args)
    model = build_model("vae", (1, 8, 8), preprocess, model_args, dequantize=dequantize, levels=256)
    noise = pipeline_noise(256, model)
    assert (noise and noise.kind, preprocess) == expected
    assert pipeline_noise(None, model) is None  # continuous data arrive as they are


@pytest.mark.parametrize(
    ("model_args", "preprocess", "dequantize", "levels", "message"),
    [
        ({"likelihood": "bernoulli"}, "logit", "none", 256, "use preprocess=none"),
        ({"likelihood": "bernoulli"}, "none", "uniform", 256, "use dequantize=none"),
        ({"likelihood": "bernoulli"}, "none", "none", None, "scores grey values in"),
        ({"likelihood": "continuous-bernoulli"}, "none", "uniform", None, "scores grey values in"),
        ({}, "logit", "variational", 256, "use dequantize=uniform or none"),
        ({"likelihood": "logistic", "levels": 16}, "none", "none", 256, "set levels=256"),
    ],
)
def test_the_vae_refuses_data_its_likelihood_cannot_score(
    model_args: dict, preprocess: str, dequantize: str, levels: int | None, message: str
) -> None:
    import dgm.catalog  # noqa: F401
    from dgm.build import build_model

    with pytest.raises(DgmError, match=message):
        build_model("vae", (1, 8, 8), preprocess, model_args, dequantize=dequantize, levels=levels)


@pytest.mark.parametrize(
    ("model", "model_args", "refused"),
    [
        ("glow", {}, True),  # a density of continuous data on the lattice points: no likelihood
        ("vae", {}, True),  # a Gaussian decoder, likewise
        ("vae", {"likelihood": "bernoulli"}, False),  # a likelihood of discrete data
        ("dcgan", {}, False),  # no density to report
    ],
)
def test_discrete_data_left_undequantised_only_where_no_density_is_misreported(
    model: str, model_args: dict, refused: bool
) -> None:
    import dgm.catalog  # noqa: F401
    from dgm.config import RunConfig
    from dgm.data import load_data
    from dgm.errors import DgmError
    from dgm.train.fit import resolve

    given = {"model": model, "data": "digits", "dequantize": "none", "model_args": model_args}
    config = RunConfig.from_dict(given)
    if refused:
        with pytest.raises(DgmError, match="dequantize=none: 'digits' is discrete"):
            resolve(config, load_data("digits"))
    else:
        assert resolve(config, load_data("digits")).dequantize == "none"
    moons = RunConfig.from_dict({"model": "realnvp", "data": "moons"})
    assert resolve(moons, load_data("moons")).dequantize == "none"  # continuous data need none
