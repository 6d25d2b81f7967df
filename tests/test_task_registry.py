"""The task registry and the one resolver: short names, Gymnasium ids and task files, for every command."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from clankers.envs import find_task, make_env, register_task, registered_tasks, resolve_task
from clankers.envs.tasks import unregister_task
from clankers.errors import ConfigError
from clankers.sim.robot import ASSETS_DIR

SHIPPED = ASSETS_DIR / "tasks"


@pytest.fixture
def my_task(tmp_path: Path) -> Path:
    """The cart-pole under another name and a shorter horizon, in a folder of its own."""
    text = (SHIPPED / "cartpole.toml").read_text()
    text = text.replace('name = "cartpole"', 'name = "my_cartpole"').replace("= 500 ", "= 50 ")
    path = tmp_path / "tasks" / "my_cartpole.toml"
    path.parent.mkdir()
    path.write_text(text)
    yield path
    unregister_task("my_cartpole")


def test_short_name_id_and_gymnasium_ids_resolve() -> None:
    assert resolve_task("cartpole") == resolve_task("clankers/CartPole-v1") == "clankers/CartPole-v1"
    assert resolve_task("CartPole-v1") == "CartPole-v1"  # Gymnasium's own, not ours
    assert find_task("CartPole-v1") is None
    assert find_task("pendulum").recipe["algo"] == "sac"  # type: ignore[union-attr,index]


def test_unknown_task_names_the_known_ones_and_the_accepted_forms() -> None:
    with pytest.raises(ConfigError, match="known tasks: cartpole") as caught:
        resolve_task("cartpol")
    assert "task .toml file" in (caught.value.hint or "")


def test_a_task_file_is_registered_on_first_use(my_task: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "my_cartpole" not in registered_tasks()
    env_id = resolve_task(str(my_task))
    assert env_id == "clankers/MyCartpole-v0"
    entry = find_task("my_cartpole")
    assert entry is not None and entry.source == my_task.resolve() and entry.recipe is None
    monkeypatch.chdir(my_task.parent.parent)
    assert resolve_task("tasks/my_cartpole.toml") == env_id  # relative paths too; the same entry
    assert resolve_task(Path("tasks/my_cartpole.toml")) == env_id
    env = make_env(str(my_task))
    assert env.spec.max_episode_steps == 50
    _, _, _, truncated, _ = [env.reset(seed=0), *[env.step(np.zeros(2)) for _ in range(50)]][-1]
    assert truncated or env.unwrapped.state.step_count < 50


def test_a_shipped_task_file_resolves_to_the_shipped_task_with_its_recipe() -> None:
    entry = find_task(SHIPPED / "arm_reach.toml")
    assert entry is find_task("arm_reach") and entry.recipe is not None


def test_a_file_whose_name_is_taken_by_another_task_is_refused(tmp_path: Path) -> None:
    text = (SHIPPED / "cartpole.toml").read_text().replace("= 500 ", "= 100 ")
    path = tmp_path / "cartpole.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="registered already") as caught:
        resolve_task(path)
    assert "another `name`" in (caught.value.hint or "")


def test_a_missing_task_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_task(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_task("nope/nope.json")


def test_register_task_checks_its_arguments(my_task: Path) -> None:
    with pytest.raises(ConfigError, match="identifier"):
        register_task(my_task, name="my-task")
    with pytest.raises(ConfigError, match="'algo'"):
        register_task(my_task, recipe={"total_timesteps": 10})
    with pytest.raises(ConfigError, match="by something else"):
        register_task(my_task, env_id="CartPole-v1")


def test_docs_entries_are_dedented_and_default_to_the_description(my_task: Path) -> None:
    entry = register_task(
        my_task,
        doc="""First line.

        ## Rewards
        +1 per step.
        """,
    )
    assert entry.doc == "First line.\n\n## Rewards\n+1 per step."
    unregister_task("my_cartpole")
    assert register_task(my_task).doc.startswith("Balance a pole")


def test_the_wire_server_accepts_the_same_forms(my_task: Path) -> None:
    from clankers.server import env_source

    assert env_source("cartpole").name == "clankers/CartPole-v1"
    source = env_source(str(my_task))
    assert source.name == "clankers/MyCartpole-v0" and source.make_vector is not None
    plain = env_source("CartPole-v1")
    assert plain.name == "CartPole-v1" and plain.make_vector is None
    with pytest.raises(ConfigError, match="known tasks"):
        env_source("cartpol")


def test_the_closed_loop_runner_accepts_a_task_file(my_task: Path) -> None:
    from clankers.envs.rollout import evaluate

    evaluation = evaluate(lambda obs: np.zeros(2, np.float32), str(my_task), 2, seed=0)
    assert evaluation.control_dt == 0.02 and len(evaluation.episodes) == 2


def test_recipe_for_a_task_without_recipe_needs_an_algorithm(my_task: Path) -> None:
    from clankers.train import recipe_for

    with pytest.raises(ConfigError, match="no training recipe") as caught:
        recipe_for(str(my_task))
    assert "--algo" in (caught.value.hint or "")
    config = recipe_for(str(my_task), algo="sac", total_timesteps=1_000, overrides={"learning_rate": 5e-4})
    assert (config.algo, config.total_timesteps, config.num_envs) == ("sac", 1_000, 1)
    assert config.hyperparams.learning_rate == 5e-4 and config.task == str(my_task)
    gym_config = recipe_for("CartPole-v1", algo="ppo", num_envs=2)
    assert gym_config.algo == "ppo" and gym_config.num_envs == 2


def test_recipe_for_keeps_the_recipe_or_switches_algorithm() -> None:
    from clankers.train import recipe_for

    arm = recipe_for("arm_reach", seed=4)
    assert arm.algo == "sac" and arm.hyperparams.net_arch == [128, 128] and arm.hyperparams.gamma == 0.98
    assert arm.target_success_rate == 0.95 and arm.seed == 4
    switched = recipe_for("arm_reach", algo="ppo")
    assert switched.algo == "ppo" and switched.total_timesteps == arm.total_timesteps
    assert switched.hyperparams.net_arch == {"pi": [64, 64], "vf": [64, 64]}  # PPO's defaults
    with pytest.raises(ConfigError):
        recipe_for("cartpole", overrides={"no_such_setting": 1})


def test_gymnasium_registry_and_ours_agree() -> None:
    for entry in registered_tasks().values():
        spec = gym.spec(entry.env_id)
        assert spec.entry_point is entry.factory and spec.vector_entry_point is not None


def test_clankers_train_takes_a_task_file_and_a_gymnasium_id(my_task: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from clankers.cli import app

    runner = CliRunner()
    small = ["--timesteps", "128", "--num-envs", "2", "--set", "n_steps=64", "--set", "eval_episodes=2"]
    refused = runner.invoke(app, ["train", str(my_task), "--out", str(tmp_path / "a")])
    assert refused.exit_code == 2 and "no training recipe" in refused.stderr and "--algo" in refused.stderr
    trained = runner.invoke(
        app, ["train", str(my_task), "--algo", "ppo", "--out", str(tmp_path / "b"), *small]
    )
    assert trained.exit_code == 0, trained.output
    summary = json.loads((tmp_path / "b" / "training.json").read_text())
    assert summary["config"]["task"] == str(my_task) and summary["env_steps"] == 128
    gym_run = runner.invoke(
        app, ["train", "CartPole-v1", "--algo", "ppo", "--out", str(tmp_path / "c"), *small]
    )
    assert gym_run.exit_code == 0, gym_run.output
    assert (tmp_path / "c" / "model.zip").is_file()
