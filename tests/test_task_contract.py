"""The contract every registered task keeps, parametrized over the task registry.

A task registered with :func:`clankers.envs.register_task` is covered here without writing a test:
Gymnasium's and SB3's env checkers, bit-identical episodes under a seed, ``dt`` and the horizon, MCAP
timestamps one control period apart, the threaded vector env equal to ``SyncVectorEnv``, the info keys,
one resolver for every form of its name, its recipe and its documentation entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from mcap.reader import make_reader

from _vector_helpers import assert_same_infos
from clankers.envs import RegisteredTask, registered_tasks, resolve_task
from clankers.envs.tasks import TaskEnv
from clankers.envs.vector import ClankersVectorEnv
from clankers.sim.robot import ASSETS_DIR

TASKS = list(registered_tasks().values())
DOCS = Path(__file__).resolve().parents[1] / "docs" / "tasks.md"


def by_name(function: Any) -> Any:
    return pytest.mark.parametrize("task", TASKS, ids=[t.name for t in TASKS])(function)


def rollout(env: gym.Env, seed: int, steps: int = 30) -> tuple[bytes, list[float], list[Any]]:
    obs, info = env.reset(seed=seed)
    actions = np.random.default_rng(seed).uniform(-1, 1, size=(steps, *env.action_space.shape))
    chunks, rewards, infos = [obs.tobytes()], [], [info]
    for action in actions.astype(np.float32):
        obs, reward, terminated, truncated, info = env.step(action)
        chunks.append(obs.tobytes())
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            break
    return b"".join(chunks), rewards, infos


def test_the_registry_holds_every_shipped_task() -> None:
    assert {t.name for t in TASKS} >= {"cartpole", "pendulum", "arm_reach", "arm_reach6", "two_arm_reach"}


@by_name
def test_passes_gymnasium_env_checker(task: RegisteredTask) -> None:
    from gymnasium.utils.env_checker import check_env

    with pytest.warns(UserWarning, match="infinity"):  # unbounded velocities: deliberate
        check_env(task.make(), skip_render_check=True)


@by_name
def test_passes_sb3_env_checker(task: RegisteredTask) -> None:
    from stable_baselines3.common.env_checker import check_env

    check_env(task.make(), warn=True)


@by_name
def test_same_seed_same_episode_bit_for_bit_other_seed_another(task: RegisteredTask) -> None:
    first = rollout(gym.make(task.env_id), 7)
    again = rollout(gym.make(task.env_id), 7)
    assert first[0] == again[0] and first[1] == again[1] and first[2] == again[2]
    other = rollout(gym.make(task.env_id), 8)
    assert other[0][:64] != first[0][:64]


@by_name
def test_dt_is_the_control_period_and_the_horizon_is_in_the_spec(task: RegisteredTask) -> None:
    env = gym.make(task.env_id)
    raw: TaskEnv = env.unwrapped  # type: ignore[assignment]
    assert raw.dt == task.config.sim.control_dt
    assert env.spec.max_episode_steps == task.config.max_episode_steps == raw.max_episode_steps
    assert raw.metadata["render_fps"] == round(1 / raw.dt)
    env.reset(seed=0)
    before = raw.sim.data.time
    env.step(env.action_space.sample())
    assert raw.sim.data.time - before == pytest.approx(raw.dt, abs=1e-12)


@by_name
def test_recording_timestamps_advance_by_dt(task: RegisteredTask, tmp_path: Path) -> None:
    from clankers.envs.recording import StateRecorder, write_recording

    env = StateRecorder(gym.make(task.env_id))
    env.reset(seed=0)
    for _ in range(5):
        env.step(env.action_space.sample())
    path = write_recording(tmp_path / "run.mcap", env.finish(), env, foxglove=False)
    with open(path, "rb") as stream:
        reader = make_reader(stream)
        times = [m.log_time for _, c, m in reader.iter_messages() if c.topic == "/clankers/state"]
    assert len(times) == 6  # after the reset, then after every step
    assert set(np.diff(times)) == {round(task.config.sim.control_dt * 1e9)}


@by_name
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_equals_sync_vector_env(task: RegisteredTask, mode: AutoresetMode) -> None:
    """Through auto-resets (short episodes), infos included. (Not ``make_vec(..., "sync",
    max_episode_steps=...)``: ``gym.make`` turns that argument into a TimeLimit wrapper.)"""
    ours = gym.make_vec(
        task.env_id,
        num_envs=3,
        vectorization_mode="vector_entry_point",
        num_threads=2,
        autoreset_mode=mode,
        max_episode_steps=15,
    )
    sync = SyncVectorEnv([lambda: task.make(max_episode_steps=15)] * 3, autoreset_mode=mode)
    assert isinstance(ours.unwrapped, ClankersVectorEnv)
    assert ours.single_observation_space == sync.single_observation_space
    obs_a, info_a = ours.reset(seed=123)
    obs_b, info_b = sync.reset(seed=123)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert_same_infos(info_a, info_b)
    sync.action_space.seed(0)
    ended = 0
    for _ in range(40):
        actions = sync.action_space.sample()
        a, b = ours.step(actions), sync.step(actions)
        for x, y in zip(a[:4], b[:4], strict=True):
            np.testing.assert_array_equal(x, y)
        assert_same_infos(a[4], b[4])
        ended += int((a[2] | a[3]).sum())
    assert ended >= 3
    ours.close()
    sync.close()


@by_name
def test_infos_report_reward_terms_and_success_only_with_a_condition(task: RegisteredTask) -> None:
    env = task.make()
    _, info = env.reset(seed=0)
    has_success = task.config.success is not None
    assert ("is_success" in info) == has_success
    _, reward, _, _, info = env.step(env.action_space.sample())
    assert ("is_success" in info) == has_success
    assert list(info["reward_terms"]) == [t.label for t in task.config.rewards]
    assert reward == pytest.approx(sum(info["reward_terms"].values()))
    assert isinstance(info["termination"], list)


@by_name
def test_every_form_of_its_name_resolves_to_it(task: RegisteredTask) -> None:
    assert resolve_task(task.name) == resolve_task(task.env_id) == task.env_id
    assert task.source is not None and resolve_task(task.source) == task.env_id
    assert resolve_task(str(task.source)) == task.env_id


@by_name
def test_recipe_is_a_valid_training_config(task: RegisteredTask) -> None:
    from clankers.train import recipe_for

    assert task.recipe is not None, f"shipped task {task.name} has no training recipe"
    config = recipe_for(task.name, seed=3)
    assert config.task == task.name and config.algo == task.recipe["algo"] and config.seed == 3
    for key, value in task.recipe.items():
        if key != "hyperparams":
            assert getattr(config, key) == value, key


@by_name
def test_documentation_entry_has_the_gymnasium_sections(task: RegisteredTask) -> None:
    for section in (
        "## Description",
        "## Action Space",
        "## Observation Space",
        "## Rewards",
        "## Episode End",
    ):
        assert section in task.doc, f"{task.name}: no {section!r} in its docs entry"
    assert f"`{task.env_id}`" in DOCS.read_text(encoding="utf-8"), (
        f"docs/tasks.md does not list {task.env_id}"
    )


@pytest.mark.parametrize("path", sorted((ASSETS_DIR / "tasks").glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_task_file_builds_and_steps(path: Path) -> None:
    env = TaskEnv(path)
    assert env.config.name == path.stem
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    obs, *_ = env.step(env.action_space.sample())
    assert obs.shape == env.observation_space.shape
