"""clankers/CartPole-v1, the cart-pole as a task file: CartPole-v1's spaces, reward, limits and horizon.

The generic properties every task has (env checkers, seeding, dt, vector env) are in
tests/test_task_contract.py; this file checks what is particular to the cart-pole.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import clankers.envs
from clankers.envs import find_task
from clankers.errors import ActionError, ConfigError


def cartpole(**kwargs: object) -> gym.Env:
    return find_task("cartpole").make(**kwargs)  # type: ignore[union-attr]


def test_registered_with_cartpole_v1s_spaces_and_layout() -> None:
    env = gym.make("clankers/CartPole-v1")
    assert env.spec.max_episode_steps == 500
    assert env.observation_space == gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    obs, info = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs.shape == (4,)
    assert np.all(np.abs(obs) <= 0.05) and info == {}  # no success condition: no is_success
    assert env.unwrapped.observation_names == (
        "cart_slide.position",
        "cart_slide.velocity",
        "pole_hinge.position",
        "pole_hinge.velocity",
    )
    assert env.unwrapped.dt == 0.02 and env.unwrapped.sim.substeps == 20


def test_start_states_cover_the_box_and_follow_the_seed() -> None:
    env = cartpole()
    starts = np.array([env.reset(seed=seed)[0] for seed in range(200)])
    assert np.all(np.abs(starts) <= 0.05) and np.all(starts.min(axis=0) < -0.045)
    assert np.all(starts.max(axis=0) > 0.045)
    assert env.reset(seed=7)[0].tobytes() == cartpole().reset(seed=7)[0].tobytes()


def test_reward_and_termination_on_pole_angle() -> None:
    env = cartpole()
    env.reset(seed=0)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0], dtype=np.float32))
        total += reward
        steps += 1
        if terminated or truncated:
            break
    assert terminated and not truncated
    assert abs(obs[2]) > 0.2094 and info["termination"] == ["pole_angle"]
    assert total == steps  # +1 per step including the terminal one
    assert steps < 50
    assert info["reward_terms"] == {"alive": 1.0} and "is_success" not in info


def test_termination_on_cart_position() -> None:
    env = cartpole()
    env.reset(seed=0)
    env.sim.reset(qpos=np.array([2.39, 0.0]), qvel=np.array([1.0, 0.0]))
    _, _, terminated, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert terminated and info["termination"] == ["cart_position"]


def test_limits_are_cartpole_v1s() -> None:
    env = cartpole()
    env.reset(seed=0)
    env.sim.model.opt.gravity[:] = 0.0
    for angle, ends in ((0.2093, False), (-0.2093, False), (0.2095, True), (-0.2095, True)):
        env.sim.reset(qpos=np.array([0.0, angle]))
        assert env.step(np.zeros(2, dtype=np.float32))[2] == ends, angle


def test_truncation_at_500_steps() -> None:
    env = cartpole()
    env.reset(seed=0)
    # Freeze the pole upright and the cart still: with no gravity nothing moves and nothing terminates.
    env.sim.model.opt.gravity[:] = 0.0
    env.sim.reset()
    for step in range(1, 501):
        _, _, terminated, truncated, _ = env.step(np.zeros(2, dtype=np.float32))
        assert not terminated
        assert truncated == (step == 500)


def test_full_command_is_10_newtons_on_the_cart() -> None:
    """From rest without gravity, +1 on the cart pushes with 10 N. The free pole swings back as the cart
    accelerates, so the cart's effective mass is M + m - (m l)^2 / I_pivot (1.0 + 0.1 - 0.075 kg), and
    semi-implicit Euler over N substeps of h moves it a h^2 N (N + 1) / 2."""
    env = cartpole()
    env.reset(seed=0)
    env.sim.model.opt.gravity[:] = 0.0
    env.sim.reset()
    obs, *_ = env.step(np.array([1.0, 0.0], dtype=np.float32))
    m, half, length = 0.1, 0.5, 1.0
    effective_mass = 1.0 + m - (m * half) ** 2 / (m * length**2 / 3)
    n, h = env.sim.substeps, env.dt / env.sim.substeps
    assert obs[0] == pytest.approx(10.0 / effective_mass * h**2 * n * (n + 1) / 2, rel=1e-3)


@pytest.mark.parametrize(
    "action",
    [np.zeros(3), np.zeros((1, 2)), np.array([np.nan, 0.0]), np.array([0.0, np.inf]), np.array([-np.inf, 0])],
)
def test_invalid_actions_raise(action: np.ndarray) -> None:
    env = cartpole()
    env.reset(seed=0)
    with pytest.raises(ActionError):
        env.step(action)


def test_unknown_task_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cartpole"):
        clankers.envs.make_env("cartpol")
