"""The registered metrics of a model's samples against data: they need no density, so they judge
every family alike (energy distance, the seed's statistic, MMD, sliced and exact Wasserstein,
Sinkhorn, precision/recall/density/coverage, a classifier two-sample test, memorisation, mode
coverage, synthetic-data utility). Each is a function of an `Evaluation`."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor

from dgm.metrics.c2st import c2st
from dgm.metrics.evaluate import Evaluation, Metric
from dgm.metrics.likelihood import mean_and_se
from dgm.metrics.manifold import PRDC, prdc
from dgm.metrics.memorisation import memorisation_ratio
from dgm.metrics.mmd import SCALES as MMD_SCALES
from dgm.metrics.mmd import median_bandwidths, mmd2
from dgm.metrics.modes import mode_statistics
from dgm.metrics.samples import energy_distance, seed_energy_statistic
from dgm.metrics.uncertainty import SUBSETS, seeded_order, subset_se, subset_values
from dgm.metrics.utility import synthetic_utility
from dgm.metrics.wasserstein import sinkhorn_divergence, sliced_wasserstein, wasserstein
from dgm.nn import has_batch_norm
from dgm.registry import METRICS
from dgm.utils import seeded

#: at most this many points per side for exact OT (network simplex: time and memory grow as n²)
OT_POINTS = 1000


#: at most this many points per side for the Sinkhorn divergence (dense n × n log-domain iterations)
SINKHORN_POINTS = 500


def _energy(ev: Evaluation) -> dict[str, float]:
    """All model samples against (at most n_samples) data points; the unbiased estimate can dip below 0."""
    samples = ev.samples()
    if ev.c is not None:  # a conditional model's samples follow the first labels: compare with those points
        x = ev.x[: samples.shape[0]]
    else:
        x = ev.x[seeded_order(ev.x, seed=ev.seed + 1)[: ev.n_samples]]
    if x.shape[0] < 2 or samples.shape[0] < 2:
        return {}  # a U-statistic needs two points on each side
    # Sample i shares point i's label, so the two are dependent: pairs (i, i) leave the cross mean.
    paired = ev.c is not None
    out = {"energy_distance": energy_distance(samples, x, paired=paired).item(), "energy_n": len(x)}
    if min(len(samples), len(x)) >= 2 * SUBSETS:

        def energy(a: Tensor, b: Tensor) -> Tensor:
            return energy_distance(a, b, paired=paired)

        values = subset_values(energy, samples, x, subsets=SUBSETS, seed=ev.seed, paired=paired)
        out["energy_distance_se"] = subset_se(values).item()
    return out


def _seed_energy(ev: Evaluation, batches: int = 50, size: int = 64) -> dict[str, float]:
    """The seed paper's statistic on `batches` pairs of 64 model samples and 64 evaluation points
    (drawn with the seed); also × 1,000, the scale of the seed's logs (a sum over 1,000 steps).

    For an unconditional GAN whose generator has BatchNorm, also the statistic as the seed's
    training loop scored its generator (`seed_energy_batch_stats`): each batch of 64 drawn in
    training mode, normalised by its own statistics, not by the running ones a trained network
    samples with."""
    samples = ev.samples()
    n = min(len(samples), ev.x.shape[0], batches * size) // size * size
    if n < size:
        return {}
    # samples dealt in the order of seed, points of seed + 1, as everywhere (`two_sample_orders`)
    samples = samples[seeded_order(samples, seed=ev.seed)[:n]]
    data = ev.x[seeded_order(ev.x, seed=ev.seed + 1)[:n]].split(size)
    out = _seed_energy_values("seed_energy", samples.split(size), data)
    generator = getattr(getattr(ev.model, "core", ev.model), "generator", None)
    if ev.c is None and generator is not None and has_batch_norm(generator):
        out |= _seed_energy_values("seed_energy_batch_stats", _batch_stats_samples(ev, len(data), size), data)
    return out


def _seed_energy_values(key: str, samples: Sequence[Tensor], data: Sequence[Tensor]) -> dict[str, float]:
    values = torch.stack([seed_energy_statistic(s, d) for s, d in zip(samples, data, strict=True)])
    mean, se = mean_and_se(values)
    return {key: mean, f"{key}_se": se, f"{key}_x1000": 1000 * mean, f"{key}_batches": len(values)}


def _batch_stats_samples(ev: Evaluation, batches: int, size: int) -> list[Tensor]:
    """`batches` draws of `size` samples by a copy of the model in training mode (the model's own
    running statistics stay as they are)."""
    model = copy.deepcopy(ev.model).train()
    p = next(model.parameters())
    with seeded(ev.seed, p.device), torch.no_grad():
        return [model.sample(size).cpu() for _ in range(batches)]


def _modes(ev: Evaluation) -> dict[str, float]:
    """Mode coverage of the model's samples on a toy of known modes (see `dgm.metrics.modes`)."""
    centres, std = ev.data.modes
    return mode_statistics(ev.samples(), centres, std)


def _compared(ev: Evaluation) -> tuple[Tensor, Tensor, bool]:
    """Model samples, as many evaluation points, and whether the two are paired. A conditional
    model's samples follow the first labels of ev.x: they are compared with those points, sample i
    paired with point i (as in `_energy`); otherwise with the seeded subset of points `_energy` uses
    (seed + 1), and where the split holds fewer points than n_samples, with a seeded subset of as
    many samples (seed)."""
    samples = ev.samples()
    if ev.c is not None:
        return samples, ev.x[: samples.shape[0]], True
    keep = seeded_order(ev.x, seed=ev.seed + 1)[: samples.shape[0]]
    return samples[seeded_order(samples, seed=ev.seed)[: len(keep)]], ev.x[keep], False


def _subsample(samples: Tensor, x: Tensor, paired: bool, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """At most n of each, a seeded subsample (pairs kept together) that does not depend on the order."""
    if paired:
        keep = seeded_order(samples, x, seed=seed)[:n]
        return samples[keep], x[keep]
    return samples[seeded_order(samples, seed=seed)[:n]], x[seeded_order(x, seed=seed + 1)[:n]]


def _mmd(ev: Evaluation) -> dict[str, float]:
    """Unbiased MMD² of the samples against the points, RBF kernels at the points' median distance
    (mmd_bandwidth) × 0.25 … 4: the data alone fix the kernel, so every model of one data set is
    judged with the same one. SE over SUBSETS subsets (conservative near MMD² = 0)."""
    samples, x, paired = _compared(ev)
    if len(x) < 2 * SUBSETS:
        return {}
    median = median_bandwidths(x, scales=(1.0,), seed=ev.seed)
    h = median * torch.tensor(MMD_SCALES, dtype=torch.float64)
    values = subset_values(
        lambda a, b: mmd2(a, b, h, paired=paired), samples, x, subsets=SUBSETS, seed=ev.seed, paired=paired
    )
    return {
        "mmd2": mmd2(samples, x, h, paired=paired).item(),
        "mmd2_se": subset_se(values).item(),
        "mmd_n": len(x),
        "mmd_bandwidth": median.item(),
    }


def _sliced_wasserstein(ev: Evaluation) -> dict[str, float]:
    """Sliced W_2 (200 directions drawn from the seed) of the samples against the points, with its
    SE over SUBSETS subsets."""
    samples, x, paired = _compared(ev)
    if len(x) < 2 * SUBSETS:
        return {}

    def sw(a: Tensor, b: Tensor) -> Tensor:
        return sliced_wasserstein(a, b, seed=ev.seed)

    values = subset_values(sw, samples, x, subsets=SUBSETS, seed=ev.seed, paired=paired)
    return {"sw2": sw(samples, x).item(), "sw2_se": subset_se(values).item(), "sw_n": len(x)}


def _wasserstein(ev: Evaluation) -> dict[str, float]:
    """Exact W_1 and W_2 (the roots, not W_2²) on seeded subsamples of ot_n ≤ OT_POINTS samples and
    points, with SEs over SUBSETS subsets of those; biased upwards, more so in more dimensions: compare
    values at one ot_n only."""
    samples, x, paired = _compared(ev)
    if len(x) < 2 * SUBSETS:
        return {}
    a, b = _subsample(samples, x, paired, OT_POINTS, ev.seed)

    def both(u: Tensor, v: Tensor) -> list[float]:
        return [wasserstein(u, v, 1).item(), wasserstein(u, v, 2).item()]

    se = subset_se(subset_values(both, a, b, subsets=SUBSETS, seed=ev.seed, paired=paired))
    w1, w2 = both(a, b)
    return {"w1": w1, "w1_se": se[0].item(), "w2": w2, "w2_se": se[1].item(), "ot_n": len(a)}


def _sinkhorn(ev: Evaluation) -> dict[str, float]:
    """The debiased Sinkhorn divergence (squared Euclidean cost, ε = 0.05 × the mean cross cost) on
    seeded subsamples of sinkhorn_n ≤ SINKHORN_POINTS, with its SE over SUBSETS subsets of those."""
    samples, x, paired = _compared(ev)
    if len(x) < 2 * SUBSETS:
        return {}
    a, b = _subsample(samples, x, paired, SINKHORN_POINTS, ev.seed)
    reg = 0.05
    values = subset_values(
        lambda u, v: sinkhorn_divergence(u, v, reg), a, b, subsets=SUBSETS, seed=ev.seed, paired=paired
    )
    return {
        "sinkhorn_divergence": sinkhorn_divergence(a, b, reg).item(),
        "sinkhorn_divergence_se": subset_se(values).item(),
        "sinkhorn_n": len(a),
        "sinkhorn_reg": reg,
    }


def _prdc(ev: Evaluation) -> dict[str, float]:
    """Precision, recall, density and coverage (k = 5) of the samples against the points, with SEs
    over SUBSETS subsets (the sampling spread only: the values themselves depend on prdc_n)."""
    samples, x, paired = _compared(ev)
    k = 5
    if len(x) < SUBSETS * (k + 1):
        return {}
    values = subset_values(
        lambda a, b: prdc(b, a, k), samples, x, subsets=SUBSETS, seed=ev.seed, paired=paired
    )
    se = subset_se(values)
    # prefixed: "density" alone would read as the model's density kind (exact, bound, none)
    out = {f"prdc_{name}": v for name, v in prdc(x, samples, k)._asdict().items()}
    out.update({f"prdc_{name}_se": s.item() for name, s in zip(PRDC._fields, se, strict=True)})
    return {**out, "prdc_k": k, "prdc_n": len(x)}


def _c2st(ev: Evaluation) -> dict[str, float]:
    """The classifier two-sample test: held-out accuracy of extremely randomised trees telling points
    from samples (0.5: indistinguishable), its binomial SE and one-sided p-value against chance
    (k-NN, also in `dgm.metrics.c2st`, scores chance on laws of different spread in many dimensions)."""
    samples, x, paired = _compared(ev)
    if len(x) < 2:
        return {}
    r = c2st(x, samples, seed=ev.seed, paired=paired)
    return {
        "c2st_accuracy": r.accuracy,
        "c2st_accuracy_se": r.se,
        "c2st_p": r.p_value,
        "c2st_n": r.n_test,
    }


def _memorisation(ev: Evaluation) -> dict[str, float]:
    """Mean distance of the samples to their nearest training point over that of as many evaluation
    points (held out: not when the split evaluated is the training split)."""
    if ev.split == "train":
        return {}
    samples, x, _ = _compared(ev)
    train = ev.train_x()
    if len(x) < 2 or len(train) < 1:
        return {}
    r = memorisation_ratio(samples, train, x)
    return {
        "memorisation_ratio": r.ratio,
        "memorisation_ratio_se": r.se,
        "memorisation_n": len(samples),
        "memorisation_n_train": len(train),
        "memorisation_n_heldout": len(x),
    }


def _utility(ev: Evaluation) -> dict[str, float]:
    """Train on the conditional model's samples, test on the real points (see `dgm.metrics.utility`);
    the samples were drawn for the labels of the first n_samples points, the real twins come from
    the training split."""
    samples = ev.samples()
    train_y = ev.data.split_classes("train", ev.label_values)
    return synthetic_utility(
        samples,
        ev.c[: len(samples)].argmax(1).cpu(),
        ev.train_x(),
        train_y,
        ev.x,
        ev.c.argmax(1).cpu(),
        seed=ev.seed,
    )


METRICS.add(
    "energy_distance",
    Metric(_energy),
    "energy distance between model samples and data (an unbiased estimate of a non-negative "
    "quantity: it can be slightly negative when the two match)",
)


METRICS.add(
    "seed_energy",
    Metric(_seed_energy),
    "the seed paper's smoothed energy statistic, 64 samples vs 64 points per batch (mean over up to "
    "50 batches; seed_energy_x1000 is on the scale of the seed's logged sums over 1,000 steps); with "
    "a BatchNorm GAN also seed_energy_batch_stats, each batch drawn in training mode as the seed's loop did",
)


METRICS.add(
    "modes",
    Metric(_modes, needs_modes=True),
    "mode coverage on ring8/grid25: modes_covered (a sample within 3σ), high_quality share, "
    "mode_reverse_kl of the mode histogram against uniform",
)


METRICS.add(
    "mmd",
    Metric(_mmd, extended=True),
    "unbiased MMD² between samples and data, RBF kernels at the data's median distance "
    "(mmd_bandwidth) × 0.25, 0.5, 1, 2, 4; ≈ 0 (can dip below) when the two match",
)


METRICS.add(
    "sliced_wasserstein",
    Metric(_sliced_wasserstein, extended=True),
    "sliced W_2 between samples and data: the root mean W_2² of 1-D projections on 200 directions",
)


METRICS.add(
    "wasserstein",
    Metric(_wasserstein, needs_points=True, extended=True),
    "exact W_1 and W_2 (not squared) between samples and data on ot_n ≤ 1000 of each; biased upwards "
    "by the finite sample (more so in more dimensions): compare at one ot_n",
)


METRICS.add(
    "sinkhorn",
    Metric(_sinkhorn, extended=True),
    "debiased Sinkhorn divergence (squared Euclidean cost, ε = sinkhorn_reg × mean cost) between "
    "samples and data on sinkhorn_n ≤ 500 of each; ≥ 0, 0 when the two match",
)


METRICS.add(
    "prdc",
    Metric(_prdc, extended=True),
    "precision, recall, density and coverage of the samples against the data (Naeem et al. 2020, "
    "k-NN balls with k = prdc_k): prdc_precision, prdc_recall, prdc_density (≈ 1 when matched), "
    "prdc_coverage; the others ≈ 0.5-1 depending on n and D when matched",
)


METRICS.add(
    "c2st",
    Metric(_c2st, extended=True),
    "classifier two-sample test: held-out accuracy of 100 extremely randomised trees telling samples "
    "from data on c2st_n held-out points (0.5: indistinguishable, 1: separated), SE, p against chance",
)


METRICS.add(
    "memorisation",
    Metric(_memorisation, extended=True),
    "mean distance of samples to their nearest training point over that of held-out data (≈ 1: "
    "generalises, → 0: copies training points)",
)


METRICS.add(
    "utility",
    Metric(_utility, needs_conditional=True, extended=True),
    "synthetic-data utility of a conditional model: accuracy on the real points of a logistic "
    "regression trained on its samples (tstr), on as many real training points (trtr), on 10 real "
    "points per class (few_real) and on those plus the samples (augmented)",
)
