"""Maximum likelihood: minimise the empirical KL(p_data || p_θ) up to the data entropy."""

from __future__ import annotations

from torch import Tensor

from dgm.errors import NoDensityError
from dgm.models.base import GenerativeModel
from dgm.objectives.base import Objective, StepContext
from dgm.registry import OBJECTIVES


@OBJECTIVES.register("mle", "maximum likelihood: loss = −(1/B) Σ_i log p_θ(x_i | c_i) (or −ELBO for a bound)")
class MaximumLikelihood(Objective):
    """loss = −(1/B) Σ_i log p_θ(x_i | c_i), the negative log-likelihood in nats per sample.

    For a model whose density is only bounded (`density == "bound"`), its evidence lower bound
    replaces log p: the loss is then the negative ELBO, an upper bound on the NLL.
    """

    def loss(
        self, player: str, model: GenerativeModel, batch: tuple[Tensor, ...], ctx: StepContext
    ) -> tuple[Tensor, dict[str, Tensor]]:
        if model.density == "none":
            raise NoDensityError(
                f"objective 'mle' needs a model with a density; {type(model).__name__} has none"
            )
        return -model.log_likelihood(*batch).mean(), {}
