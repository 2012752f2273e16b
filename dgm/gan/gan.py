"""The GAN model: x = g(z), z ~ N(0, I_q); a critic d scores samples; no density.

For vectors both networks are MLPs. For images (sides divisible by 4) they are DCGAN-style: the
generator is the convolutional VAE decoder (dense → 2w × H/4 × W/4 → two stride-2 transposed
convolutions) followed by a sigmoid, so that a trained VAE's decoder can start a GAN, and the
critic two stride-2 convolutions with leaky ReLUs and a dense layer. Images stay in [0, 1]
(preprocess none).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from dgm.distributions import standard_normal
from dgm.errors import DgmError
from dgm.gan.rejection import RejectionSampler
from dgm.models.base import GenerativeModel
from dgm.nn import activation_class
from dgm.registry import MODELS
from dgm.vae.networks import (
    ContextMLP,
    ConvDecoder,
    ConvDown,
    builds_conv,
    check_network_sizes,
)


def _layer_types(net: nn.Module) -> list[type[nn.Module]]:
    return [type(m) for m in net.modules()][1:]


def conv_critic(
    event_shape: tuple[int, ...], width: int, context: int = 0, batch_norm: bool = False
) -> ConvDown:
    """DCGAN's discriminator, by default without BatchNorm (which a WGAN-GP critic must not
    have: the penalty is per sample): `ConvDown` with leaky ReLUs of slope 0.2, to one score; with
    a label (context > 0), the label projected onto its features (`ProjectionCritic`)."""
    if context:
        return ProjectionCritic(event_shape, width, context, batch_norm)
    return ConvDown(event_shape, width, lambda: nn.LeakyReLU(0.2), 0, 1, batch_norm)


class ProjectionCritic(ConvDown):
    """A conditional image critic by projection (Miyato & Koyama, 2018):

        d(x, c) = wᵀφ(x) + b + cᵀ E φ(x),

    φ(x) the flattened convolutional features and E a learned (K, F) embedding of the one-hot
    label c. The label's term multiplies the features, so the critic can judge whether x fits c;
    a label appended to the last linear layer would only add a constant per class, which says
    nothing about x, and the generator would learn to ignore its label."""

    def __init__(self, event_shape: tuple[int, ...], width: int, context: int, batch_norm: bool) -> None:
        super().__init__(event_shape, width, lambda: nn.LeakyReLU(0.2), 0, 1, batch_norm)
        self.embed = nn.Linear(context, self.dense.in_features, bias=False)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        h = self.conv(x)
        out = self.dense(h)
        return out if c is None else out + (self.embed(c.to(h)) * h).sum(1, keepdim=True)


def is_spectrally_normalised(net: nn.Module) -> bool:
    """Whether every dense and convolutional layer of `net` has its weight divided by its spectral
    norm (the GAN models' `spectral_norm`)."""
    layers = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    return bool(layers) and all(parametrize.is_parametrized(m, "weight") for m in layers)


@MODELS.register(
    "gan", "GAN: MLP (vectors) or DCGAN-style (images) generator and critic (Goodfellow et al., 2014)"
)
class GAN(GenerativeModel):
    """Creates a GAN: generator g: R^q → data space and critic d: data → R (a logit or a score).

    Trained by a two-player objective (default `gan-ns`, the non-saturating Jensen-Shannon game;
    see `dgm list objectives`). `log_prob` raises `NoDensityError`: judge a GAN by sample-based
    metrics.

    Args:
        event_shape: (D,) vectors or (C, H, W) images.
        latent: q, the dimension of z.
        hidden: hidden sizes of both MLPs (vectors).
        width: channels of the first convolution of both image networks (the second has 2·width).
        network: mlp, conv (images with sides divisible by 4), or auto (conv for images).
        activation: the MLPs' activation, a name in `dgm.nn.ACTIVATIONS`.
        spectral_norm: divide every critic layer's weight by its largest singular value
            (Miyato et al., 2018): each dense layer 1-Lipschitz; for a convolution the norm is
            the reshaped kernel's, a heuristic bound (as in Miyato et al.), not the operator's.
        context_features: size of a one-hot label fed to generator and critic (conditional GAN,
            Mirza & Osindero, 2014).
        pack: m, the samples the critic judges together, concatenated (PacGAN, Lin et al., 2018),
            which penalises a generator that repeats itself; in training a batch's last B mod m
            samples are left out (under data parallelism each process's batch must be whole packs).
        batch_norm: BatchNorm in both image networks, after every convolution but the output's,
            as the seed paper had it (DCGAN, Radford et al., 2016, leaves the critic's first layer
            out): in training a sample depends on the rest of its batch; sampling and evaluation
            use the running statistics (except `seed_energy_batch_stats`, which draws its batches
            as in training). Not with a gradient penalty (per sample).

    Example:
        >>> GAN((2,), latent=4).sample(5).shape
        torch.Size([5, 2])
    """

    default_objective = "gan-ns"
    default_steps = 3000

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        latent: int = 8,
        hidden: tuple[int, ...] = (128, 128),
        width: int = 32,
        network: str = "auto",
        activation: str = "leaky_relu",
        spectral_norm: bool = False,
        context_features: int = 0,
        pack: int = 1,
        batch_norm: bool = False,
    ) -> None:
        super().__init__(event_shape)
        self.image = builds_conv(network, self.event_shape)
        self.latent, self.context_features = latent, context_features
        self.rejection: RejectionSampler | None = None
        k, self.pack, act = context_features, pack, activation_class(activation)
        if self.image:
            packed = (pack * self.event_shape[0], *self.event_shape[1:])
            self.generator: nn.Module = ConvDecoder(
                self.event_shape, latent, width, nn.ReLU, k, 1, batch_norm
            )
            self.critic: nn.Module = conv_critic(packed, width, pack * k, batch_norm)
        else:
            self.generator = ContextMLP(latent, self.dim, hidden, act, k)
            self.critic = ContextMLP(pack * self.dim, 1, hidden, act, pack * k)
        if spectral_norm:
            for layer in self.critic.modules():
                if isinstance(layer, (nn.Linear, nn.Conv2d)):
                    _spectral_norm(layer)

    @classmethod
    def check_arguments(cls, given: dict[str, Any], event_shape: tuple[int, ...]) -> None:
        """A size or BatchNorm given for the networks not built is refused (`check_network_sizes`),
        and so is an activation for the convolutional ones (DCGAN's ReLUs and leaky ReLUs)."""
        check_network_sizes(cls, given, event_shape)
        if "activation" in given and builds_conv(given.get("network", "auto"), event_shape):
            raise ValueError("activation is for network=mlp; the convolutional networks have DCGAN's own")

    @classmethod
    def pipeline_defaults(cls, kind: str, model_args: dict[str, Any]) -> tuple[str, str]:
        """Images stay in [0, 1], where the generator's sigmoid puts its samples."""
        preprocess, dequantize = super().pipeline_defaults(kind, model_args)
        return ("none" if kind == "image" and model_args.get("network") != "mlp" else preprocess), dequantize

    def check_pipeline(self, preprocess: str, dequantize: str, levels: int | None) -> None:
        if dequantize == "variational":
            raise ValueError("a GAN has no density to dequantise variationally: use dequantize=uniform")
        if self.image and preprocess != "none":
            raise ValueError(
                f"the image generator draws values in [0, 1]: use preprocess=none, not {preprocess}"
            )

    @classmethod
    def arguments_from_run(cls, model_args: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        """From a VAE's run, the generator takes its decoder's architecture where not given:
        latent, network and batch_norm, with the width (convolutional) or the hidden sizes, in the
        decoder's order (the reverse of the VAE's `hidden`), and activation (MLP). What is given is
        kept; `init_from` refuses a mismatch."""
        if run.get("model") != "vae":
            return model_args  # `init_from` says what it needs
        vae = dict(run.get("model_args", {}))
        conv = builds_conv(vae.get("network", "auto"), tuple(run["event_shape"]))
        if conv and vae.get("activation", "relu") != "relu":
            raise DgmError(
                f"--init-from: the image GAN's generator has DCGAN's ReLUs, the VAE's decoder "
                f"{vae['activation']}: start from a VAE trained with activation=relu"
            )
        if "hidden" in vae:
            vae["hidden"] = list(reversed(vae["hidden"]))
        names = ("latent", "network", "batch_norm", *(("width",) if conv else ("hidden", "activation")))
        return {**{k: vae[k] for k in names if k in vae}, **model_args}

    def init_from(self, other: GenerativeModel) -> None:
        """Start the generator from a trained VAE's decoder (the seed paper's VAE-initialised GAN):
        the networks must match, and the decoder's mean must be what the generator draws, σ(h) for
        a Bernoulli decoder of images or h for a fixed-σ Gaussian decoder of vectors."""
        likelihood = getattr(other, "likelihood_name", None)
        decoder = getattr(other, "decoder", None)
        wanted = "bernoulli" if self.image else "gaussian"
        if decoder is None or likelihood != wanted or other.likelihood.params != 1:
            fixed = " with a fixed sigma" if wanted == "gaussian" else ""
            raise DgmError(f"--init-from needs a VAE with a {wanted} decoder{fixed} for this GAN")
        mine, theirs = self.generator.state_dict(), decoder.state_dict()
        same_layers = _layer_types(self.generator) == _layer_types(decoder)
        if not same_layers or any(k not in theirs or mine[k].shape != theirs[k].shape for k in mine):
            raise DgmError(
                "--init-from: the VAE's decoder and this generator differ in their layers or shapes "
                "(give the GAN the VAE's latent, network, and its width or hidden sizes and activation)"
            )
        self.generator.load_state_dict(theirs)

    def generate(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """x = g(z; c), shape (B, *event_shape)."""
        x = self.generator(z, c)
        return x.sigmoid() if self.image else x.reshape(z.shape[0], *self.event_shape)

    def score(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """The critic's output d(x; c), shape (B,); with packing m, one score for every m
        consecutive samples (and labels) stacked together, shape (B/m,)."""
        m = self.pack
        if x.shape[0] % m:
            raise DgmError(f"the critic packs {m} samples: the batch ({x.shape[0]}) must be divisible by {m}")
        x = x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])
        c = None if c is None else c.reshape(c.shape[0] // m, -1)
        return self.critic(x, c).reshape(x.shape[0])

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        """x = g(z), z ~ N(0, I); after `use_rejection(log_ratio)`, by discriminator rejection sampling."""
        if self.rejection is not None:
            return self.rejection.sample(self, n, c)
        p = next(self.parameters())
        return self.generate(standard_normal((self.latent,), p).sample((n,)), c)

    def use_rejection(self, log_ratio: Callable[[Tensor], Tensor] | None) -> None:
        """Correct `sample` by the critic's density ratio (`dgm.gan.rejection`), where `log_ratio`
        maps the critic's output to log p_data/p_g: its objective's `log_ratio`, e.g.
        `dgm.gan.losses.log_ratio_js` for a Jensen-Shannon critic; None turns it off."""
        self.rejection = None if log_ratio is None else RejectionSampler(log_ratio)

    def diagnostics(self) -> dict[str, float | str]:
        return self.rejection.diagnostics() if self.rejection is not None else {}


@MODELS.register("dcgan", "DCGAN: convolutional generator and critic for images (Radford et al., 2016)")
class DCGAN(GAN):
    """Creates a GAN for images with the DCGAN-style networks, trained by `gan-ns`."""

    data_kinds = ("image",)


@MODELS.register(
    "wgan", "Wasserstein GAN: GAN networks trained by wgan (clipped critic) (Arjovsky et al., 2017)"
)
class WGAN(GAN):
    """Creates a GAN whose default objective is `wgan`: the critic estimates W1, kept Lipschitz by
    clipping its weights after every step."""

    default_objective = "wgan"


@MODELS.register("wgan-gp", "Wasserstein GAN with gradient penalty: GAN networks trained by wgan-gp")
class WGANGP(GAN):
    """Creates a GAN whose default objective is `wgan-gp` (Gulrajani et al., 2017)."""

    default_objective = "wgan-gp"


@MODELS.register(
    "wgan-sn", "Wasserstein GAN with spectral normalisation: GAN networks trained by wgan-sn (Miyato et al.)"
)
class WGANSN(GAN):
    """Creates a GAN whose default objective is `wgan-sn`, which spectrally normalises the critic."""

    default_objective = "wgan-sn"
