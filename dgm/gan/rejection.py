"""Discriminator rejection sampling (Azadi et al., 2019): a GAN's samples corrected towards the data
by its critic's density ratio.

A Jensen-Shannon critic at its optimum, D*(x) = p_data(x) / (p_data(x) + p_g(x)), holds the
density ratio in its logit: d*(x) = log p_data(x) − log p_g(x). Accepting a generator sample
x ~ p_g with probability exp(d(x) − M), M ≥ sup d, leaves the accepted samples distributed as

    p_g(x) e^{d(x)} / Z = p_data(x)    wherever p_g(x) > 0:

mass in the gaps between modes is thinned and modes the generator under-fills are topped up; a
mode it never visits stays empty. With packing m the critic scores m samples at once and its
optimum's logit is Σᵢ log p_data(xᵢ)/p_g(xᵢ): the sampler accepts or rejects the m together, which
leaves each distributed as p_data. A trained critic only approximates D*, for the generator of its
last steps, so the correction is as good as the critic.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dgm.distributions import standard_normal
from dgm.errors import DgmError

#: proposals drawn to estimate M before any is accepted, as DRS does
BURN_IN = 10_000
#: proposals drawn at a time
CHUNK = 4096
#: proposals per requested sample after which the sampler gives up (an acceptance rate below 0.1 %)
MAX_PROPOSALS_PER_SAMPLE = 1000


@torch.no_grad()
def rejection_sample(gan: torch.nn.Module, n: int, c: Tensor | None = None) -> Tensor:
    """n samples of `gan` (a `GAN` trained by a Jensen-Shannon game), each generator proposal
    x ~ p_g(· | cᵢ) accepted with probability exp(d(x) − M). M is the largest logit among the
    first `BURN_IN` proposals (at least 0), raised whenever a larger one turns up (as in DRS: a
    sample accepted under a smaller M was over-accepted, slightly). Row i of the result is the
    first accepted proposal drawn for row i, with label cᵢ."""
    p = next(gan.parameters())
    m = gan.pack

    def propose(rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        rows = torch.cat([rows, rows[: -rows.shape[0] % m]])  # whole packs: more proposals for some rows
        x = gan.generate(standard_normal((gan.latent,), p).sample((rows.shape[0],)), _rows(c, rows))
        return rows, x, gan.score(x, _rows(c, rows)).repeat_interleave(m)

    rows = torch.arange(n, device=p.device)
    # sup log p_data/p_g ≥ 0, since the ratio averages 1 under p_g
    log_m = max(propose(rows.repeat(math.ceil(BURN_IN / n))[:BURN_IN])[2].max().item(), 0.0)
    out = p.new_empty((n, *gan.event_shape))
    pending, proposed = rows, 0
    while pending.numel():
        if proposed > MAX_PROPOSALS_PER_SAMPLE * n:
            raise DgmError(
                f"rejection sampling accepted {n - pending.numel()} of {n} samples in {proposed} proposals: "
                f"the critic's largest log ratio ({log_m:.1f}) leaves almost nothing accepted"
            )
        tried, x, log_ratio = propose(pending.repeat(math.ceil(CHUNK / pending.numel())))
        proposed += tried.numel()
        log_m = max(log_m, log_ratio.max().item())
        accepted = torch.rand_like(log_ratio).log() < log_ratio - log_m
        tried, x = tried[accepted], x[accepted]
        # the first accepted proposal of each pending row
        first = torch.full((n,), tried.numel(), device=p.device)
        first.scatter_reduce_(0, tried, torch.arange(tried.numel(), device=p.device), "amin")
        done = pending[first[pending] < tried.numel()]
        out[done] = x[first[done]]
        pending = pending[first[pending] == tried.numel()]
    return out


def _rows(c: Tensor | None, rows: Tensor) -> Tensor | None:
    return None if c is None else c[rows]
