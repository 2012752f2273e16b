"""Two-player GAN objectives: the critic and the generator, each with its own optimiser.

Every objective is one `Adversarial` game: a critic loss on d(x) and d(g(z)), a generator loss,
and optionally a penalty on the critic's gradients or a constraint applied after its step. Each
carries the optimiser settings of its paper; "5 critic steps per generator step" is the
generator updating on every fifth step (`every` = 5), each step drawing a fresh batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from dgm.errors import DgmError
from dgm.gan import losses
from dgm.gan.gan import GAN, is_spectrally_normalised
from dgm.metrics.samples import seed_energy_statistic
from dgm.models.base import GenerativeModel, Preprocessed
from dgm.nn import has_batch_norm
from dgm.objectives.base import Objective, OptimSettings, Player, StepContext, postprocessed, preprocessed
from dgm.registry import MODELS, OBJECTIVES

#: samples and data points of the seed paper's training statistic (its batch size)
SEED_BATCH = 64
#: Adam as in DCGAN (Radford et al., 2016): lr 2e-4, β₁ = 0.5.
_ADAM_GAN = OptimSettings(lr=2e-4, betas=(0.5, 0.999), schedule="constant")


def _gan(model: GenerativeModel) -> nn.Module:
    core = model.core if isinstance(model, Preprocessed) else model
    if not (hasattr(core, "generate") and hasattr(core, "score")):
        raise DgmError(f"a GAN objective needs a generator and a critic; {type(core).__name__} has none")
    return core


def _whole_packs(m: int, y: Tensor, c: Tensor | None, ctx: StepContext) -> tuple[Tensor, Tensor | None]:
    """The batch (and labels) cut to whole packs of m samples, which a packing critic judges: the
    last B mod m samples sit this step out. Under data parallelism every process's batch must be
    whole packs already, or the processes would drop different numbers of samples."""
    whole = y.shape[0] - y.shape[0] % m
    if whole == 0 or (whole < y.shape[0] and ctx.world_size > 1):
        raise DgmError(
            f"the critic packs {m} samples: give a batch size that is a multiple of {m} "
            f"× the processes ({ctx.world_size}); this process's batch has {y.shape[0]}"
        )
    return y[:whole], None if c is None else c[:whole]


class Adversarial(Objective):
    """Per step, on the preprocessed data y = T(x) and noise z for the global batch:
    critic:    critic_loss(d(y), d(g(z))) + penalty     (g(z) detached)
    generator: generator_loss(d(g(z)), d(y))

    A logged generator step also reports `seed_energy`, the seed paper's statistic
    (`seed_energy_statistic`) between the first 64 of the generator's samples, drawn in training
    mode and mapped back to the data's units by T⁻¹, and the first 64 data points x of the step:
    what the seed's training loop logged at every step (it summed the last 1,000 of them). The
    statistic grows as its samples shrink (about as 1/(n + m)): with fewer than 64 points a step,
    a smaller batch or a process's share under data parallelism, it is off the seed's scale.
    """

    players = (Player("critic", _ADAM_GAN), Player("generator", _ADAM_GAN))
    example_model = "gan"
    #: the generator loss also reads d(y) (relativistic losses).
    generator_sees_real = False
    #: where the critic's optimum holds the density ratio, its map d(x) ↦ log p_data(x)/p_g(x),
    #: which rejection sampling (`dgm.gan.rejection`) needs; None: it holds none (Wasserstein, hinge).
    log_ratio: Callable[[Tensor], Tensor] | None = None

    def critic_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def generator_loss(self, fake: Tensor, real: Tensor | None) -> Tensor:
        raise NotImplementedError

    def penalty(
        self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, ctx: StepContext
    ) -> dict[str, Tensor]:
        """Weighted penalty terms on the critic x ↦ d(x) added to its loss (default: none)."""
        return {}

    def critic_terms(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """What the critic's outputs say about the two distributions (logged)."""
        return {"d_real": real.sigmoid().mean()}  # D(x) averaged over real data: ½ at equilibrium

    def setup(self, model: GenerativeModel, load_run: Callable[[str], GenerativeModel]) -> None:
        gan = _gan(model)
        if type(self).penalty is not Adversarial.penalty and has_batch_norm(gan.critic):
            raise DgmError(
                "a gradient penalty is per sample, and a critic with BatchNorm scores each sample "
                "by its batch: leave batch_norm out for this objective"
            )

    def parameters(self, player: str, model: GenerativeModel) -> list[nn.Parameter]:
        gan = _gan(model)
        return list((gan.critic if player == "critic" else gan.generator).parameters())

    def loss(
        self, player: str, model: GenerativeModel, batch: tuple[Tensor, ...], ctx: StepContext
    ) -> tuple[Tensor, dict[str, Tensor]]:
        gan = _gan(model)
        y = preprocessed(model, batch[0])[0]
        c = batch[1] if len(batch) > 1 else None  # a conditional GAN's one-hot labels
        y, c = _whole_packs(getattr(gan, "pack", 1), y, c, ctx)

        def critic(x: Tensor) -> Tensor:
            return gan.score(x, c)

        fake = gan.generate(ctx.noise(y.shape[0], gan.latent, like=y), c)
        if player == "critic":
            fake = fake.detach()
            real_d, fake_d = critic(y), critic(fake)
            penalties = self.penalty(critic, y, fake, ctx)
            loss = self.critic_loss(real_d, fake_d) + sum(penalties.values())
            terms = {**self.critic_terms(real_d.detach(), fake_d.detach()), **penalties}
            return loss, {k: v.detach() for k, v in terms.items()}
        real_d = critic(y) if self.generator_sees_real else None
        loss = self.generator_loss(critic(fake), real_d)
        if not ctx.logging:
            return loss, {}
        # the seed paper's training statistic, in data units: this step's samples against the
        # data points the step used (a packing critic leaves the last B mod m out)
        n = min(SEED_BATCH, fake.shape[0])
        with torch.no_grad():
            samples = postprocessed(model, fake[:n].detach())
            return loss, {"seed_energy": seed_energy_statistic(samples, batch[0][:n])}


@OBJECTIVES.register("gan-ns", "Jensen-Shannon GAN, non-saturating generator loss; critic, then generator")
class NonSaturatingGAN(Adversarial):
    """The Jensen-Shannon game with the non-saturating generator loss (Goodfellow et al., 2014):
    critic E[softplus(−d(y))] + E[softplus(d(g(z)))], generator E[softplus(−d(g(z)))]."""

    log_ratio = staticmethod(losses.log_ratio_js)

    def critic_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return losses.critic_loss_js(real, fake)

    def generator_loss(self, fake: Tensor, real: Tensor | None) -> Tensor:
        return losses.generator_loss_nonsaturating(fake)


@OBJECTIVES.register("gan-minimax", "Jensen-Shannon GAN, the original (saturating) minimax generator loss")
class MinimaxGAN(NonSaturatingGAN):
    """The Jensen-Shannon game as posed (Goodfellow et al., 2014): the generator minimises
    E[log(1 − D(g(z)))], which saturates when the critic wins (the seed code's DCGAN used it)."""

    def generator_loss(self, fake: Tensor, real: Tensor | None) -> Tensor:
        return losses.generator_loss_minimax(fake)


@OBJECTIVES.register(
    "pacgan", "saturating Jensen-Shannon game, critic of packed triples (PacGAN), cosine decay, last weights"
)
class PacGAN(MinimaxGAN):
    """The minimax game (`gan-minimax`) against a critic that judges m = 3 samples at once (the
    model's `pack`; PacGAN, Lin et al., 2018): m samples drawn from a generator that drops a mode
    differ from m data points more than one sample does, which penalises mode collapse. A batch
    of 256 is 85 packs (its last sample sits the step out).
    Adam 2e-4, β₁ = 0.5, decayed to 0 by a cosine over the run, and the run keeps its last
    weights: the game ends quietly rather than inside one of its excursions. These are dgm's
    settings, chosen on grid25 (benchmarks/README.md), not the paper's (m = 2, 3, 4; Adam 1e-4)."""

    _adam = replace(_ADAM_GAN, schedule="cosine")
    players = (Player("critic", _adam), Player("generator", _adam))
    model_defaults = {"pack": 3}
    keep = "last"

    def setup(self, model: GenerativeModel, load_run: Callable[[str], GenerativeModel]) -> None:
        super().setup(model, load_run)
        if getattr(_gan(model), "pack", 1) < 2:
            raise DgmError(
                "pacgan's critic judges packed samples: give a model with pack of 2 or more "
                "(gan, dcgan, wgan, ...; for one sample at a time, train by gan-minimax)"
            )


@OBJECTIVES.register("lsgan", "least-squares GAN (Mao et al., 2017)")
class LeastSquaresGAN(Adversarial):
    """critic ½E[(d(y) − 1)²] + ½E[d(g(z))²]; generator ½E[(d(g(z)) − 1)²]; Adam 2e-4, β₁ = 0.5."""

    log_ratio = staticmethod(losses.log_ratio_least_squares)

    def critic_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return losses.critic_loss_least_squares(real, fake)

    def generator_loss(self, fake: Tensor, real: Tensor | None) -> Tensor:
        return losses.generator_loss_least_squares(fake)

    def critic_terms(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        return {"d_real": real.mean(), "d_fake": fake.mean()}  # targets 1 and 0


@OBJECTIVES.register("hinge", "hinge GAN; on the gan models with a spectrally normalised critic (SNGAN)")
class HingeGAN(Adversarial):
    """critic E[relu(1 − d(y))] + E[relu(1 + d(g(z)))]; generator −E[d(g(z))]. At its defaults on
    the `gan` models this is SNGAN (Miyato et al., 2018): a spectrally normalised critic (the
    model's `spectral_norm`, on by default with this objective; `--set spectral_norm=false` trains
    the bare hinge game; flow-gan's critic has no such option), Adam 2e-4, β = (0, 0.9), 5 critic
    steps per generator step."""

    _adam = OptimSettings(lr=2e-4, betas=(0.0, 0.9), schedule="constant")
    players = (Player("critic", _adam), Player("generator", replace(_adam, every=5)))
    model_defaults = {"spectral_norm": True}

    def critic_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return losses.critic_loss_hinge(real, fake)

    def generator_loss(self, fake: Tensor, real: Tensor | None) -> Tensor:
        return losses.generator_loss_wasserstein(fake)

    def critic_terms(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        return {"d_gap": real.mean() - fake.mean()}


class _Wasserstein(Adversarial):
    """critic E[d(g(z))] − E[d(y)], generator −E[d(g(z))]; the critic's gap estimates W1 when it
    is 1-Lipschitz."""

    def critic_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return losses.critic_loss_wasserstein(real, fake)

    def generator_loss(self, fake: Tensor, real: Tensor | None) -> Tensor:
        return losses.generator_loss_wasserstein(fake)

    def critic_terms(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        return {"w1_estimate": real.mean() - fake.mean()}  # E d(y) − E d(g(z))


@OBJECTIVES.register(
    "wgan", "Wasserstein GAN, critic weights clipped after each critic step (Arjovsky et al., 2017)"
)
class WassersteinGAN(_Wasserstein):
    """critic E[d(g(z))] − E[d(y)], then every critic weight clamped to [−clip, clip] after the
    critic's step; generator −E[d(g(z))]. RMSprop lr 5e-5, 5 critic steps per generator step (the
    paper's settings).

    Args:
        clip: the bound c of the critic's weights.
        clip_first: clamp before each critic step instead, as the seed code did (which also ignored
            its clip argument): the critic then ends every step, and judges the generator, with
            weights up to one RMSprop step outside the bound.
    """

    _rmsprop = OptimSettings(kind="rmsprop", lr=5e-5, schedule="constant")
    players = (Player("critic", _rmsprop), Player("generator", replace(_rmsprop, every=5)))

    def __init__(self, *, clip: float = 0.01, clip_first: bool = False) -> None:
        self.clip = clip
        self.clip_first = clip_first

    def _clamp(self, model: GenerativeModel) -> None:
        with torch.no_grad():
            for p in _gan(model).critic.parameters():
                p.clamp_(-self.clip, self.clip)

    def loss(
        self, player: str, model: GenerativeModel, batch: tuple[Tensor, ...], ctx: StepContext
    ) -> tuple[Tensor, dict[str, Tensor]]:
        if player == "critic" and self.clip_first:
            self._clamp(model)
        return super().loss(player, model, batch, ctx)

    def after_step(self, player: str, model: GenerativeModel) -> None:
        if player == "critic" and not self.clip_first:
            self._clamp(model)


@OBJECTIVES.register(
    "wgan-gp", "Wasserstein GAN with gradient penalty λ E(‖∇d(x̂)‖ − 1)² (Gulrajani et al., 2017)"
)
class WassersteinGP(_Wasserstein):
    """critic E[d(g(z))] − E[d(y)] + λ E[(‖∇d(x̂)‖ − 1)²] on interpolates x̂ = ε y + (1 − ε) g(z),
    ε ~ U[0, 1] per sample; generator −E[d(g(z))]. Adam lr 1e-4, β = (0, 0.9), 5 critic steps per
    generator step (the paper's settings); no clipping.

    Args:
        gp: the penalty weight λ.
    """

    _adam = OptimSettings(lr=1e-4, betas=(0.0, 0.9), schedule="constant")
    players = (Player("critic", _adam), Player("generator", replace(_adam, every=5)))

    def __init__(self, *, gp: float = 10.0) -> None:
        self.gp = gp

    def penalty(
        self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, ctx: StepContext
    ) -> dict[str, Tensor]:
        eps = ctx.uniform(real.shape[0], like=real)
        return {"gradient_penalty": self.gp * losses.gradient_penalty(critic, real, fake, eps)}


@OBJECTIVES.register(
    "wgan-sn", "Wasserstein GAN, critic kept Lipschitz by spectral normalisation (Miyato et al., 2018)"
)
class WassersteinSN(_Wasserstein):
    """critic E[d(g(z))] − E[d(y)] with every critic layer's weight divided by its largest singular
    value (the model's `spectral_norm`, on by default with this objective), so that a dense critic
    with 1-Lipschitz activations is 1-Lipschitz and its gap E d(y) − E d(g(z)) is at most W1;
    generator −E[d(g(z))]. Adam 2e-4, β = (0, 0.9), 5 critic steps per generator step (SNGAN's
    settings); no clipping, no penalty."""

    _adam = OptimSettings(lr=2e-4, betas=(0.0, 0.9), schedule="constant")
    players = (Player("critic", _adam), Player("generator", replace(_adam, every=5)))
    model_defaults = {"spectral_norm": True}

    def setup(self, model: GenerativeModel, load_run: Callable[[str], GenerativeModel]) -> None:
        super().setup(model, load_run)
        critic = _gan(model).critic
        if not is_spectrally_normalised(critic):
            raise DgmError(
                "wgan-sn's Wasserstein loss needs a spectrally normalised critic, or it grows without "
                "bound: leave spectral_norm at true (a model without it: train by wgan or wgan-gp)"
            )
        if has_batch_norm(critic):
            raise DgmError(
                "wgan-sn: BatchNorm's scale is not normalised, so the critic would not be 1-Lipschitz: "
                "leave batch_norm out for this objective"
            )


@OBJECTIVES.register("r3gan", "relativistic pairing loss with R1 + R2 penalties (R3GAN, Huang et al., 2024)")
class RelativisticR1R2(Adversarial):
    """critic E[softplus(d(g(z)) − d(y))] + (γ/2)(E‖∇d(y)‖² + E‖∇d(g(z))‖²); generator
    E[softplus(d(y) − d(g(z)))]. Adam β = (0, 0.99), lr 2e-4, one critic step per generator step.

    Args:
        gamma: the weight γ of the R1 and R2 penalties (R3GAN tuned it per data set, 0.05 to 150).
    """

    generator_sees_real = True
    _adam = OptimSettings(lr=2e-4, betas=(0.0, 0.99), schedule="constant")
    players = (Player("critic", _adam), Player("generator", _adam))

    def __init__(self, *, gamma: float = 0.1) -> None:
        self.gamma = gamma

    def critic_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return losses.critic_loss_relativistic(real, fake)

    def generator_loss(self, fake: Tensor, real: Tensor | None) -> Tensor:
        return losses.generator_loss_relativistic(fake, real)

    def penalty(
        self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, ctx: StepContext
    ) -> dict[str, Tensor]:
        r1, r2 = losses.r1_penalty(critic, real), losses.r1_penalty(critic, fake)
        return {"r1": 0.5 * self.gamma * r1, "r2": 0.5 * self.gamma * r2}

    def critic_terms(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        return {"d_gap": real.mean() - fake.mean()}


def check_rejection(model: object, config: dict[str, Any]) -> Callable[[Tensor], Tensor]:
    """The map from the critic's output to log p_data/p_g of `model`, the core of the run whose
    config.json is `config` (its model, objective and train.ema); a one-line `DgmError` unless it
    has one: a GAN trained by a game whose critic's optimum holds the density ratio (`log_ratio`:
    the Jensen-Shannon and least-squares games), without averaged weights (an averaged critic
    never judged the averaged generator) and without BatchNorm in the critic (which scores a
    sample by its batch)."""
    name = config["model"]
    objective = config.get("objective") or MODELS.get(name).default_objective
    ema = config.get("train", {}).get("ema")
    if not isinstance(model, GAN):
        gans = ", ".join(e.name for e in MODELS if issubclass(e.obj, GAN))
        raise DgmError(f"--rejection applies to runs of {gans}; this run is a {name}")
    log_ratio = getattr(OBJECTIVES.get(objective), "log_ratio", None)
    if log_ratio is None:
        raise DgmError(
            "--rejection needs a critic whose optimum holds the density ratio p_data/p_g (trained by "
            f"gan-ns, gan-minimax, pacgan or lsgan); this run's objective is {objective}"
        )
    if ema is not None:
        raise DgmError(
            "--rejection needs the critic of the last generator; this run kept averaged weights (ema)"
        )
    if has_batch_norm(model.critic):
        raise DgmError("--rejection needs a critic that scores each sample alone; this one has batch_norm")
    return log_ratio
