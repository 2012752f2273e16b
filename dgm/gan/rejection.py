"""Discriminator rejection sampling (Azadi et al., 2019): a GAN's samples corrected towards the data
by its critic's density ratio.

A Jensen-Shannon critic at its optimum, D*(x) = p_data(x) / (p_data(x) + p_g(x)), holds the
density ratio in its logit: d*(x) = log p_data(x) − log p_g(x). Accepting a generator sample
x ~ p_g with probability exp(d(x) − M), M ≥ sup d, leaves the accepted samples distributed as

    p_g(x) e^{d(x)} / Z = p_data(x)    wherever p_g(x) > 0:

mass in the gaps between modes is thinned and modes the generator under-fills are topped up; a
mode it never visits stays empty. With packing m the critic scores m samples at once and its
optimum's logit is Σᵢ log p_data(xᵢ)/p_g(xᵢ): the sampler accepts or rejects the m together, which
leaves each distributed as p_data. A least-squares critic's optimum is D* itself, whose log-odds
log D* − log(1 − D*) is the same ratio: each objective maps its critic's output to the log ratio
(`log_ratio`). A trained critic only approximates its optimum, for the generator of its last
steps, so the correction is as good as the critic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from dgm.distributions import standard_normal
from dgm.errors import DgmError, NotFinite

if TYPE_CHECKING:
    from dgm.gan.gan import GAN

#: proposals drawn to estimate M before any is accepted, as DRS does
BURN_IN = 10_000
#: proposals passed through the networks at a time (memory stays bounded, as in evaluation)
CHUNK = 4096
#: proposals per requested sample (or per CHUNK, for fewer) after which the sampler gives up: an
#: acceptance rate below 0.1 %
MAX_PROPOSALS_PER_SAMPLE = 1000


class RejectionSampler:
    """Draws from a GAN by rejection: each generator proposal x ~ p_g(· | c) is kept with
    probability exp(r(x) − M), r = log_ratio(d(x)) the critic's estimate of log p_data/p_g. M is
    the largest r among the first `BURN_IN` proposals (at least 0: any M ≥ sup r is exact, a
    larger one only slower), raised whenever a larger one turns up; a sample accepted under a
    smaller M was over-accepted, slightly, as in DRS. M is kept across calls, so that every chunk
    of a long draw shares it."""

    def __init__(self, log_ratio: Callable[[Tensor], Tensor]) -> None:
        self.log_ratio = log_ratio  # the critic's output d ↦ log p_data/p_g (its objective's)
        self.bound: float | None = None  # M
        self.proposed = self.accepted = 0

    @torch.no_grad()
    def sample(self, gan: GAN, n: int, c: Tensor | None = None) -> Tensor:
        """n samples; row i is the first accepted proposal drawn for row i, with label cᵢ."""
        p = next(gan.parameters())
        out = p.new_empty((n, *gan.event_shape))
        if n == 0:
            return out
        rows = torch.arange(n, device=p.device)
        if self.bound is None:
            burn_in = _propose(gan, self.log_ratio, rows.repeat(math.ceil(BURN_IN / n))[:BURN_IN], c)[2]
            self.bound = max(burn_in.max().item(), 0.0)
        pending, proposed = rows, 0
        while pending.numel():
            if proposed > MAX_PROPOSALS_PER_SAMPLE * max(n, CHUNK):
                raise DgmError(
                    f"rejection sampling kept {n - pending.numel()} of {n} samples in {proposed} proposals: "
                    f"the critic's largest log ratio ({self.bound:.1f}) leaves almost nothing accepted"
                )
            repeated = pending.repeat(math.ceil(CHUNK / pending.numel()))
            tried, x, log_ratio = _propose(gan, self.log_ratio, repeated, c)
            proposed += tried.numel()
            self.bound = max(self.bound, log_ratio.max().item())
            accepted = torch.rand_like(log_ratio).log() < log_ratio - self.bound
            self.accepted += int(accepted.sum())
            tried, x = tried[accepted], x[accepted]
            # the first accepted proposal of each pending row
            first = torch.full((n,), tried.numel(), device=p.device)
            first.scatter_reduce_(0, tried, torch.arange(tried.numel(), device=p.device), "amin")
            done = pending[first[pending] < tried.numel()]
            out[done] = x[first[done]]
            pending = pending[first[pending] == tried.numel()]
        self.proposed += proposed
        return out

    def diagnostics(self) -> dict[str, float | str]:
        """The sampler, its bound M and the share of proposals it accepted."""
        return {
            "sampling": "discriminator rejection",
            "log_ratio_bound": self.bound if self.bound is not None else float("nan"),
            "acceptance": self.accepted / self.proposed if self.proposed else float("nan"),
        }


def _propose(
    gan: GAN, log_ratio: Callable[[Tensor], Tensor], rows: Tensor, c: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Generator samples for `rows` (padded with more proposals for some rows to whole packs), and
    each one's log ratio: that of its pack, shared by the pack's samples."""
    m, prior = gan.pack, standard_normal((gan.latent,), next(gan.parameters()))
    rows = torch.cat([rows, rows[: -rows.shape[0] % m]])
    xs, scores = [], []
    for part in rows.split(CHUNK - CHUNK % m):
        labels = None if c is None else c[part]
        x = gan.generate(prior.sample((part.shape[0],)), labels)
        xs.append(x)
        scores.append(log_ratio(gan.score(x, labels)).repeat_interleave(m))
    log_ratios = torch.cat(scores)
    if not torch.isfinite(log_ratios).all():
        raise NotFinite("rejection sampling: the critic scored a generator sample as NaN or infinite")
    return rows, torch.cat(xs), log_ratios
