"""The registered metrics of a model's density: NLL (exact or importance-sampled), the −ELBO bound,
KL to a known truth, bits/dim, normalisation on a grid, a flow's transport cost, and the accuracy
of a model's own classifier. Each is a function of an `Evaluation`."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dgm.data.dequantize import bits_per_dim, bits_per_dim_se
from dgm.metrics.evaluate import Evaluation, Metric, classifier_inputs, model_classifier
from dgm.metrics.likelihood import mean_and_se
from dgm.metrics.normalization import grid_mass, padded_extent
from dgm.registry import METRICS
from dgm.utils import one_hot


def _nll(ev: Evaluation) -> dict[str, float]:
    """−log p: exact; importance-sampled for a bounded density (reported with its K, `nll_k`); or,
    for a continuous flow above 32 dimensions, with Hutchinson's unbiased estimate of the trace
    (reported with its probes per point, `nll_probes`). The standard error includes the estimate's
    own spread, since every point's value carries its own draws."""
    nll, se = mean_and_se(-ev.log_prob())
    out = {"nll": nll, "nll_se": se}
    if ev.model.density != "exact":
        out["nll_k"] = ev.importance_samples
    elif ev.model.log_prob_probes:
        out["nll_probes"] = ev.model.log_prob_probes
    return out


def _nll_bound(ev: Evaluation) -> dict[str, float]:
    """−ELBO, an upper bound on the NLL (never reported as the NLL itself)."""
    nll, se = mean_and_se(-ev.elbo())
    out = {"nll_bound": nll, "nll_bound_se": se}
    if ev.levels is not None:
        out["bits_per_dim_bound"] = bits_per_dim(nll, ev.data.dim, ev.levels)
        out["bits_per_dim_bound_se"] = bits_per_dim_se(se, ev.data.dim)
    return out


def _bpd(ev: Evaluation) -> dict[str, float]:
    """Bits per dimension of discrete data: (E[−log p(x̃)]/D + log L)/ln 2 on dequantised x̃, with
    its standard error se(NLL)/(D ln 2)."""
    nll, se = mean_and_se(-ev.log_prob())
    return {
        "bits_per_dim": bits_per_dim(nll, ev.data.dim, ev.levels),
        "bits_per_dim_se": bits_per_dim_se(se, ev.data.dim),
    }


def _kl(ev: Evaluation) -> dict[str, float]:
    """KL(p_data || p_model) = E_data[−log p_model] − H(p_data), with both standard errors combined;
    for a bounded density from its importance-sampled NLL (`nll_k`), which overstates the KL in
    expectation (E log p̂ ≤ log p) by less as K grows."""
    nll, se = mean_and_se(-ev.log_prob())
    h, h_se = ev.data.entropy
    out = {"kl": nll - h, "kl_se": math.hypot(se, h_se), "entropy": h}
    if ev.model.density != "exact":
        out["kl_k"] = ev.importance_samples
    return out


def _mass(ev: Evaluation) -> dict[str, float]:
    """∫ p_model over the data's box widened by half its size on each side (≈ 1 for a density)."""
    p = next(ev.model.parameters())
    n = getattr(ev.model, "core", ev.model).density_grid
    if ev.c is None:
        mass = grid_mass(lambda pts: ev.model.log_prob(pts.to(p)), padded_extent(ev.x), n)
        return {"normalization": mass}
    # p(x | c) must integrate to one for every class c: report the worst class.
    masses = []
    for k in range(ev.model.context_features):
        ck = one_hot(torch.tensor([k]), ev.model.context_features, p)
        masses.append(
            grid_mass(
                lambda pts, ck=ck: ev.model.log_prob(pts.to(p), ck.expand(len(pts), -1)),
                padded_extent(ev.x),
                n,
            )
        )
    return {"normalization": max(masses, key=lambda m: abs(m - 1))}


def _transport(ev: Evaluation) -> dict[str, float]:
    """E‖f(y) − y‖² over the evaluation points, y = T(x) the preprocessed data and f the flow's map
    to the latent space: how far the model moves mass (OT-Flow's and flow matching's concern)."""
    core = getattr(ev.model, "core", ev.model)

    def displacement(x: Tensor, c: Tensor | None) -> Tensor:
        y = ev.model.preprocess(x)[0] if hasattr(ev.model, "preprocess") else x
        z = core.inverse(y, c)
        if z.shape != y.shape:  # a multi-scale latent has another shape: no displacement to measure
            return torch.full((len(x),), math.nan, dtype=x.dtype, device=x.device)
        return (z - y).flatten(1).pow(2).sum(1)

    cost = ev._per_sample("transport", displacement)
    if not torch.isfinite(cost).all():
        return {}
    mean, se = mean_and_se(cost)
    return {"transport_cost": mean, "transport_cost_se": se}


def _accuracy(ev: Evaluation) -> dict[str, float]:
    """The classifier's accuracy on the evaluation points, with its binomial standard error."""
    classify = model_classifier(ev)
    inputs = classifier_inputs(ev.model, ev.data, ev.split, ev.seed)[: len(ev.x)].to(ev.x)
    hits = ev._per_sample("hits", lambda x, c: (classify(x) == c.argmax(1)).to(x.dtype), points=inputs)
    acc = hits.mean().item()
    return {"accuracy": acc, "accuracy_se": math.sqrt(acc * (1 - acc) / len(hits))}


METRICS.add(
    "nll",
    Metric(_nll, density=("exact", "estimate")),
    "negative log-likelihood, nats per sample (importance-sampled with nll_k samples for a bound; "
    "images: of the dequantised values in [0, 1)^D, bits_per_dim the 8-bit figure)",
)


METRICS.add(
    "nll_bound",
    Metric(_nll_bound, density=("bound", "estimate")),
    "negative ELBO, an upper bound on the NLL (models whose density is only bounded)",
)


METRICS.add(
    "kl",
    Metric(_kl, density=("exact", "estimate"), needs_truth=True),
    "KL(p_data || p_model) = NLL − H (importance-sampled with nll_k samples for a bound)",
)


METRICS.add(
    "bits_per_dim",
    Metric(_bpd, density=("exact", "estimate"), needs_levels=True),
    "bits per dimension of discrete data (images), dequantised, upper bound",
)


METRICS.add(
    "transport_cost",
    Metric(_transport, needs_map=True),
    "E‖f(x) − x‖² of a flow's map from data to latent, in the model's preprocessed coordinates",
)


METRICS.add(
    "accuracy",
    Metric(_accuracy, needs_classifier=True),
    "accuracy of the model's own classifier q(y | x) on labelled data (semi-supervised VAEs)",
)


METRICS.add(
    "normalization",
    Metric(_mass, density=("exact",), needs_2d=True),
    "∫ p_model dx on a grid around 2-D data (should be 1)",
)
