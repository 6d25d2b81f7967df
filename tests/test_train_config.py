"""TrainConfig: one validated, frozen config for every algorithm (no training here: milliseconds)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from clankers.errors import ConfigError
from clankers.sim.model import ConfigModel
from clankers.train import PPOParams, SACParams, TrainConfig
from clankers.train.config import apply_overrides, parse_overrides, with_algo


def test_one_base_and_algorithm_dependent_defaults() -> None:
    ppo, sac = TrainConfig(), TrainConfig(task="pendulum", algo="sac")
    assert isinstance(ppo, ConfigModel) and isinstance(ppo.hyperparams, PPOParams)
    assert isinstance(sac.hyperparams, SACParams)
    assert (ppo.num_envs, ppo.eval_every) == (8, None)
    assert (sac.num_envs, sac.eval_every) == (1, 5_000)
    # An explicit value wins over the algorithm's default.
    assert TrainConfig(algo="sac", num_envs=4).num_envs == 4


@pytest.mark.parametrize(
    "values",
    [
        {"num_envs": 0},
        {"total_timesteps": -1},
        {"target_success_rate": 1.5},
        {"algo": "dqn"},
        {"nonsense": 1},
        {"algo": "sac", "hyperparams": PPOParams()},
        {"hyperparams": {"buffer_size": 10}},  # a SAC key in PPO's hyperparameters
        {"hyperparams": {"gamma": 1.5}},
    ],
)
def test_bad_values_are_config_errors(values: dict) -> None:
    with pytest.raises(ConfigError):
        TrainConfig(**values)


def test_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="known tasks") as info:
        TrainConfig(task="cartpol")
    assert "validation error" not in str(info.value)  # the resolver's own message, not pydantic's


def test_frozen_and_replace_validates() -> None:
    config = TrainConfig()
    with pytest.raises(ValidationError):
        config.seed = 3  # type: ignore[misc]
    assert config.replace(seed=3).seed == 3 and config.seed == 0
    with pytest.raises(ConfigError):
        config.replace(num_envs=-2)
    assert config.with_hyperparams(n_steps=64).hyperparams.n_steps == 64


def test_json_round_trip_gives_the_same_config() -> None:
    config = TrainConfig(task="arm_reach", algo="sac", hyperparams={"gamma": 0.98, "net_arch": [128, 128]})
    again = TrainConfig.model_validate(json.loads(json.dumps(config.model_dump(mode="json"))))
    assert again == config and isinstance(again.hyperparams, SACParams)


def test_sb3_kwargs_put_net_arch_in_policy_kwargs() -> None:
    kwargs = SACParams(net_arch=[32, 32]).sb3_kwargs()
    assert kwargs["policy_kwargs"] == {"net_arch": [32, 32]} and "net_arch" not in kwargs
    assert kwargs["learning_rate"] == 1e-3 and kwargs["buffer_size"] == 100_000


def test_overrides_reach_fields_and_hyperparameters() -> None:
    pairs = ["learning_rate=1e-3", "net_arch=[128,128]", "num_envs=2", "ent_coef=auto_0.1"]
    overrides = parse_overrides(pairs)
    assert overrides == {"learning_rate": 1e-3, "net_arch": [128, 128], "num_envs": 2, "ent_coef": "auto_0.1"}
    config = apply_overrides(TrainConfig(task="pendulum", algo="sac"), overrides)
    assert config.num_envs == 2 and config.hyperparams.learning_rate == 1e-3
    assert config.hyperparams.net_arch == [128, 128] and config.hyperparams.ent_coef == "auto_0.1"


def test_bad_overrides_say_what_can_be_set() -> None:
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        parse_overrides(["learning_rate"])
    with pytest.raises(ConfigError, match="unknown setting") as info:
        apply_overrides(TrainConfig(), {"buffer_size": 10})  # SAC's, not PPO's
    assert "n_steps" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="algo") as info:
        apply_overrides(TrainConfig(), {"algo": "sac"})
    assert "--algo" in (info.value.hint or "")


def test_switching_algorithm_keeps_task_budget_and_targets() -> None:
    config = TrainConfig(task="pendulum", total_timesteps=1234, seed=5, target_return=-200.0)
    sac = with_algo(config, "sac")
    assert (sac.task, sac.total_timesteps, sac.seed, sac.target_return) == ("pendulum", 1234, 5, -200.0)
    assert isinstance(sac.hyperparams, SACParams) and sac.num_envs == 1
