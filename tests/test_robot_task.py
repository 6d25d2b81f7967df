"""Real robots inside tasks: a floating Go1 task file with position actions and base observations."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from clankers.envs.tasks import TaskEnv
from clankers.errors import ConfigError
from clankers.sim import asset_path
from clankers.sim.urdf import RobotImportWarning, example_robot_data

ROBOTS = example_robot_data()
pytestmark = pytest.mark.skipif(
    ROBOTS is None, reason="needs example-robot-data (pip install 'clankers[robots]')"
)
FEET = ["FL_foot", "FR_foot", "RL_foot", "RR_foot"]


def go1_task(**changes: object) -> dict:
    assert ROBOTS is not None
    robot = {
        "name": "go1",
        "urdf": str(ROBOTS / "go1_description/urdf/go1.urdf"),
        "base": "floating",
        "home": {"*_hip_joint": 0.0, "*_thigh_joint": 0.8, "*_calf_joint": -1.853},
    }
    config = {
        "name": "go1_stand",
        "max_episode_steps": 100,
        "sim": {"physics_dt": 0.002, "control_dt": 0.02, "integrator": "implicitfast"},
        "robots": [robot],
        "action": {"kind": "position", "kp": 150.0, "kd": 3.0, "scale": 0.25},
        "start": {"default": {"position": [-0.05, 0.05]}},
        "observations": [
            {"kind": "base_height"},
            {"kind": "projected_gravity"},
            {"kind": "base_linear_velocity"},
            {"kind": "base_angular_velocity"},
            {"kind": "joint_position"},
            {"kind": "foot_contacts", "links": FEET},
        ],
        "rewards": [{"kind": "constant"}],
    }
    config.update(changes)
    return config


def make(config: dict) -> TaskEnv:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RobotImportWarning)
        return TaskEnv(config)


def test_floating_go1_task_observes_its_base_and_stands() -> None:
    env = make(go1_task())
    assert env.robot.base == "floating"
    assert env.action_space.shape == (12,)  # one action per actuated joint: the base is not actuated
    names = env.observation_names
    assert names[:4] == (
        "base.height",
        "base.projected_gravity.x",
        "base.projected_gravity.y",
        "base.projected_gravity.z",
    )
    assert names[-4:] == tuple(f"{foot}.contact" for foot in FEET)
    obs, _ = env.reset(seed=3)
    nominal = env.robot.base_position[2]
    assert obs[0] == pytest.approx(nominal)  # starts standing: home pose on the ground
    np.testing.assert_allclose(obs[1:4], [0.0, 0.0, -1.0], atol=1e-6)
    joints = env.observation_slices["joint_position"]
    assert np.all(np.abs(obs[joints] - env.robot.home) <= 0.05 + 1e-6)  # drawn around home
    assert np.any(np.abs(obs[joints] - env.robot.home) > 1e-3)
    for _ in range(100):
        obs, *_ = env.step(np.zeros(12, dtype=np.float32))
    assert abs(obs[0] - nominal) < 0.02
    assert obs[3] < -0.99
    np.testing.assert_allclose(obs[-4:], 1.0)
    np.testing.assert_allclose(obs[joints], env.robot.home, atol=0.05)  # action 0 = hold home


def test_position_offsets_the_floating_start_and_actions_move_joints() -> None:
    env = make(go1_task(robots=[{**go1_task()["robots"][0], "position": [1.0, 0.0, 0.1]}]))
    obs, _ = env.reset(seed=0)
    assert obs[0] == pytest.approx(env.robot.base_position[2])
    assert env.robot.base_position[0] == 1.0
    np.testing.assert_allclose(env.sim.data.qpos[:2], [1.0, 0.0])
    hip = env.layout.names.index("FL_hip_joint")
    action = np.zeros(12, dtype=np.float32)
    action[hip] = 1.0  # target home + 0.25 rad
    for _ in range(30):
        env.step(action)
    assert env.sim.joint_positions()[hip] == pytest.approx(env.robot.home[hip] + 0.25, abs=0.05)


def test_same_seed_same_episode() -> None:
    runs = []
    for _ in range(2):
        env = make(go1_task())
        obs, _ = env.reset(seed=11)
        trace = [obs]
        rng = np.random.default_rng(0)
        for _ in range(20):
            trace.append(env.step(rng.uniform(-1, 1, 12).astype(np.float32))[0])
        runs.append(np.array(trace))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_base_terms_need_a_floating_base() -> None:
    config = go1_task(robots=[{**go1_task()["robots"][0], "base": "fixed"}])
    with pytest.raises(ConfigError, match="floating base"):
        make(config)


def test_floating_robots_in_multi_robot_scenes_are_refused(tmp_path: Path) -> None:
    arm = {"name": "arm", "urdf": str(asset_path("urdf/two_link_arm.urdf")), "position": [2.0, 0.0, 0.0]}
    config = go1_task(robots=[go1_task()["robots"][0], arm], observations=[{"kind": "joint_position"}])
    with pytest.raises(ConfigError, match="floating bases"):
        make(config)
