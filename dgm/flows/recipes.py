"""The registered flow models: thin recipes that assemble bijections into a `Flow`.

Each takes the event shape and keyword-only hyperparameters (the CLI's `--set model_args.NAME=…`).
Coupling flows alternate which half is transformed; with more than two features a fixed random
permutation after every pair of layers mixes the halves.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from dgm.bijection import Bijection, Compose
from dgm.flows.autoregressive import MaskedAutoregressive
from dgm.flows.coupling import Coupling
from dgm.flows.elementwise import Additive, Affine, Elementwise
from dgm.flows.flow import Flow
from dgm.flows.image import MultiScale, level_shapes
from dgm.flows.linear import InvertibleLinear, Permutation
from dgm.flows.normalization import ActNorm, BatchNorm
from dgm.flows.splines import RQSpline
from dgm.nn import activation_class
from dgm.registry import MODELS


def finite_flow(name: str, event_shape: tuple[int, ...]) -> Flow:
    """The registered finite flow `name` at its defaults on data of `event_shape` (realnvp, nice,
    maf, nsf for vectors; glow for images): a learnable density that other models build in (a
    VAE's prior, a Flow-GAN's generator)."""
    kind = "points" if len(event_shape) == 1 else "image"
    entry = MODELS.get(name) if name in MODELS else None
    if entry is None or not issubclass(entry, Flow) or kind not in entry.data_kinds:
        names = ", ".join(e.name for e in MODELS if issubclass(e.obj, Flow) and kind in e.obj.data_kinds)
        what = "vectors" if kind == "points" else "images"
        raise ValueError(f"{name!r} is no registered finite flow of {what} ({names})")
    return entry(tuple(event_shape))


def _features(event_shape: tuple[int, ...], name: str) -> int:
    if len(event_shape) != 1:
        raise ValueError(f"{name} models vectors, not data of shape {tuple(event_shape)}")
    return event_shape[0]


def _stack(
    features: int,
    transforms: int,
    layer: Callable[[int], Bijection],
    *,
    batch_norm: bool = False,
    mix: str = "pairs",
) -> list[Bijection]:
    """`transforms` layers built by layer(k), with batch norm and permutations in between.

    mix: "pairs" permutes randomly after every second layer (couplings, when D > 2); "reverse"
    reverses the order after every layer (autoregressive flows); "none" never permutes.
    """
    layers: list[Bijection] = []
    for k in range(transforms):
        layers.append(layer(k))
        if k == transforms - 1:
            break
        if batch_norm:
            layers.append(BatchNorm((features,)))
        if mix == "reverse":
            layers.append(Permutation(features, "reverse"))
        elif mix == "pairs" and features > 2 and k % 2 == 1:
            layers.append(Permutation(features, "random", seed=k))
    return layers


def _couplings(
    d: int, elementwise: Elementwise, hidden: tuple[int, ...], activation: str, context_features: int
) -> Callable[[int], Bijection]:
    """Layer k of a coupling stack: parity alternates so that every coordinate gets transformed."""
    act = activation_class(activation)
    return lambda k: Coupling(
        d, elementwise, parity=k % 2, hidden=tuple(hidden), context_features=context_features, activation=act
    )


@MODELS.register("realnvp", "RealNVP: affine couplings with bounded scales (Dinh et al., 2017)")
class RealNVP(Flow):
    """Creates a RealNVP flow: K affine couplings y_B = x_B·exp(s(x_A)) + t(x_A), s bounded.

    Example:
        >>> import torch
        >>> RealNVP((2,), transforms=4).log_prob(torch.zeros(5, 2)).shape
        torch.Size([5])
    """

    data_kinds = ("points",)

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        transforms: int = 8,
        hidden: tuple[int, ...] = (128, 128),
        scale_bound: float = 3.0,
        activation: str = "relu",
        batch_norm: bool = False,
        context_features: int = 0,
    ) -> None:
        d = _features(event_shape, "realnvp")
        layer = _couplings(d, Affine(scale_bound), hidden, activation, context_features)
        super().__init__(
            event_shape, Compose(*_stack(d, transforms, layer, batch_norm=batch_norm)), context_features
        )


@MODELS.register("glow", "Glow: multi-scale flow of ActNorm, 1x1 convolutions and affine couplings (images)")
class Glow(Flow):
    """Creates a multi-scale Glow for images (C, H, W): `levels` levels of squeeze → `steps` ×
    (ActNorm → invertible 1×1 convolution → affine coupling), half the channels factored out
    after every level but the last. H and W must be divisible by 2^levels.

    References: Kingma & Dhariwal, Glow: Generative Flow with Invertible 1x1 Convolutions (2018).

    Example:
        >>> import torch
        >>> Glow((1, 8, 8), levels=2, steps=2, hidden=8).log_prob(torch.rand(3, 1, 8, 8)).shape
        torch.Size([3])
    """

    data_kinds = ("image",)

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        levels: int = 2,
        steps: int = 8,
        hidden: int = 64,
        scale_bound: float = 3.0,
        activation: str = "relu",
        context_features: int = 0,
    ) -> None:
        if len(event_shape) != 3:
            raise ValueError(f"glow models images (C, H, W), not data of shape {tuple(event_shape)}")
        act = activation_class(activation)

        def step(shape: tuple[int, ...], k: int) -> list[Bijection]:
            coupling = Coupling(
                shape,
                Affine(scale_bound),
                parity=k % 2,
                hidden=(hidden,),
                context_features=context_features,
                activation=act,
            )
            return [ActNorm(shape), InvertibleLinear(shape, seed=k), coupling]

        shapes = level_shapes(tuple(event_shape), levels)
        flows = [Compose(*[b for k in range(steps) for b in step(s, k)]) for s in shapes]
        dim = math.prod(event_shape)
        super().__init__(
            event_shape, MultiScale(tuple(event_shape), flows), context_features, latent_shape=(dim,)
        )


@MODELS.register("nice", "NICE: additive couplings and a final diagonal scaling (Dinh et al., 2015)")
class NICE(Flow):
    """Creates a NICE flow: K additive (volume-preserving) couplings, then a learned diagonal scaling."""

    data_kinds = ("points",)

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        transforms: int = 4,
        hidden: tuple[int, ...] = (128, 128),
        activation: str = "relu",
        context_features: int = 0,
    ) -> None:
        d, act = _features(event_shape, "nice"), activation_class(activation)

        def coupling(k: int) -> Bijection:
            return Coupling(
                d,
                Additive(),
                parity=k % 2,
                hidden=tuple(hidden),
                context_features=context_features,
                activation=act,
            )

        super().__init__(
            event_shape, Compose(*_stack(d, transforms, coupling), ActNorm((d,))), context_features
        )


@MODELS.register("maf", "MAF: masked affine autoregressive layers (Papamakarios et al., 2017)")
class MAF(Flow):
    """Creates a masked autoregressive flow: K MADE-conditioned affine layers, order reversed between."""

    data_kinds = ("points",)

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        transforms: int = 5,
        hidden: tuple[int, ...] = (128, 128),
        scale_bound: float = 3.0,
        activation: str = "relu",
        batch_norm: bool = False,
        context_features: int = 0,
    ) -> None:
        d, act = _features(event_shape, "maf"), activation_class(activation)

        def layer(k: int) -> Bijection:
            return MaskedAutoregressive(
                d,
                Affine(scale_bound),
                hidden=tuple(hidden),
                context_features=context_features,
                activation=act,
            )

        super().__init__(
            event_shape,
            Compose(*_stack(d, transforms, layer, batch_norm=batch_norm, mix="reverse")),
            context_features,
        )


@MODELS.register("nsf", "neural spline flow: rational-quadratic spline couplings (Durkan et al., 2019)")
class NSF(Flow):
    """Creates a neural spline flow: K monotone rational-quadratic spline layers on [−bound, bound]
    (identity outside), coupling by default or autoregressive with `autoregressive=True`."""

    data_kinds = ("points",)

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        transforms: int = 6,
        bins: int = 16,
        bound: float = 5.0,
        hidden: tuple[int, ...] = (128, 128),
        activation: str = "relu",
        autoregressive: bool = False,
        context_features: int = 0,
    ) -> None:
        d = _features(event_shape, "nsf")
        spline = RQSpline(bins, bound)
        if autoregressive:
            act = activation_class(activation)

            def layer(k: int) -> Bijection:
                return MaskedAutoregressive(
                    d, spline, hidden=tuple(hidden), context_features=context_features, activation=act
                )
        else:
            layer = _couplings(d, spline, hidden, activation, context_features)
        mix = "reverse" if autoregressive else "pairs"
        super().__init__(event_shape, Compose(*_stack(d, transforms, layer, mix=mix)), context_features)
