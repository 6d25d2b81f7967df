"""URDF loading, joint layout, actuators and SimConfig validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clankers.errors import ConfigError, RobotDescriptionError
from clankers.sim import SimConfig, Simulation, asset_path, load_robot

URDF_TEMPLATE = """<?xml version="1.0"?>
<robot name="three">
  <link name="base"/>
  <link name="a"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="b"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="c"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <joint name="zeta" type="revolute"><parent link="base"/><child link="a"/><axis xyz="0 0 1"/>
    <limit lower="-1" upper="1" effort="3"/></joint>
  <joint name="alpha" type="prismatic"><parent link="a"/><child link="b"/><axis xyz="1 0 0"/>
    <limit lower="-0.5" upper="0.5" effort="7"/></joint>
  <joint name="mid" type="{mid_type}"><parent link="b"/><child link="c"/><axis xyz="0 1 0"/>
    <limit effort="0"/></joint>
</robot>
"""


def write_urdf(tmp_path: Path, mid_type: str = "continuous") -> Path:
    path = tmp_path / "robot.urdf"
    path.write_text(URDF_TEMPLATE.format(mid_type=mid_type))
    return path


def test_layout_is_alphabetical_with_urdf_efforts(tmp_path: Path) -> None:
    robot = load_robot(write_urdf(tmp_path))
    assert robot.layout.names == ("alpha", "mid", "zeta")
    assert [j.kind for j in robot.layout] == ["prismatic", "continuous", "revolute"]
    np.testing.assert_array_equal(robot.layout.effort_limits, [7.0, 0.0, 3.0])
    assert robot.layout["zeta"].lower == -1.0 and robot.layout["zeta"].upper == 1.0
    assert robot.layout["mid"].passive and not robot.layout["alpha"].passive
    assert robot.model.nu == 3
    np.testing.assert_array_equal(robot.model.actuator_gear[:, 0], [7.0, 0.0, 3.0])


def test_full_command_produces_effort_limit_force(tmp_path: Path) -> None:
    sim = Simulation(load_robot(write_urdf(tmp_path)))
    sim.reset()
    sim.step(np.array([1.0, 1.0, -1.0]))
    layout = sim.layout
    joint_force = sim.data.qfrc_actuator[layout.qvel_indices]
    np.testing.assert_allclose(joint_force, [7.0, 0.0, -3.0])
    sim.step(np.array([5.0, 0.0, 0.0]))  # saturates at the limit, like a motor driver
    np.testing.assert_allclose(sim.data.qfrc_actuator[layout["alpha"].qvel_index], 7.0)


def test_passive_joint_command_has_no_effect() -> None:
    robot = load_robot(asset_path("urdf/cartpole.urdf"))
    runs = []
    for pole_command in (0.0, 1.0, -1.0):
        sim = Simulation(robot)
        sim.reset(qpos=np.array([0.0, 0.05]))
        for _ in range(20):
            sim.step(np.array([0.3, pole_command]))
        runs.append(sim.joint_state_into(np.empty(4)))
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


def test_cartpole_parameters() -> None:
    robot = load_robot(asset_path("urdf/cartpole.urdf"))
    model = robot.model
    assert robot.layout.names == ("cart_slide", "pole_hinge")
    np.testing.assert_allclose(model.body_mass[1:], [1.0, 0.1])
    np.testing.assert_allclose(model.body_ipos[2], [0.0, 0.0, 0.5])
    np.testing.assert_allclose(model.dof_damping, 0.0)
    np.testing.assert_allclose(model.dof_frictionloss, 0.0)
    assert robot.layout["cart_slide"].lower == -2.4 and robot.layout["cart_slide"].upper == 2.4
    assert robot.layout["cart_slide"].effort_limit == 10.0 and robot.layout["pole_hinge"].passive


def test_sim_config_defaults_and_model_options() -> None:
    config = SimConfig()
    assert (config.physics_dt, config.control_dt, config.substeps) == (0.001, 0.02, 20)
    robot = load_robot(asset_path("urdf/cartpole.urdf"), SimConfig(physics_dt=0.002, gravity=(0, 0, -3.0)))
    assert robot.model.opt.timestep == 0.002
    np.testing.assert_allclose(robot.model.opt.gravity, [0, 0, -3.0])


def test_one_control_step_holds_command_for_all_substeps() -> None:
    sim = Simulation(
        load_robot(asset_path("urdf/cartpole.urdf"), SimConfig(physics_dt=0.001, control_dt=0.005))
    )
    sim.reset()
    sim.step(np.array([1.0, 0.0]))
    assert sim.time == pytest.approx(0.005)


@pytest.mark.parametrize(
    "values",
    [
        {"control_dt": 0.0155},
        {"physics_dt": 0.0},
        {"physics_dt": -0.001},
        {"control_dt": 0.0005},
        {"gravity": (0.0, float("nan"), -9.81)},
        {"integrator": "verlet"},
        {"unknown_field": 1},
    ],
)
def test_sim_config_rejects_invalid_values(values: dict) -> None:
    with pytest.raises(ConfigError):
        SimConfig(**values)


def test_robot_description_errors(tmp_path: Path) -> None:
    with pytest.raises(RobotDescriptionError, match="does not exist"):
        load_robot(tmp_path / "missing.urdf")
    bad = tmp_path / "bad.urdf"
    bad.write_text("<robot><link name='a'>")
    with pytest.raises(RobotDescriptionError, match="not valid XML"):
        load_robot(bad)
    with pytest.raises(RobotDescriptionError, match="only from the root link"):
        load_robot(write_urdf(tmp_path, mid_type="floating"))
