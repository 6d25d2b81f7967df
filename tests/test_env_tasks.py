"""What is particular to the shipped tasks Pendulum-v0, ArmReach-v0, ArmReach6-v1, TwoArmReach-v1.

What every registered task must satisfy (env checkers, seeding, dt, vector env) is in
tests/test_task_contract.py, parametrized over the registry.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from clankers.envs import find_task
from clankers.errors import ActionError

TASK_IDS = {
    "clankers/Pendulum-v0": (3, 1),
    "clankers/ArmReach-v0": (15, 2),
    "clankers/ArmReach6-v1": (21, 6),
    "clankers/TwoArmReach-v1": (30, 4),
}


def arm_reach() -> gym.Env:
    return find_task("arm_reach").make()  # type: ignore[union-attr]


def two_arm_reach() -> gym.Env:
    return find_task("two_arm_reach").make()  # type: ignore[union-attr]


def lone_servo_arm() -> gym.Env:
    """ArmReach-v0's arm with TwoArmReach-v1's velocity servos and control rate: one of its arms alone."""
    from clankers.envs.tasks import TaskEnv
    from clankers.envs.tasks.config import load_task_config, shipped_task_config

    two = load_task_config(shipped_task_config("two_arm_reach"))
    gains = {pattern.removeprefix("*/"): kd for pattern, kd in two.action.kd.items()}
    lone = load_task_config(shipped_task_config("arm_reach"))
    return TaskEnv(
        lone.model_copy(update={"sim": two.sim, "action": two.action.model_copy(update={"kd": gains})})
    )


@pytest.mark.parametrize(("env_id", "sizes"), TASK_IDS.items())
def test_registered_with_documented_spaces(env_id: str, sizes: tuple[int, int]) -> None:
    env = gym.make(env_id)
    n_obs, n_act = sizes
    assert env.observation_space == gym.spaces.Box(-np.inf, np.inf, (n_obs,), np.float32)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (n_act,), np.float32)
    assert len(env.unwrapped.observation_names) == n_obs
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (n_obs,) and info["is_success"] in (True, False)


def test_pendulum_start_covers_the_circle_and_reward_matches_pendulum_v1() -> None:
    env = gym.make("clankers/Pendulum-v0").unwrapped
    angles = []
    for seed in range(200):
        obs, _ = env.reset(seed=seed)
        angles.append(np.arctan2(obs[1], obs[0]))
        assert abs(obs[2]) <= 1.0
    assert np.min(angles) < -2.8 and np.max(angles) > 2.8  # uniform over [-pi, pi]
    obs, reward, *_ = env.step(np.array([0.5], dtype=np.float32))
    angle, rate = np.arctan2(obs[1], obs[0]), obs[2]
    torque = 2.0 * 0.5
    assert reward == pytest.approx(-(angle**2 + 0.1 * rate**2 + 0.001 * torque**2), rel=1e-5)


def test_pendulum_success_only_upright_and_slow() -> None:
    env = gym.make("clankers/Pendulum-v0").unwrapped
    env.reset(seed=0)
    env.sim.reset(qpos=np.array([0.05]), qvel=np.array([0.0]))
    assert env.step(np.zeros(1, dtype=np.float32))[4]["is_success"]
    env.sim.reset(qpos=np.array([np.pi]), qvel=np.array([0.0]))
    assert not env.step(np.zeros(1, dtype=np.float32))[4]["is_success"]
    env.sim.reset(qpos=np.array([2 * np.pi + 0.05]), qvel=np.array([0.0]))  # a full turn later: still upright
    assert env.step(np.zeros(1, dtype=np.float32))[4]["is_success"]


def _tip(shoulder: float, elbow: float) -> np.ndarray:
    """Forward kinematics of the two-link arm by hand (x-z plane, angles from +z)."""
    return np.array(
        [
            0.5 * np.sin(shoulder) + 0.4 * np.sin(shoulder + elbow),
            0.0,
            0.5 * np.cos(shoulder) + 0.4 * np.cos(shoulder + elbow),
        ]
    )


def test_arm_reach_observation_matches_forward_kinematics() -> None:
    env = arm_reach()
    obs, _ = env.reset(seed=3)
    for _ in range(5):
        obs, _, _, _, info = env.step(env.action_space.sample())
    names = env.observation_names
    shoulder = np.arctan2(obs[names.index("j1_shoulder.sin")], obs[names.index("j1_shoulder.cos")])
    elbow = np.arctan2(obs[names.index("j2_elbow.sin")], obs[names.index("j2_elbow.cos")])
    ee = obs[[names.index(f"ee.{a}") for a in "xyz"]]
    target = obs[[names.index(f"target.{a}") for a in "xyz"]]
    np.testing.assert_allclose(ee, _tip(shoulder, elbow), atol=1e-5)
    np.testing.assert_allclose(obs[[names.index(f"ee_to_target.{a}") for a in "xyz"]], target - ee, atol=1e-5)
    distance = np.linalg.norm(target - ee)
    assert info["reward_terms"]["distance"] == pytest.approx(-distance, abs=1e-5)
    assert info["is_success"] == (distance < 0.05)


def test_arm_reach_targets_are_reachable_varied_and_away_from_the_start() -> None:
    env = arm_reach()
    targets = []
    for seed in range(100):
        env.reset(seed=seed)
        target = env.state.targets["target"].copy()
        assert np.linalg.norm(target) <= 0.9 + 1e-9 and target[1] == 0.0  # within reach, in the plane
        assert np.linalg.norm(target - env.state.points["ee"]) >= 0.1
        targets.append(target)
    targets = np.array(targets)
    assert np.ptp(targets[:, 0]) > 1.2 and np.ptp(targets[:, 2]) > 1.2  # all around the shoulder


def test_arm_reach_holding_still_at_the_target_is_a_success() -> None:
    env = arm_reach()
    env.reset(seed=0)
    env.state.targets["target"][:] = _tip(0.3, 0.4)
    env.sim.reset(qpos=np.array([0.3, 0.4]))
    env.sim.model.opt.gravity[:] = 0.0
    _, reward, _, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert info["is_success"] and reward > 0.45  # the precision bonus, nearly undiminished


def test_two_arm_reach_slices_and_each_arm_moves_like_the_lone_arm() -> None:
    env = two_arm_reach()
    assert env.action_slices == {"left": slice(0, 2), "right": slice(2, 4)}
    assert env.robot_observation_slices == {"left": slice(0, 15), "right": slice(15, 30)}
    assert (
        env.observation_names[0] == "left/j1_shoulder.cos"
        and env.observation_names[15] == "right/j1_shoulder.cos"
    )
    obs, _ = env.reset(seed=4)
    lone = lone_servo_arm()
    lone.reset(seed=0)
    left = env.layout.qpos_indices[env.action_slices["left"]]
    lone.sim.reset(qpos=env.sim.data.qpos[left], qvel=env.sim.data.qvel[left])
    actions = np.random.default_rng(0).uniform(-1, 1, size=(40, 4)).astype(np.float32)
    for action in actions:
        obs, *_ = env.step(action)
        lone_obs, *_ = lone.step(action[env.action_slices["left"]])
        # left arm's joint observations (sin/cos, velocities) equal the lone arm's, whatever the right does
        np.testing.assert_allclose(obs[0:6], lone_obs[0:6], atol=1e-9)
    right = env.robot_observation_slices["right"]
    assert not np.allclose(obs[right][:6], obs[0:6])


def test_two_arm_reach_success_needs_both_arms() -> None:
    env = two_arm_reach()
    env.reset(seed=0)
    env.sim.model.opt.gravity[:] = 0.0
    env.sim.reset(qpos=np.array([0.3, 0.4, -0.5, 0.2]))
    env.state.targets["left_target"][:] = _tip(0.3, 0.4) + np.array([-0.6, 0, 0])
    env.state.targets["right_target"][:] = _tip(-0.5, 0.2) + np.array([0.6, 0, 0])
    hold = np.zeros(4, dtype=np.float32)  # velocity servos: zero holds the arms where they are
    info = env.step(hold)[4]
    assert info["is_success"]
    env.state.targets["right_target"][:] += [0.2, 0, 0]
    info = env.step(hold)[4]
    assert not info["is_success"]
    assert info["reward_terms"]["right_distance"] == pytest.approx(-0.2, abs=1e-3)


@pytest.mark.parametrize("action", [np.zeros(3), np.array([np.nan, 0.0]), np.array([0.0, np.inf])])
def test_invalid_actions_raise(action: np.ndarray) -> None:
    env = arm_reach()
    env.reset(seed=0)
    with pytest.raises(ActionError):
        env.step(action)


def test_arm_reach6_zero_holds_the_arm_and_actions_are_joint_velocities() -> None:
    """v1's velocity servos: a zero action holds any pose against gravity (gravity fed forward), and an
    action of 0.5 on the base yaw turns it at 0.5 x 1.5 rad/s while the other joints hold."""
    env = gym.make("clankers/ArmReach6-v1").unwrapped
    env.reset(seed=2)
    obs, *_ = env.step(np.zeros(6, dtype=np.float32))  # stops the start state's small velocities
    start = obs[:6].copy()
    for _ in range(10):  # 1 s
        obs, *_ = env.step(np.zeros(6, dtype=np.float32))
    np.testing.assert_allclose(obs[:6], start, atol=1e-3)  # unsupported, the shoulder would sag ~0.5 rad
    action = np.zeros(6, dtype=np.float32)
    action[0] = 0.5
    for _ in range(10):
        before = obs[:6].copy()
        obs, *_ = env.step(action)
    # a P loop on velocity against the joint's 0.5 N m s/rad damping settles 0.5 / kd 20 = 2.5% short
    assert (obs[0] - before[0]) / env.dt == pytest.approx(0.75 * (1 - 0.5 / 20.5), rel=0.01)
    assert obs[6] == pytest.approx(0.75 * (1 - 0.5 / 20.5), rel=0.01)  # the measured joint velocity
    np.testing.assert_allclose(obs[1:6], start[1:6], atol=2e-2)
