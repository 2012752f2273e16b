"""Two-player GAN objectives: the critic and the generator, each with its own optimiser."""

from __future__ import annotations

from torch import Tensor, nn

from dgm.errors import DgmError
from dgm.gan.losses import critic_loss_js, generator_loss_nonsaturating
from dgm.models.base import GenerativeModel, Preprocessed
from dgm.objectives.base import Objective, OptimSettings, Player, StepContext
from dgm.registry import OBJECTIVES

#: Adam as in DCGAN (Radford et al., 2016): lr 2e-4, β₁ = 0.5.
_ADAM_GAN = OptimSettings(lr=2e-4, betas=(0.5, 0.999), schedule="constant")


def _gan(model: GenerativeModel) -> nn.Module:
    core = model.core if isinstance(model, Preprocessed) else model
    if not (hasattr(core, "generate") and hasattr(core, "score")):
        raise DgmError(f"a GAN objective needs a generator and a critic; {type(core).__name__} has none")
    return core


@OBJECTIVES.register("gan-ns", "Jensen-Shannon GAN, non-saturating generator loss; critic, then generator")
class NonSaturatingGAN(Objective):
    """The Jensen-Shannon game with the non-saturating generator loss (Goodfellow et al., 2014).

    Per step, on the preprocessed data y = T(x) and noise z for the global batch:
        critic:    E[softplus(−d(y))] + E[softplus(d(g(z)))]   (g(z) detached)
        generator: E[softplus(−d(g(z)))]
    """

    players = (Player("critic", _ADAM_GAN), Player("generator", _ADAM_GAN))

    def parameters(self, player: str, model: GenerativeModel) -> list[nn.Parameter]:
        gan = _gan(model)
        return list((gan.critic if player == "critic" else gan.generator).parameters())

    def loss(
        self, player: str, model: GenerativeModel, batch: tuple[Tensor, ...], ctx: StepContext
    ) -> tuple[Tensor, dict[str, Tensor]]:
        gan = _gan(model)
        y = model.preprocess(batch[0])[0] if isinstance(model, Preprocessed) else batch[0]
        fake = gan.generate(ctx.noise(y.shape[0], gan.latent, like=y))
        if player == "critic":
            real_logits, fake_logits = gan.score(y), gan.score(fake.detach())
            # D(x) averaged over real data: ½ at the game's equilibrium.
            return critic_loss_js(real_logits, fake_logits), {"d_real": real_logits.sigmoid().mean()}
        return generator_loss_nonsaturating(gan.score(fake)), {}
