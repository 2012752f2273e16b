"""Maximum likelihood: minimise the empirical KL(p_data || p_θ) up to the data entropy."""

from __future__ import annotations

from torch import Tensor

from dgm.errors import NoDensityError
from dgm.models.base import GenerativeModel
from dgm.registry import OBJECTIVES


@OBJECTIVES.register("mle", "maximum likelihood: loss = −(1/B) Σ_i log p_θ(x_i | c_i)")
class MaximumLikelihood:
    """loss = −(1/B) Σ_i log p_θ(x_i | c_i), the negative log-likelihood in nats per sample."""

    def __call__(
        self, model: GenerativeModel, x: Tensor, c: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        if not model.has_density:
            raise NoDensityError(
                f"objective 'mle' needs a model with a density; {type(model).__name__} has none"
            )
        return -model.log_prob(x, c).mean(), {}
