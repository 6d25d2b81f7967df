"""The Go1 velocity task and the batched engine: commands, gait clock, every locomotion term checked
against MuJoCo's state, episode ends, randomization, scales, package paths, batch-of-N == N singles."""

from __future__ import annotations

import math
import warnings
from typing import Any

import mujoco
import numpy as np
import pytest

from clankers.envs import find_task
from clankers.envs.tasks import TaskEnv, load_task_config
from clankers.envs.tasks.batch import TaskBatch, runs_batched
from clankers.envs.tasks.rows import rotate_into_frame, row_sum, row_sum_squares
from clankers.envs.vector import ClankersVectorEnv
from clankers.errors import ConfigError
from clankers.sim.robot import ASSETS_DIR
from clankers.sim.urdf import RobotImportWarning, example_robot_data

pytestmark = pytest.mark.skipif(
    example_robot_data() is None, reason="needs example-robot-data (pip install 'clankers[robots]')"
)
warnings.filterwarnings("ignore", category=RobotImportWarning)

GO1 = ASSETS_DIR / "tasks" / "go1_velocity.toml"


def go1_config(**changes: Any):  # type: ignore[no-untyped-def]
    return find_task("go1_velocity").config.model_copy(update=changes)  # type: ignore[union-attr]


def unit_weights(config):  # type: ignore[no-untyped-def]
    """Every reward term with weight 1, so info["reward_terms"] holds the raw values."""
    return config.model_copy(
        update={"rewards": [r.model_copy(update={"weight": 1.0}) for r in config.rewards]}
    )


def test_the_task_is_registered_batched_with_its_layout() -> None:
    entry = find_task("go1_velocity")
    assert entry is not None and entry.env_id == "clankers/Go1Velocity-v0"
    env = entry.make()
    assert env._batched and env._engine is not None and env._engine.n == 1
    assert env.action_space.shape == (12,) and env.observation_space.shape == (47,)
    names = env.observation_names
    assert names[:3] == ("base.angular_velocity.x", "base.angular_velocity.y", "base.angular_velocity.z")
    assert names[6:9] == ("command.lin_vel_x", "command.lin_vel_y", "command.ang_vel_z")
    assert names[-2:] == ("gait.sin", "gait.cos")
    assert env.observation_scales == {
        "base_angular_velocity": 0.25,
        "velocity_command": [2.0, 2.0, 0.25],
        "joint_velocity": 0.05,
    }
    assert entry.recipe is not None and entry.recipe["hyperparams"]["activation"] == "elu"


def test_package_path_resolves_to_example_robot_data() -> None:
    config = load_task_config(GO1)
    urdf = config.robots[0].urdf
    assert not urdf.startswith("package://")
    assert urdf.endswith("go1_description/urdf/go1.urdf") and str(example_robot_data()) in urdf


def test_a_package_that_is_not_installed_registers_but_does_not_build() -> None:
    config = load_task_config(
        {**go1_config().model_dump(), "robots": [{"name": "r", "urdf": "package://no_such_pkg/r.urdf"}]}
    )
    assert config.robots[0].urdf == "package://no_such_pkg/r.urdf"
    with pytest.raises(ConfigError, match="not installed") as error:
        TaskEnv(config)
    assert "clankers[robots]" in (error.value.hint or "")


def test_observation_matches_mujoco_state_with_scales() -> None:
    env = TaskEnv(go1_config(randomization=None))
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(7):
        action = rng.uniform(-0.5, 0.5, 12).astype(np.float32)
        obs, *_ = env.step(action)
    data, base = env.sim.data, env.sim.base
    gyro, gravity = np.zeros(3), np.zeros(3)
    base.write("angular_velocity", data, gyro)
    base.write("projected_gravity", data, gravity)
    np.testing.assert_allclose(obs[0:3], 0.25 * gyro, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(obs[3:6], gravity, rtol=1e-5, atol=1e-6)
    commands = env._engine.state.locomotion.commands[0]
    np.testing.assert_allclose(obs[6:9], commands * [2.0, 2.0, 0.25], rtol=1e-6)
    q = data.qpos[env.layout.qpos_indices]
    np.testing.assert_allclose(obs[9:21], q - env.robot.home, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(obs[21:33], 0.05 * data.qvel[env.layout.qvel_indices], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(obs[33:45], action, rtol=1e-6)
    phase = env._engine.state.locomotion.phase[0]
    np.testing.assert_allclose(
        obs[45:47], [math.sin(2 * math.pi * phase), math.cos(2 * math.pi * phase)], atol=1e-6
    )


def test_every_reward_term_equals_its_formula_on_mujocos_state() -> None:
    env = TaskEnv(unit_weights(go1_config(randomization=None)))
    env.reset(seed=2)
    rng = np.random.default_rng(3)
    previous_action = np.zeros(12)
    previous_qvel = env.sim.data.qvel[env.layout.qvel_indices].copy()
    for _ in range(12):
        action = rng.uniform(-0.4, 0.4, 12)
        _, reward, terminated, _, info = env.step(action.astype(np.float32))
        assert not terminated
        data, base = env.sim.data, env.sim.base
        terms = info["reward_terms"]
        loco = env._engine.state.locomotion
        command, phase = loco.commands[0], loco.phase[0]
        v, w, g = np.zeros(3), np.zeros(3), np.zeros(3)
        base.write("linear_velocity", data, v)
        base.write("angular_velocity", data, w)
        base.write("projected_gravity", data, g)
        qvel = data.qvel[env.layout.qvel_indices]
        expected = {
            "tracking_lin_vel": math.exp(-np.sum((command[:2] - v[:2]) ** 2) / 0.25),
            "tracking_ang_vel": math.exp(-((command[2] - w[2]) ** 2) / 0.25),
            "lin_vel_z": v[2] ** 2,
            "ang_vel_xy": w[0] ** 2 + w[1] ** 2,
            "torques": float(np.sum(data.actuator_force[env.layout.actuator_indices] ** 2)),
            "joint_acc": float(np.sum(((qvel - previous_qvel) / 0.02) ** 2)),
            "action_rate": float(np.sum((action.astype(np.float32) - previous_action) ** 2)),
            "base_height": (data.qpos[2] - 0.27) ** 2,
            "orientation": g[0] ** 2 + g[1] ** 2,
        }
        for name, value in expected.items():
            assert terms[name] == pytest.approx(value, rel=1e-5, abs=1e-9), name
        # feet_gait: each foot's clearance against the trot clock's swing height
        moving = math.hypot(command[0], command[1]) + abs(command[2]) > 0.1
        error = 0.0
        for foot, offset in zip(
            ["FR_foot", "FL_foot", "RR_foot", "RL_foot"], [0.0, 0.5, 0.5, 0.0], strict=True
        ):
            geom = mujoco.mj_name2id(env.sim.model, mujoco.mjtObj.mjOBJ_GEOM, f"{foot}/collision0")
            clearance = data.geom_xpos[geom, 2] - env.sim.model.geom_size[geom, 0]
            p = (phase + offset) % 1.0
            swing = (math.sin(math.pi * p / 0.5) if p < 0.5 else 0.0) * 0.08 * moving
            error += (clearance - swing) ** 2
        assert terms["feet_gait"] == pytest.approx(math.exp(-error / 0.01), rel=1e-5, abs=1e-12)
        assert reward == pytest.approx(sum(terms.values()))
        previous_action, previous_qvel = action.astype(np.float32).astype(np.float64), qvel.copy()


def test_commands_are_drawn_per_episode_resampled_and_fixed_for_evaluation() -> None:
    config = go1_config(randomization=None)
    config = config.model_copy(
        update={
            "locomotion": config.locomotion.model_copy(
                update={"commands": config.locomotion.commands.model_copy(update={"resample_s": 0.1})}
            )
        }
    )
    env = TaskEnv(config)
    seen = []
    for seed in range(12):
        env.reset(seed=seed)
        seen.append(env._engine.state.locomotion.commands[0].copy())
    seen = np.array(seen)
    assert np.all(seen[:, 0] >= -0.3) and np.all(seen[:, 0] <= 1.0)
    assert np.all(np.abs(seen[:, 1]) <= 0.3) and np.all(np.abs(seen[:, 2]) <= 0.6)
    assert len({tuple(c) for c in seen}) > 6  # drawn, not fixed
    again = TaskEnv(config)
    again.reset(seed=3)
    np.testing.assert_array_equal(again._engine.state.locomotion.commands[0], seen[3])  # seeded
    first = again._engine.state.locomotion.commands[0].copy()
    for _ in range(5):  # 0.1 s at 50 Hz: a new command at step 5
        again.step(np.zeros(12, dtype=np.float32))
    assert not np.array_equal(again._engine.state.locomotion.commands[0], first)

    fixed = TaskEnv(config, command="evaluation")
    for seed in (0, 1):
        obs, _ = fixed.reset(seed=seed)
        np.testing.assert_allclose(obs[6:9], [1.0, 0.0, 0.0])  # 0.5 m/s x scale 2
    for _ in range(6):
        obs, *_ = fixed.step(np.zeros(12, dtype=np.float32))
    np.testing.assert_allclose(obs[6:9], [1.0, 0.0, 0.0])  # never resampled
    custom = TaskEnv(config, command=[0.2, -0.1, 0.3])
    np.testing.assert_allclose(custom.reset(seed=0)[0][6:9], [0.4, -0.2, 0.075], rtol=1e-6)
    with pytest.raises(ConfigError, match="three finite numbers"):
        TaskEnv(config, command=[1.0, 2.0])
    with pytest.raises(ConfigError, match=r"\[locomotion\] commands"):
        TaskEnv(ASSETS_DIR / "tasks" / "cartpole.toml", command="evaluation")


def test_gait_clock_advances_at_its_frequency() -> None:
    env = TaskEnv(go1_config(randomization=None))
    env.reset(seed=0)
    start = env._engine.state.locomotion.phase[0]
    for _ in range(10):
        env.step(np.zeros(12, dtype=np.float32))
    assert env._engine.state.locomotion.phase[0] == pytest.approx((start + 10 * 2.0 * 0.02) % 1.0)


def test_feet_air_time_counts_the_swing_at_touchdown() -> None:
    env = TaskEnv(unit_weights(go1_config(randomization=None)), command="evaluation")
    env.reset(seed=0)
    air = env._engine._rewards[[t.label for t in env.config.rewards].index("feet_air_time")][1]
    for _ in range(10):  # settle on the ground
        env.step(np.zeros(12, dtype=np.float32))
    assert np.all(env._engine.state.contacts[0, air.columns])  # standing: every foot down
    assert np.all(air.air[0] == 0.0)
    air.air[0, 0] = 0.7  # pretend FR has been in the air 0.7 s and lands now
    _, _, _, _, info = env.step(np.zeros(12, dtype=np.float32))
    contact = env._engine.state.contacts[0, air.columns]
    assert contact[0]
    assert info["reward_terms"]["feet_air_time"] == pytest.approx(0.7 + 0.02 - 0.5)


def test_standing_still_ends_nothing_and_a_fall_or_a_trunk_on_the_ground_ends_the_episode() -> None:
    env = TaskEnv(go1_config(randomization=None))
    env.reset(seed=0)
    for _ in range(25):
        _, _, terminated, truncated, info = env.step(np.zeros(12, dtype=np.float32))
        assert not terminated and not truncated and info["termination"] == []
    # upside down on the ground: the trunk touches it and the base is flipped
    env.reset(seed=0)
    data = env.sim.data
    data.qpos[2] = 0.03  # the trunk (a 0.11 m tall box) pressed into the ground
    data.qpos[3:7] = [0.0, 1.0, 0.0, 0.0]
    mujoco.mj_forward(env.sim.model, data)
    _, _, terminated, _, info = env.step(np.zeros(12, dtype=np.float32))
    assert terminated and {"illegal_contact", "fall"} <= set(info["termination"])
    # tilted by 70 degrees in the air: a fall, no contact
    env.reset(seed=0)
    angle = math.radians(70)
    data.qpos[2] = 1.0
    data.qpos[3:7] = [math.cos(angle / 2), math.sin(angle / 2), 0.0, 0.0]
    mujoco.mj_forward(env.sim.model, data)
    _, _, terminated, _, info = env.step(np.zeros(12, dtype=np.float32))
    assert terminated and info["termination"] == ["fall"]


def test_randomized_foot_friction_is_the_contacts_friction_even_below_the_grounds() -> None:
    env = TaskEnv(go1_config(randomization={"friction": {"*_calf": {"fixed": 0.3}}}))
    env.reset(seed=0)
    env.step(np.zeros(12, dtype=np.float32))
    data = env.sim.data
    feet = [c for c in range(data.ncon) if "foot" in (env.sim.model.geom(data.contact.geom[c][1]).name or "")]
    assert feet and all(data.contact.friction[c][0] == pytest.approx(0.3) for c in feet)


def test_one_vector_env_equals_single_envs_bit_for_bit_with_randomization_and_resets() -> None:
    config = go1_config(max_episode_steps=12)
    singles = [TaskEnv(config) for _ in range(4)]
    vector = ClankersVectorEnv(lambda: TaskEnv(config), 4, autoreset_mode="SameStep", num_threads=2)
    obs_v, _ = vector.reset(seed=[10, 11, 12, 13])
    obs_s = [env.reset(seed=10 + i)[0] for i, env in enumerate(singles)]
    np.testing.assert_array_equal(obs_v, np.array(obs_s))
    rng = np.random.default_rng(5)
    for _ in range(30):
        actions = rng.uniform(-1, 1, (4, 12))
        obs_v, rew_v, term_v, trunc_v, _ = vector.step(actions)
        for i, env in enumerate(singles):
            o, r, te, tr, _ = env.step(actions[i].astype(np.float64))
            assert r == rew_v[i] and te == term_v[i] and tr == trunc_v[i]
            if te or tr:
                o, _ = env.reset()
            np.testing.assert_array_equal(o.astype(np.float32), obs_v[i])
    vector.close()


def test_batched_builtin_kinds_equal_the_per_environment_path() -> None:
    cartpole = load_task_config(ASSETS_DIR / "tasks" / "cartpole.toml")
    assert not runs_batched(cartpole)  # unset: only tasks that need it run batched
    per_env = TaskEnv(cartpole)
    batched = TaskEnv(cartpole.model_copy(update={"batched": True}))
    assert batched._engine is not None and per_env._engine is None
    a, _ = per_env.reset(seed=4)
    b, _ = batched.reset(seed=4)
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    for _ in range(40):
        action = rng.uniform(-1, 1, 2).astype(np.float32)
        ra, rb = per_env.step(action), batched.step(action)
        np.testing.assert_allclose(ra[0], rb[0], rtol=1e-6)
        assert ra[1:4] == rb[1:4] and ra[4]["termination"] == rb[4]["termination"]
        if ra[2] or ra[3]:
            break


def test_batched_true_names_what_cannot_be_batched() -> None:
    pendulum = load_task_config(ASSETS_DIR / "tasks" / "pendulum.toml")
    with pytest.raises(ConfigError, match="success condition"):
        runs_batched(pendulum.model_copy(update={"batched": True}))
    with pytest.raises(ConfigError, match="exist only in batched form"):
        runs_batched(go1_config(batched=False))


def test_an_observation_scale_scales_the_per_environment_path_too() -> None:
    data = load_task_config(ASSETS_DIR / "tasks" / "cartpole.toml").model_dump()
    data["observations"] = [{"kind": "joint_state", "scale": [1.0, 0.5, 2.0, 0.25]}]
    plain, scaled = TaskEnv(ASSETS_DIR / "tasks" / "cartpole.toml"), TaskEnv(data)
    np.testing.assert_allclose(
        scaled.reset(seed=1)[0], plain.reset(seed=1)[0] * [1.0, 0.5, 2.0, 0.25], rtol=1e-6
    )
    data["observations"] = [{"kind": "joint_state", "scale": [1.0, 2.0]}]
    with pytest.raises(ConfigError, match="4 entries but 2 scales"):
        TaskEnv(data)


def test_row_helpers_give_each_row_the_same_bits_in_any_batch() -> None:
    rng = np.random.default_rng(7)
    rows = rng.normal(0, 10, (37, 12))
    alone = [row_sum_squares(rows[i : i + 1])[0] for i in range(37)]
    assert row_sum_squares(rows).tolist() == alone
    assert row_sum(rows[5:9]).tolist() == [row_sum(rows[i : i + 1])[0] for i in range(5, 9)]
    quat = rng.normal(size=(9, 4))
    quat /= np.linalg.norm(quat, axis=1, keepdims=True)
    vectors = rng.normal(size=(9, 3))
    rotated = rotate_into_frame(quat, vectors)
    for q, v, r in zip(quat, vectors, rotated, strict=True):
        matrix = np.zeros(9)
        mujoco.mju_quat2Mat(matrix, q)
        np.testing.assert_allclose(r, matrix.reshape(3, 3).T @ v, atol=1e-12)


def test_a_vector_env_compiles_the_robot_once_and_leaves_visuals_to_rendering() -> None:
    vector = ClankersVectorEnv(lambda: TaskEnv(GO1), 3)
    models = [env.sim.model for env in vector.envs]
    assert len({id(m) for m in models}) == 3  # each env its own model (randomized per episode)
    assert all(m.nmeshvert == 0 for m in models)  # no visual meshes without a render mode
    assert isinstance(vector._engine, TaskBatch) and vector._engine.n == 3
    vector.close()
    rendering = TaskEnv(GO1, render_mode="rgb_array", width=64, height=48)
    assert rendering.sim.model.nmeshvert > 0
    rendering.close()


def test_a_batched_kind_of_ones_own_is_one_call_for_the_whole_batch() -> None:
    from clankers.envs.tasks import register_term, unregister_term

    calls: list[int] = []

    @register_term("reward", batched=True)
    def cart_speed_squared(batch, joint: int = 0):  # type: ignore[no-untyped-def]
        calls.append(batch.n)
        return batch.qvel[:, joint] ** 2

    @register_term("observation", batched=True, size=2)
    def doubled_positions(batch):  # type: ignore[no-untyped-def]
        return 2.0 * batch.qpos

    @register_term("termination", batched=True)
    def cart_far(batch, limit: float = 0.3):  # type: ignore[no-untyped-def]
        return np.abs(batch.qpos[:, 0]) > limit

    try:
        data = load_task_config(ASSETS_DIR / "tasks" / "cartpole.toml").model_dump()
        data["observations"] = [{"kind": "doubled_positions"}]
        data["rewards"] = [{"kind": "cart_speed_squared"}]
        data["terminations"] = [{"kind": "cart_far", "limit": 0.05}]
        config = load_task_config(data)
        assert runs_batched(config)  # a batched-only kind makes the task batched
        env = TaskEnv(config)
        obs, _ = env.reset(seed=0)
        np.testing.assert_allclose(obs, 2.0 * env.sim.data.qpos, rtol=1e-6)
        vector = ClankersVectorEnv(lambda: TaskEnv(config), 5, num_threads=2)
        vector.reset(seed=0)
        calls.clear()
        _, rewards, terminated, _, _ = vector.step(np.full((5, 2), 0.5))
        assert calls == [5]  # one call for the five environments
        speeds = [e.sim.data.qvel[0] ** 2 for e in vector.envs]
        np.testing.assert_allclose(rewards, speeds)
        for _ in range(30):
            obs, _, terminated, _, infos = vector.step(np.full((5, 2), 1.0))
            if terminated.any():
                break
        ended = np.flatnonzero(terminated)
        assert len(ended) and all(list(infos["termination"][i]) == ["cart_far"] for i in ended)
        assert np.all(np.abs(obs[ended, 0] / 2.0) > 0.05)  # the cart is beyond the limit
        assert np.all(np.abs(obs[~terminated, 0] / 2.0) <= 0.05)
        vector.close()
        with pytest.raises(ConfigError, match="needs size"):
            register_term("observation", batched=True)(lambda batch: batch.qpos)
    finally:
        for category, kind in (
            ("reward", "cart_speed_squared"),
            ("observation", "doubled_positions"),
            ("termination", "cart_far"),
        ):
            unregister_term(category, kind)


def test_an_env_inside_a_vector_batch_is_stepped_by_the_vector_env_only() -> None:
    vector = ClankersVectorEnv(lambda: TaskEnv(GO1), 2)
    vector.reset(seed=0)
    with pytest.raises(ConfigError, match="vector env's batch"):
        vector.envs[0].step(np.zeros(12, dtype=np.float32))
    vector.close()
