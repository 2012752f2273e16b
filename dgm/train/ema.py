"""Exponential moving average of a model's weights (Polyak averaging), standard for GANs and
flow matching: the averaged weights are what a run saves and validates."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class EMA:
    """θ̄ ← β θ̄ + (1 − β) θ after every training step, over floating-point parameters and buffers,
    but for the buffers of parametrisations (spectral normalisation's power-iteration vectors u, v,
    unit estimates of the current weight's singular vectors, whose average is no unit vector),
    which follow the model.

    Args:
        model: the model whose weights are averaged (θ̄ starts at θ).
        decay: β in (0, 1), e.g. 0.999 (an average over about 1/(1 − β) steps).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}
        parameters = {k for k, _ in model.named_parameters()}
        self.followed = {k for k in self.shadow if "parametrizations" in k.split(".") and k not in parameters}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for k, v in model.state_dict().items():
            if k in self.followed:
                self.shadow[k].copy_(v.detach())
            elif k in self.shadow:
                self.shadow[k].lerp_(v.detach(), 1.0 - self.decay)

    def state_dict(self, model: nn.Module) -> dict[str, Tensor]:
        """The model's state with the averaged tensors in place of the current ones."""
        return {k: self.shadow.get(k, v).detach().clone() for k, v in model.state_dict().items()}

    def to(self, device: torch.device) -> None:
        """Keep the average on the model's device."""
        self.shadow = {k: v.to(device) for k, v in self.shadow.items()}

    def load(self, shadow: dict[str, Tensor]) -> None:
        for k, v in shadow.items():
            self.shadow[k].copy_(v)
