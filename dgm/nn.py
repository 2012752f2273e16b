"""Networks shared by the families: MLP conditioners and MADE (masked autoencoder) for autoregression."""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: Activations a model's `activation` argument may name.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
}


def activation_class(name: str, choices: dict[str, type[nn.Module]] = ACTIVATIONS) -> type[nn.Module]:
    """The activation module called `name`; ValueError naming the choices for any other name."""
    if name not in choices:
        raise ValueError(f"activation must be one of {', '.join(choices)}, got {name!r}")
    return choices[name]


def has_batch_norm(net: nn.Module) -> bool:
    """Whether any layer of `net` normalises over its batch."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


def _zero_(layer: nn.Linear) -> nn.Linear:
    """Zero the last layer, so that a coupling or autoregressive flow starts as the identity."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    if isinstance(getattr(layer, "context", None), nn.Linear):
        nn.init.zeros_(layer.context.weight)
    return layer


class MLP(nn.Sequential):
    """Creates a multi-layer perceptron in → hidden… → out with an activation between layers.

    Args:
        in_features: input size.
        out_features: output size.
        hidden: sizes of the hidden layers.
        activation: module class placed after every hidden layer.
        zero_last: zero-initialise the output layer.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: tuple[int, ...] = (64, 64),
        *,
        activation: type[nn.Module] = nn.ReLU,
        zero_last: bool = False,
    ) -> None:
        sizes = (in_features, *hidden)
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), activation()]
        last = nn.Linear(sizes[-1], out_features)
        super().__init__(*layers, _zero_(last) if zero_last else last)


class ConvNet(nn.Sequential):
    """Creates the image conditioner of Glow/RealNVP couplings: conv 3×3 → conv 1×1 → conv 3×3,
    keeping the spatial size, with the last layer zero-initialised (identity coupling at start).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        hidden: channels of the two hidden layers.
    """

    def __init__(
        self, in_channels: int, out_channels: int, hidden: int = 64, *, activation: type[nn.Module] = nn.ReLU
    ) -> None:
        last = nn.Conv2d(hidden, out_channels, 3, padding=1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        super().__init__(
            nn.Conv2d(in_channels, hidden, 3, padding=1),
            activation(),
            nn.Conv2d(hidden, hidden, 1),
            activation(),
            last,
        )


class MaskedLinear(nn.Linear):
    """y = (W ⊙ M) x + b with a fixed binary mask M (out, in) and an optional unmasked context term."""

    def __init__(self, mask: Tensor, context_features: int = 0) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(self.weight.dtype))
        self.context = nn.Linear(context_features, mask.shape[0], bias=False) if context_features else None

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        y = nn.functional.linear(x, self.weight * self.mask, self.bias)
        return y if self.context is None or c is None else y + self.context(c)


class MADE(nn.Module):
    """Creates a masked autoencoder (Germain et al., 2015): output block i depends on x_{<i} only.

    Input i (0-based) has degree i + 1; hidden units get degrees in [1, D − 1]; output block i
    (its `params` values) connects to hidden units of degree ≤ i. So out[:, i, :] is a function
    of x[:, :i] (and the context c), which makes the Jacobian of any transform built from it
    triangular.

    Args:
        features: D, the number of inputs.
        params: values produced per input (e.g. 2 for shift and log-scale).
        hidden: hidden layer sizes.
        context_features: size of the context c fed to every layer unmasked.
        zero_last: zero-initialise the output layer (identity transform at start).

    Example:
        >>> import torch
        >>> MADE(3, 2)(torch.randn(5, 3)).shape
        torch.Size([5, 3, 2])
    """

    def __init__(
        self,
        features: int,
        params: int,
        hidden: tuple[int, ...] = (64, 64),
        *,
        context_features: int = 0,
        activation: type[nn.Module] = nn.ReLU,
        zero_last: bool = True,
    ) -> None:
        super().__init__()
        self.features, self.params = features, params
        degrees = [torch.arange(1, features + 1)]
        for h in hidden:  # spread hidden degrees evenly over 1..D-1 (deterministic)
            degrees.append(torch.arange(h) % max(1, features - 1) + 1)
        layers = [
            MaskedLinear((d_out[:, None] >= d_in[None, :]).float(), context_features)
            for d_in, d_out in zip(degrees[:-1], degrees[1:], strict=True)
        ]
        out_degrees = torch.arange(1, features + 1).repeat_interleave(params)  # block i has degree i+1
        layers.append(MaskedLinear((out_degrees[:, None] > degrees[-1][None, :]).float(), context_features))
        if zero_last:
            _zero_(layers[-1])
        self.layers = nn.ModuleList(layers)
        self.activation = activation()

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Return the autoregressive parameters, shape (B, D, params)."""
        h = x
        for layer in self.layers[:-1]:
            h = self.activation(layer(h, c))
        return self.layers[-1](h, c).reshape(x.shape[0], self.features, self.params)
