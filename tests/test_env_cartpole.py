"""The clankers/CartPole-v0 task: spaces, reward, termination, seeding, action validation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import clankers.envs
from clankers.envs.cartpole import CartPoleEnv
from clankers.errors import ActionError, ConfigError


def rollout(env: gym.Env, seed: int, actions: np.ndarray) -> tuple[np.ndarray, list[float]]:
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            break
    return np.array(observations), rewards


def test_registered_and_spaces() -> None:
    env = gym.make("clankers/CartPole-v0")
    assert env.observation_space == gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    obs, info = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs.shape == (4,)
    assert np.all(np.abs(obs) <= 0.05) and info == {}
    assert env.unwrapped.observation_names == (
        "cart_slide.position",
        "cart_slide.velocity",
        "pole_hinge.position",
        "pole_hinge.velocity",
    )


def test_passes_gymnasium_env_checker() -> None:
    from gymnasium.utils.env_checker import check_env

    with pytest.warns(UserWarning, match="infinity"):  # the unbounded observation space is deliberate
        check_env(CartPoleEnv(), skip_render_check=True)


def test_same_seed_same_episode_bit_for_bit() -> None:
    actions = np.random.default_rng(1).uniform(-1, 1, size=(200, 2)).astype(np.float32)
    obs_a, rew_a = rollout(gym.make("clankers/CartPole-v0"), 42, actions)
    obs_b, rew_b = rollout(gym.make("clankers/CartPole-v0"), 42, actions)
    assert obs_a.tobytes() == obs_b.tobytes() and rew_a == rew_b
    obs_c, _ = rollout(gym.make("clankers/CartPole-v0"), 43, actions)
    assert not np.array_equal(obs_a[0], obs_c[0])


def test_reward_and_termination_on_pole_angle() -> None:
    env = CartPoleEnv()
    env.reset(seed=0)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, _ = env.step(np.array([1.0, 0.0], dtype=np.float32))
        total += reward
        steps += 1
        if terminated or truncated:
            break
    assert terminated and not truncated
    assert abs(obs[2]) > 0.2094 or abs(obs[0]) > 2.4
    assert total == steps  # +1 per step including the terminal one
    assert steps < 50


def test_termination_on_cart_position() -> None:
    env = CartPoleEnv()
    env.reset(seed=0)
    env.sim.reset(qpos=np.array([2.39, 0.0]), qvel=np.array([1.0, 0.0]))
    _, _, terminated, _, _ = env.step(np.zeros(2, dtype=np.float32))
    assert terminated


def test_truncation_at_max_episode_steps() -> None:
    env = CartPoleEnv(max_episode_steps=500)
    env.reset(seed=0)
    # Freeze the pole upright and the cart still: with no gravity nothing moves and nothing terminates.
    env.sim.model.opt.gravity[:] = 0.0
    env.sim.reset()
    for step in range(1, 501):
        _, _, terminated, truncated, _ = env.step(np.zeros(2, dtype=np.float32))
        assert not terminated
        assert truncated == (step == 500)


@pytest.mark.parametrize(
    "action",
    [np.zeros(3), np.zeros((1, 2)), np.array([np.nan, 0.0]), np.array([0.0, np.inf]), np.array([-np.inf, 0])],
)
def test_invalid_actions_raise(action: np.ndarray) -> None:
    env = CartPoleEnv()
    env.reset(seed=0)
    with pytest.raises(ActionError):
        env.step(action)


def test_unknown_task_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cartpole"):
        clankers.envs.make_env("cartpol")
