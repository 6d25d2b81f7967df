"""`clankers train <task>` works for every config-driven task: a few hundred steps of its recipe's algorithm each (no learning
is asserted here; the measured results come from the full recipes, see the README)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clankers.train import TrainConfig, recipe_for, train
from clankers.train.common import evaluate_saved


@pytest.mark.parametrize(
    ("task", "algo"),
    [("pendulum", "sac"), ("arm_reach", "sac"), ("arm_reach6", "ppo"), ("two_arm_reach", "ppo")],
)
def test_recipe_trains_and_reports_return_and_success_rate(task: str, algo: str, tmp_path: Path) -> None:
    config = recipe_for(task, total_timesteps=256)
    assert config.algo == algo
    config = config.replace(eval_episodes=2, eval_every=256, checkpoint_every=None)
    if algo == "sac":
        config = config.with_hyperparams(learning_starts=100)
    else:  # one short rollout of 2 envs x 128 steps
        config = config.replace(num_envs=2).with_hyperparams(n_steps=128, batch_size=64)
    result = train(config, tmp_path)
    assert result.env_steps == 256 and result.model_path.is_file() and result.curve_path.is_file()
    summary = json.loads(result.summary_path.read_text())
    assert summary["algorithm"] == algo and summary["env_steps"] == 256
    assert np.isfinite(summary["eval_mean"]) and 0.0 <= summary["eval_success_rate"] <= 1.0
    assert summary["history"]["eval_steps"] == [256.0]
    saved = TrainConfig.model_validate(summary["config"]).hyperparams
    assert saved.learning_starts == 100 if algo == "sac" else saved.n_steps == 128
    fresh = evaluate_saved(result.model_path, task, episodes=2, seed=99)
    assert (
        fresh["episodes"] == 2 and 0.0 <= fresh["success_rate"] <= 1.0 and np.isfinite(fresh["mean_return"])
    )


def test_recipe_overrides_and_unknown_task() -> None:
    from clankers.errors import ConfigError

    config = recipe_for("arm_reach", seed=3, total_timesteps=1234, num_envs=2)
    assert (config.seed, config.total_timesteps, config.num_envs) == (3, 1234, 2)
    with pytest.raises(ConfigError, match="arm_rech"):
        recipe_for("arm_rech")
