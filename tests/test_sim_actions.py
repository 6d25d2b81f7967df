"""Action semantics: normalized torque, PD position targets and velocity targets, and how they compose."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest

from clankers.errors import ConfigError
from clankers.sim import ActionConfig, SimConfig, Simulation, asset_path, load_robot
from clankers.sim.actions import ResolvedAction, per_joint

CONFIG = SimConfig(physics_dt=0.001, control_dt=0.01)


def arm(config: SimConfig = CONFIG):  # type: ignore[no-untyped-def]
    # j1_shoulder: effort 12, unlimited; j2_elbow: effort 5, limits +-2.6; both velocity 20 rad/s.
    return load_robot(asset_path("urdf/two_link_arm.urdf"), config, home={"j2_elbow": 0.5})


def test_position_actions_are_a_pd_loop_on_targets_around_home() -> None:
    robot = arm()
    semantics = {"kind": "position", "kp": {"j1_*": 30.0, "*": 10.0}, "kd": 0.5, "scale": 0.2}
    sim = Simulation(robot, action=semantics)
    np.testing.assert_array_equal(sim.action.kp, [30.0, 10.0])
    sim.reset()
    np.testing.assert_array_equal(sim.joint_positions(), [0.0, 0.5])  # reset() starts at home
    action = np.array([0.5, -1.0])
    sim.step(action)
    np.testing.assert_allclose(sim.data.ctrl, [0.1, 0.3])  # q* = home + scale * a
    mujoco.mj_forward(sim.model, sim.data)
    q, v = sim.joint_positions(), sim.joint_velocities()
    expected = np.clip(np.array([30.0, 10.0]) * ([0.1, 0.3] - q) - 0.5 * v, [-12, -5], [12, 5])
    np.testing.assert_allclose(sim.data.actuator_force, expected)
    for _ in range(300):
        sim.step(action)
    sagging = sim.joint_positions()
    assert np.max(np.abs(sagging - [0.1, 0.3])) > 0.03  # gravity pulls the arm off its targets
    compensated = Simulation(robot, action={**semantics, "gravity_compensation": True})
    compensated.reset()
    for _ in range(1000):  # lightly damped: settles in about 10 s
        compensated.step(action)
    np.testing.assert_allclose(compensated.joint_positions(), [0.1, 0.3], atol=1e-3)


def test_servo_force_is_clamped_at_the_urdf_effort() -> None:
    sim = Simulation(arm(), action={"kind": "position", "kp": 1000.0, "scale": 1.0})
    sim.reset()
    sim.step(np.array([1.0, -2.0]))
    mujoco.mj_forward(sim.model, sim.data)
    assert abs(sim.data.actuator_force[0]) <= 12.0 + 1e-9 and abs(sim.data.actuator_force[1]) <= 5.0 + 1e-9
    sim.reset()
    mujoco.mj_step(sim.model, sim.data)
    sim.data.ctrl[:] = [5.0, -5.0]
    mujoco.mj_forward(sim.model, sim.data)
    np.testing.assert_allclose(sim.data.actuator_force, [12.0, -5.0])


def test_velocity_actions_track_targets_clipped_to_the_velocity_limit(tmp_path: Path) -> None:
    path = tmp_path / "wheel.urdf"
    path.write_text(
        """<robot name="w"><link name="base"/>
        <link name="wheel"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial></link>
        <joint name="axle" type="continuous"><parent link="base"/><child link="wheel"/><axis xyz="0 0 1"/>
        <limit effort="10" velocity="3"/></joint></robot>"""
    )
    sim = Simulation(load_robot(path, CONFIG), action={"kind": "velocity", "kd": 2.0, "scale": 2.0})
    sim.reset()
    for _ in range(100):
        sim.step(np.array([1.0]))
    assert sim.joint_velocities()[0] == pytest.approx(2.0, abs=1e-3)
    for _ in range(100):
        sim.step(np.array([5.0]))  # asks for 10 rad/s; the URDF allows 3
    assert sim.joint_velocities()[0] == pytest.approx(3.0, abs=1e-3)


def test_torque_actions_stay_the_normalized_motor_and_share_the_model() -> None:
    robot = arm()
    sim = Simulation(robot, action=ActionConfig())
    assert sim.model is robot.model  # nothing to change: no copy
    positional = Simulation(robot, action={"kind": "position", "kp": 5.0})
    assert positional.model is not robot.model
    np.testing.assert_array_equal(robot.model.actuator_gear[:, 0], [12.0, 5.0])  # untouched
    np.testing.assert_array_equal(robot.model.actuator_biastype, [0, 0])


def test_armature_and_damping_per_joint() -> None:
    robot = arm()
    sim = Simulation(robot, action={"armature": {"j1_shoulder": 0.05}, "damping": 0.3})
    np.testing.assert_allclose(sim.model.dof_armature, [0.05, robot.model.dof_armature[1]])
    np.testing.assert_allclose(sim.model.dof_damping, [0.3, 0.3])


def test_actuator_models_compose_with_position_actions() -> None:
    robot = arm(SimConfig(physics_dt=0.001, control_dt=0.01, gravity=(0.0, 0.0, 0.0)))
    sim = Simulation(
        robot,
        actuators={"j2_elbow": "quadruped_leg"},  # its own PD (kp 20, kd 0.5) behind a 6:1 gearbox
        action={"kind": "position", "kp": 30.0, "kd": 1.0, "scale": 0.5},
    )
    assert sim.actuators is not None and sim.actuators.names == ("j2_elbow",)
    sim.reset()
    for _ in range(300):
        sim.step(np.array([0.4, 1.0]))
    np.testing.assert_allclose(sim.joint_positions(), [0.2, 1.0], atol=0.05)


def test_a_torque_controlled_actuator_model_gets_the_actions_pd() -> None:
    sim = Simulation(
        arm(), actuators={"*": "direct_drive"}, action={"kind": "position", "kp": 30.0, "kd": 1.0}
    )
    joint = sim.actuators.pipeline.joints[0]  # type: ignore[union-attr]
    assert (joint.kp, joint.kd) == (30.0, 1.0)


@pytest.mark.parametrize(
    ("action", "match"),
    [
        ({"kind": "position"}, "kp"),
        ({"kind": "velocity", "kp": 3.0}, "kd"),
        ({"kind": "position", "kp": {"wrist": 3.0}}, "'wrist' matches no joint"),
        ({"kind": "position", "kp": -1.0}, "finite number >= 0"),
        ({"kind": "jerk"}, "kind"),
    ],
)
def test_invalid_action_configs(action: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Simulation(arm(), action=action)


def test_mismatched_actuator_controller_is_refused() -> None:
    with pytest.raises(ConfigError, match="declares position control"):
        Simulation(arm(), actuators={"j2_elbow": "hobby_servo"}, action={"kind": "velocity", "kd": 1.0})


def test_per_joint_tables_prefer_exact_names() -> None:
    names = ("a_hip", "a_knee", "b_hip")
    np.testing.assert_array_equal(per_joint(names, {"*_hip": 2.0, "a_hip": 5.0}, 1.0, "kp"), [5.0, 1.0, 2.0])
    resolved = ResolvedAction.build({"kind": "position", "kp": 1.0}, arm())
    with pytest.raises(ValueError):
        resolved.kp[0] = 3.0  # read-only: one resolved action may be shared


def test_servo_gains_can_be_randomized_per_episode() -> None:
    from clankers.sim.randomization import DomainRandomizer

    sim = Simulation(arm(), action={"kind": "position", "kp": 30.0, "kd": 1.0})
    randomizer = DomainRandomizer(
        {"actuator_kp": {"*": {"scale": [0.5, 0.6]}}, "actuator_kd": {"j2_*": 2.5}}, sim
    )
    applied = randomizer.reset(np.random.default_rng(0))
    kp = applied["actuator_kp.j1_shoulder"]
    assert 15.0 <= kp <= 18.0 and applied["actuator_kd.j2_elbow"] == 2.5
    act = sim.layout["j1_shoulder"].actuator_index
    assert (sim.model.actuator_gainprm[act, 0], sim.model.actuator_biasprm[act, 1]) == (kp, -kp)
    assert sim.model.actuator_biasprm[sim.layout["j2_elbow"].actuator_index, 2] == -2.5
    randomizer.restore()
    assert sim.model.actuator_gainprm[act, 0] == 30.0
    with pytest.raises(ConfigError, match="no kp"):
        DomainRandomizer({"actuator_kp": {"*": 2.0}}, Simulation(arm()))
