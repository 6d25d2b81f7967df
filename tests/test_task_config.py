"""Tasks declared by config: a user's task from a file, validation errors, name resolution."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from clankers.envs.tasks import TaskEnv, load_task_config, shipped_task_config
from clankers.errors import ConfigError
from clankers.sim import asset_path

# A user's task, written from scratch: the two-link arm keeping its elbow straight while the shoulder
# swings to a fixed target, ending the episode on success. No env class is involved.
USER_TASK = """
name = "straight_arm"
max_episode_steps = 30

[sim]
physics_dt = 0.005
control_dt = 0.02

[[robots]]
name = "arm"
urdf = "{urdf}"

[[points]]
name = "tip"
body = "forearm"
offset = [0.0, 0.0, 0.4]

[start.joints.j1_shoulder]
position = [-0.2, 0.2]

[[targets]]
name = "goal"
kind = "fixed"
position = [0.9, 0.0, 0.0]

[[observations]]
kind = "joint_state"

[[observations]]
kind = "point_to_target"
point = "tip"
target = "goal"

[[rewards]]
kind = "distance"
a = "tip"
b = "goal"
weight = -1.0

[[rewards]]
kind = "constant"
weight = 0.1

[[terminations]]
kind = "success"
hold_steps = 2

[[terminations]]
kind = "joint_bounds"
joints = ["j2_elbow"]
position = [-0.5, 0.5]

[success]
kind = "distance_below"
a = "tip"
b = "goal"
threshold = 0.1
"""


@pytest.fixture
def user_task(tmp_path: Path) -> Path:
    # The URDF sits next to the config, referenced by a relative path: resolved against the file's folder.
    (tmp_path / "arm.urdf").write_text(asset_path("urdf/two_link_arm.urdf").read_text())
    path = tmp_path / "straight_arm.toml"
    path.write_text(USER_TASK.format(urdf="arm.urdf"))
    return path


def test_user_task_from_a_toml_file_runs_without_an_env_class(user_task: Path) -> None:
    env = TaskEnv(user_task)
    assert env.observation_names == (
        "j1_shoulder.position",
        "j1_shoulder.velocity",
        "j2_elbow.position",
        "j2_elbow.velocity",
        "tip_to_goal.x",
        "tip_to_goal.y",
        "tip_to_goal.z",
    )
    obs, _ = env.reset(seed=0)
    assert -0.2 <= obs[0] <= 0.2 and obs[2] == 0.0 and obs[1] == obs[3] == 0.0  # start ranges applied
    tip = env.state.points["tip"]
    np.testing.assert_allclose(obs[4:], np.array([0.9, 0.0, 0.0]) - tip, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(tip - [0, 0, 0]), 0.9, atol=1e-9)  # tip of a 0.9 m arm
    _, reward, terminated, truncated, info = env.step(np.zeros(2, dtype=np.float32))
    assert not terminated and not truncated and not info["is_success"]
    assert reward == pytest.approx(sum(info["reward_terms"].values()))
    assert info["reward_terms"]["constant"] == pytest.approx(0.1)
    assert info["reward_terms"]["distance"] == pytest.approx(
        -np.linalg.norm(env.state.points["tip"] - [0.9, 0, 0])
    )


def test_user_task_success_termination_after_holding(user_task: Path) -> None:
    env = TaskEnv(user_task)
    env.reset(seed=0)
    env.sim.reset(qpos=np.array([np.pi / 2, 0.0]))  # lying along +x: the tip is on the goal
    env.sim.model.opt.gravity[:] = 0.0
    _, _, terminated, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert info["is_success"] and not terminated  # hold_steps = 2: one step is not enough
    _, _, terminated, truncated, info = env.step(np.zeros(2, dtype=np.float32))
    assert terminated and not truncated and info["termination"] == ["success"]


def test_user_task_bounds_and_timeout(user_task: Path) -> None:
    env = TaskEnv(user_task)
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(np.array([0.0, 1.0], dtype=np.float32))  # fold the elbow hard
    steps = 1
    while not terminated:
        _, _, terminated, truncated, info = env.step(np.array([0.0, 1.0], dtype=np.float32))
        steps += 1
        assert not truncated
    assert info["termination"] == ["joint_bounds"] and abs(env.state.qpos[1]) > 0.5
    env = TaskEnv(user_task, max_episode_steps=3)
    env.reset(seed=0)
    results = [env.step(np.zeros(2, dtype=np.float32))[2:4] for _ in range(3)]
    assert results == [(False, False), (False, False), (False, True)]


def test_json_config_and_mapping_give_the_same_task(tmp_path: Path) -> None:
    import tomllib

    data = tomllib.loads(shipped_task_config("pendulum").read_text())
    (tmp_path / "pendulum.json").write_text(json.dumps(data))
    a, b = TaskEnv(tmp_path / "pendulum.json"), TaskEnv(data)
    assert a.config == b.config == load_task_config(shipped_task_config("pendulum"))
    np.testing.assert_array_equal(a.reset(seed=5)[0], b.reset(seed=5)[0])


def _config_with(**changes: object) -> dict:
    import tomllib

    data = tomllib.loads(shipped_task_config("arm_reach").read_text())
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_episode_steps": 0}, "max_episode_steps"),
        ({"unknown_key": 1}, "unknown_key"),
        ({"rewards": [{"kind": "distanse", "a": "ee", "b": "target"}]}, "distanse"),
        ({"rewards": [{"kind": "distance", "a": "ee"}]}, r"rewards\.0\.b"),
        ({"sim": {"physics_dt": 0.003, "control_dt": 0.04}}, "multiple"),
        ({"start": {"default": {"position": [1.0, -1.0]}}}, "low <= high"),
        ({"start": {"default": {"velocity": [0.0, float("inf")]}}}, "finite"),
        ({"targets": [{"name": "target", "kind": "box", "low": [0, 0, 0]}]}, "high"),
        ({"robots": [{"name": "arm", "urdf": "urdf/no_such_robot.urdf"}]}, "no_such_robot"),
        ({"points": [{"name": "target", "body": "forearm"}]}, "more than once"),
    ],
)
def test_invalid_configs_raise_config_error_naming_the_problem(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TaskEnv(_config_with(**changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"points": [{"name": "ee", "body": "hand", "offset": [0, 0, 0.4]}]}, "hand"),
        ({"observations": [{"kind": "joint_position", "joints": ["wrist"]}]}, "wrist"),
        ({"observations": [{"kind": "point_position", "point": "elbow"}]}, "elbow"),
        ({"rewards": [{"kind": "success"}], "success": None}, "success"),
        ({"observations": [{"kind": "joint_position", "robot": "left"}]}, "left"),
    ],
)
def test_names_are_checked_against_the_robot(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TaskEnv(_config_with(**changes))


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        TaskEnv(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="TOML"):
        TaskEnv(bad)
    other = tmp_path / "task.yaml"
    other.write_text("name: x\n")
    with pytest.raises(ConfigError, match=r"\.toml or \.json"):
        TaskEnv(other)


def test_user_task_works_with_gymnasium_wrappers(user_task: Path) -> None:
    env = gym.wrappers.RecordEpisodeStatistics(TaskEnv(user_task))
    env.reset(seed=1)
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        done = terminated or truncated
    assert "episode" in info


# --- actuators, noise and seeding declared in the config --------------------------------------------


def test_actuator_presets_from_the_config_change_the_control_mode() -> None:
    servo = _config_with(actuators={"j2_elbow": {"preset": "high_torque_servo"}})
    positional, ideal = TaskEnv(servo), TaskEnv(_config_with())
    for env in (positional, ideal):
        env.reset(seed=0)
        env.sim.reset(qpos=np.zeros(2))
        for _ in range(50):  # 2 s, shoulder unpowered but elbow commanded to 0.25
            env.step(np.array([0.0, 0.25], dtype=np.float32))
    # The servo reads 0.25 as a position: a quarter of the way to the +2.6 rad limit, and stays there.
    assert positional.state.qpos[1] == pytest.approx(0.25 * 2.6, abs=0.1)
    assert abs(positional.state.qvel[1]) < 0.1
    # The ideal motor reads it as 1.25 N m of torque and keeps swinging the forearm.
    assert abs(ideal.state.qpos[1] - 0.65) > 0.1 or abs(ideal.state.qvel[1]) > 0.1
    with pytest.raises(ConfigError, match="wrist"):
        TaskEnv(_config_with(actuators={"wrist": "hobby_servo"}))


def _noisy_arm() -> dict:
    data = _config_with()
    data["observations"] = [
        {"kind": "joint_position", "noise": [{"kind": "gaussian", "std": 0.01}]},
        {
            "kind": "point_to_target",
            "point": "ee",
            "target": "target",
            "noise": {"*.z": [{"kind": "bias", "std": 0.05}]},
        },
    ]
    return data


def test_observation_noise_is_seeded_and_leaves_the_episode_unchanged() -> None:
    clean_config = _noisy_arm()
    clean_config["observations"] = [
        {k: v for k, v in o.items() if k != "noise"} for o in clean_config["observations"]
    ]
    noisy, again, clean = TaskEnv(_noisy_arm()), TaskEnv(_noisy_arm()), TaskEnv(clean_config)
    obs_noisy, obs_again, obs_clean = (
        noisy.reset(seed=11)[0],
        again.reset(seed=11)[0],
        clean.reset(seed=11)[0],
    )
    np.testing.assert_array_equal(obs_noisy, obs_again)  # noise is drawn from the seeded hierarchy
    np.testing.assert_array_equal(noisy.state.qpos, clean.state.qpos)  # same start state ...
    np.testing.assert_array_equal(
        noisy.state.targets["target"], clean.state.targets["target"]
    )  # ... and target
    error = obs_noisy - obs_clean
    assert 0 < np.abs(error[:2]).max() < 0.05  # gaussian on the joints
    np.testing.assert_array_equal(error[2:4], 0.0)  # x, y of the offset: no noise declared
    assert error[4] != 0.0
    bias = error[4]
    action = np.zeros(2, dtype=np.float32)
    for _ in range(3):  # the bias is constant within an episode (up to float32 rounding)
        error = noisy.step(action)[0] - clean.step(action)[0]
        assert error[4] == pytest.approx(bias, abs=1e-6)
    noisy.reset()
    clean.reset()
    error = noisy.step(action)[0] - clean.step(action)[0]
    assert error[4] != pytest.approx(bias, abs=1e-6)  # and redrawn for the next episode


def test_seed_hierarchy_reproduces_episode_sequences() -> None:
    def starts(env: TaskEnv, seed: int) -> list[np.ndarray]:
        return [env.reset(seed=seed)[0]] + [env.reset()[0] for _ in range(3)]

    a, b = starts(TaskEnv(_config_with()), 5), starts(TaskEnv(_config_with()), 5)
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a, b, strict=True))
    assert len({x.tobytes() for x in a}) == 4  # each episode of the sequence is new
    env = TaskEnv(_config_with())
    env.reset(seed=5)
    assert env.episode_seeds is not None and env.episode_seeds.episode_index == 0
    env.reset()
    assert env.episode_seeds.episode_index == 1


def test_register_task_gives_single_and_vector_envs(user_task: Path) -> None:
    from clankers.envs.tasks import register_task, unregister_task

    task = register_task(user_task, recipe={"algo": "ppo"})
    try:
        assert task.env_id == "clankers/StraightArm-v0" and task.name == "straight_arm"
        assert register_task(user_task) is task  # the same config again: a no-op
        env = gym.make(task.env_id)
        assert env.spec.max_episode_steps == task.config.max_episode_steps
        obs, _ = env.reset(seed=2)
        vec = gym.make_vec(task.env_id, num_envs=2, vectorization_mode="vector_entry_point")
        vec_obs, _ = vec.reset(seed=[2, 3])
        np.testing.assert_array_equal(vec_obs[0], obs)
        assert not np.array_equal(vec_obs[1], obs)
        vec.close()
        with pytest.raises(ConfigError, match="registered already"):
            register_task(_config_with(), env_id=task.env_id)
    finally:
        unregister_task("straight_arm")
    assert task.env_id not in gym.registry


def test_sensor_observations_imu_and_joint_torque() -> None:
    import tomllib

    data = tomllib.loads(shipped_task_config("pendulum").read_text())
    data["start"] = {"joints": {"hinge": {"position": [np.pi, np.pi]}}}  # hanging straight down, at rest
    data["observations"] = [
        {"kind": "sensor", "type": "imu", "name": "imu", "body": "rod", "offset": [0.0, 0.0, 1.0]},
        {"kind": "sensor", "type": "joint_torque", "name": "torque"},
        {"kind": "sensor", "type": "pose", "name": "tip", "body": "rod", "offset": [0.0, 0.0, 1.0]},
    ]
    env = TaskEnv(data)
    names = env.observation_names
    assert names[:6] == tuple(f"imu.{q}_{a}" for q in ("accel", "gyro") for a in "xyz")
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(np.zeros(1, dtype=np.float32))
    # At rest the accelerometer reads +g upwards; the rod's +z axis points down, so -9.81 along it.
    np.testing.assert_allclose(obs[:6], [0, 0, -9.81, 0, 0, 0], atol=1e-3)
    assert obs[names.index("torque.hinge")] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(obs[[names.index(f"tip.pos_{a}") for a in "xyz"]], [0, 0, -1.0], atol=1e-4)
    obs, *_ = env.step(np.array([0.5], dtype=np.float32))
    assert obs[names.index("torque.hinge")] == pytest.approx(1.0, abs=1e-6)  # half of the 2 N m motor
    assert obs[4] > 0.0  # and the rod starts turning about +y
    data["observations"].append({"kind": "sensor", "type": "pose", "name": "imu", "body": "rod"})
    with pytest.raises(ConfigError, match="more than once"):
        TaskEnv(data)


def test_domain_randomization_declared_in_the_config() -> None:
    pytest.importorskip("clankers.sim.randomization")
    data = _config_with(
        randomization={
            "link_mass": {"forearm": {"scale": [0.5, 1.5]}},
            "joint_damping": {"*": {"uniform": [0.0, 0.5]}},
        }
    )
    env, again, plain = TaskEnv(data), TaskEnv(data), TaskEnv(_config_with())
    _, info = env.reset(seed=3)
    assert set(info["randomization"]) == {
        "link_mass.forearm",
        "joint_damping.j1_shoulder",
        "joint_damping.j2_elbow",
    }
    assert info == again.reset(seed=3)[1]  # the same seed applies the same values
    assert (
        env.sim.model.body_mass[env.scene.body_id(None, "forearm")]
        == info["randomization"]["link_mass.forearm"]
    )
    assert env.reset(seed=4)[1]["randomization"] != info["randomization"]
    # Randomization has its own stream: start states and targets of a seed do not change with it.
    env.reset(seed=3)
    plain.reset(seed=3)
    np.testing.assert_array_equal(env.state.qpos, plain.state.qpos)
    np.testing.assert_array_equal(env.state.targets["target"], plain.state.targets["target"])
    assert plain.sim.model.body_mass[plain.scene.body_id(None, "forearm")] == pytest.approx(0.6)  # untouched
