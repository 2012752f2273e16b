"""Per-player optimiser settings and the learning-rate schedule (pure functions, no training)."""

from __future__ import annotations

import pytest

from dgm.config import RunConfig, apply_overrides
from dgm.errors import DgmError
from dgm.gan.objectives import NonSaturatingGAN
from dgm.objectives.likelihood import MaximumLikelihood
from dgm.train.optim import lr_factor, player_settings, progress


def test_warmup_then_cosine_by_steps() -> None:
    def f(step: int) -> float:
        return lr_factor(step, 10, progress(step, 10, 100, 0.0, None))

    assert f(0) == pytest.approx(0.1)
    assert f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5)
    assert f(100) == pytest.approx(0.0)
    assert lr_factor(50, 0, 0.7, "constant") == 1.0


def test_a_run_bounded_by_time_alone_decays_to_zero_at_its_end() -> None:
    """No step count: the cosine follows elapsed time, so the rate is ≈ 0 when the budget is spent."""
    assert progress(10_000, 0, None, 0.0, 180.0) == 0.0
    assert lr_factor(10_000, 0, progress(10_000, 0, None, 90.0, 180.0)) == pytest.approx(0.5)
    assert lr_factor(10_000, 0, progress(10_000, 0, None, 179.0, 180.0)) < 1e-3
    # Bounded by both: whichever bound is nearer sets the pace.
    assert progress(50, 0, 100, 170.0, 180.0) == pytest.approx(170 / 180)
    assert progress(90, 0, 100, 10.0, 180.0) == pytest.approx(0.9)


def _config(**kw: object) -> RunConfig:
    return RunConfig.from_dict({"model": "gan", "data": "moons", "objective": "gan-ns", **kw})


def test_player_settings_layer_defaults_shared_keys_and_per_player_keys() -> None:
    given = apply_overrides(
        {}, ["optim.critic.lr=5e-5", "optim.critic.kind=rmsprop", "optim.generator.every=5"]
    )
    settings = player_settings(NonSaturatingGAN(), _config(**given, weight_decay=1e-4))
    critic, generator = settings["critic"], settings["generator"]
    assert (critic.kind, critic.lr, critic.weight_decay) == ("rmsprop", 5e-5, 1e-4)
    assert (generator.kind, generator.lr, generator.betas, generator.every) == ("adam", 2e-4, (0.5, 0.999), 5)
    # --lr is the one knob of a single-player objective.
    assert player_settings(MaximumLikelihood(), _config(lr=3e-3))["model"].lr == 3e-3


@pytest.mark.parametrize(
    "optim, match",
    [
        ({"critc": {"lr": 1e-3}}, "no player 'critc'.*critic, generator"),
        ({"critic": {"learning_rate": 1}}, "unknown optimiser setting 'learning_rate'"),
        ({"critic": {"lr": "inf"}}, "lr must be a positive finite number"),
        ({"critic": {"lr": -1}}, "lr must be a positive finite number"),
        ({"critic": {"kind": "adagrad"}}, "kind must be one of adam"),
        ({"critic": {"betas": [0.5]}}, "betas must be two numbers"),
        ({"critic": {"every": 1.5}}, "optim.critic.every cannot be 1.5"),
        ({"critic": 3}, "optim.critic must be a mapping"),
    ],
)
def test_bad_player_settings_name_the_problem(optim: dict, match: str) -> None:
    with pytest.raises(DgmError, match=match):
        player_settings(NonSaturatingGAN(), _config(optim=optim))


def test_set_syntax_for_players() -> None:
    assert apply_overrides({}, ["optim.critic.every=5"]) == {"optim": {"critic": {"every": 5}}}
    with pytest.raises(DgmError, match="optim.PLAYER.SETTING"):
        apply_overrides({}, ["optim.lr=1"])
    with pytest.raises(DgmError, match="finite"):
        RunConfig.from_dict({"model": "gan", "data": "moons", "lr": "inf"})
