"""`clankers train <task>` works for every config-driven task: a few hundred SAC steps each (no learning
is asserted here; the measured results come from the full recipes, see the README)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clankers.train import TrainConfig, recipe_for, train
from clankers.train.sac import evaluate_saved


@pytest.mark.parametrize("task", ["pendulum", "arm_reach", "arm_reach6", "two_arm_reach"])
def test_recipe_trains_and_reports_return_and_success_rate(task: str, tmp_path: Path) -> None:
    config = recipe_for(task, total_timesteps=200)
    assert config.algo == "sac"
    config = config.replace(eval_episodes=2, eval_every=200, checkpoint_every=None)
    result = train(config.with_hyperparams(learning_starts=100), tmp_path)
    assert result.env_steps == 200 and result.model_path.is_file() and result.curve_path.is_file()
    summary = json.loads(result.summary_path.read_text())
    assert summary["algorithm"] == "sac" and summary["env_steps"] == 200
    assert np.isfinite(summary["eval_mean"]) and 0.0 <= summary["eval_success_rate"] <= 1.0
    assert summary["history"]["eval_steps"] == [200.0]
    assert TrainConfig.model_validate(summary["config"]).hyperparams.learning_starts == 100
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
