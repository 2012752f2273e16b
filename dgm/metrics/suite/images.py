"""The registered metrics of image samples in the features of dgm's shipped classifiers (FID, KID,
Inception score; `dgm.metrics.features`), with no download. Each is a function of an `Evaluation`."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dgm.data.dequantize import pipeline_noise
from dgm.metrics.evaluate import Evaluation, Metric
from dgm.metrics.features import class_probabilities, feature_metadata, features
from dgm.metrics.frechet import frechet_distance, inception_score, kid
from dgm.metrics.uncertainty import SUBSETS, subset_se, subset_values
from dgm.registry import METRICS


def _reference_images(ev: Evaluation) -> Tensor:
    """The real images model samples are compared with: the evaluation points as stored (grey levels
    in [0, 1], never dequantised: the reference statistics are those of real images), or, for a
    binary model, the binarised points it was fit to and whose law its samples follow (`ev.x`)."""
    return ev.x if ev.model.binary else ev.data.split(ev.split)[: ev.x.shape[0]]  # x: the split's first


def _dequantised_levels(ev: Evaluation) -> int | None:
    """L when the model's samples are dequantised values x̃ = (k + u)/L: it was fit to uniformly
    dequantised data, or it dequantises variationally itself (and samples x̃); else None."""
    noise = pipeline_noise(ev.data.levels, ev.model)
    if noise is not None and noise.kind == "dequantize":
        return noise.levels
    dequantizer = getattr(ev.model, "dequantizer", None)
    return None if dequantizer is None else dequantizer.levels


def _sample_images(ev: Evaluation) -> Tensor:
    """The model's samples as images of the reference's kind, clamped into [0, 1]: dequantised
    samples x̃ = (k + u)/L are put back on the stored grey levels, k = ⌊L·x̃⌋ ↦ k/(L − 1) (the
    inverse of the dequantisation), since the reference images and the shipped floors are those."""
    x = ev.samples().clamp(0, 1)
    levels = _dequantised_levels(ev)
    if levels is None:
        return x
    return torch.floor(x * levels).clamp_(max=levels - 1) / (levels - 1)


def _image_features(ev: Evaluation) -> tuple[Tensor, Tensor]:
    """Features (float64, on the CPU) of the model's samples (`_sample_images`) and of the
    reference images, under the data's shipped feature net; computed once per evaluation."""
    if "features_fake" not in ev._cache:
        device = next(ev.model.parameters()).device
        ev._cache["features_fake"] = features(_sample_images(ev).to(device), ev.data.name).cpu()
        ev._cache["features_real"] = features(_reference_images(ev).to(device), ev.data.name).cpu()
    return ev._cache["features_fake"], ev._cache["features_real"]


def _fid(ev: Evaluation) -> dict[str, float]:
    """The Fréchet distance between model samples and the reference images in dgm's own feature
    space (`dgm.metrics.features`), not Inception's, with both sample sizes (it is biased in them),
    and the real-data floor at the nearest n_fake: the test split against that many training images,
    precomputed with the feature net (of grey images, so not given for a binary model).

    Its standard error is the spread of the FID on SUBSETS disjoint subsets of both sets, scaled to
    the whole sets as if its variance fell as 1/n (`dgm.metrics.uncertainty`): sampling variability
    only, not the bias, and rough (each subset's FID is about SUBSETS times as biased, more so near
    the floor, where the SE is conservative). Given only when every subset holds more rows than
    there are features (else its covariances are singular)."""
    fake, real = _image_features(ev)
    if len(fake) < 2 or len(real) < 2:
        return {}
    out = {"fid": frechet_distance(fake, real), "fid_n_fake": len(fake), "fid_n_real": len(real)}
    if min(len(fake), len(real)) // SUBSETS > fake.shape[1]:
        out["fid_se"] = subset_se(
            subset_values(frechet_distance, fake, real, subsets=SUBSETS, seed=ev.seed)
        ).item()
    floor = _floor(ev, len(fake))
    if floor:
        out.update(fid_floor=floor["fid"], fid_floor_n_fake=floor["n_fake"], fid_floor_n_real=floor["n_real"])
    return out


def _floor(ev: Evaluation, n_fake: int) -> dict[str, float] | None:
    """The shipped real-data floor nearest n_fake (training images against the test split), or None
    for a binary model (the floors are of grey images) or data without floors."""
    floors = feature_metadata(ev.data.name).get("floors", {}).get("fid", [])
    if not floors or ev.model.binary:
        return None
    return min(floors, key=lambda f: abs(math.log(f["n_fake"] / n_fake)))


def _kid(ev: Evaluation) -> dict[str, float]:
    """The kernel inception distance (unbiased MMD², cubic kernel) between model samples and the
    reference images in dgm's feature space, over seeded subsets of up to 1,000, with its SE, and
    the real-data floor's (≈ 0: the estimate is unbiased) with its own."""
    fake, real = _image_features(ev)
    if len(fake) < 2 or len(real) < 2:
        return {}
    value, se = kid(fake, real, seed=ev.seed)
    out = {"kid": value, "kid_se": se}
    floor = _floor(ev, len(fake))
    if floor:
        out.update(kid_floor=floor["kid"], kid_floor_se=floor["kid_se"], kid_floor_n_fake=floor["n_fake"])
    return out


def _is(ev: Evaluation) -> dict[str, float]:
    """The Inception score of the model's samples under dgm's classifier of the data (10 splits)."""
    if "probs_fake" not in ev._cache:
        device = next(ev.model.parameters()).device
        ev._cache["probs_fake"] = class_probabilities(_sample_images(ev).to(device), ev.data.name).cpu()
    probs = ev._cache["probs_fake"]
    if len(probs) < 10:
        return {}
    value, se = inception_score(probs, 10, seed=ev.seed)
    return {"inception_score": value, "inception_score_se": se}


METRICS.add(
    "fid",
    Metric(_fid, needs_features=True),
    "Fréchet distance in dgm's MNIST (or digits) classifier features, not Inception's: compare only "
    "with scores at the same fid_n_fake and fid_n_real (it is biased in them) and with fid_floor, "
    "real test images against fid_floor_n_fake training images; fid_se from disjoint subsets "
    "(sampling variability only)",
)


METRICS.add(
    "kid",
    Metric(_kid, needs_features=True, extended=True),
    "kernel inception distance (unbiased MMD², cubic kernel) in dgm's classifier features, not "
    "Inception's, with its standard error; ≈ 0 for samples of the data's law (kid_floor, ± "
    "kid_floor_se: real training images against the test split)",
)


METRICS.add(
    "inception_score",
    Metric(_is, needs_features=True, extended=True),
    "Inception score exp E KL(p(y|x) ‖ p(y)) of the samples under dgm's classifier, not Inception; "
    "at most 10; the real test split's own score is in the feature net's JSON (MNIST: 9.65)",
)
