"""Standing tests of reality: vendors' robots under the PD loop of position actions.

A floating Unitree Go1 dropped from 0.4 m must land on its feet and hold its home pose; a Panda arm must
hold its home pose against gravity. Both robots and their home poses (SRDF group states) come from the
``example-robot-data`` package, unmodified.
"""

from __future__ import annotations

import warnings

import mujoco
import numpy as np
import pytest

from clankers.sim import SimConfig, Simulation, load_robot
from clankers.sim.base import ContactSet
from clankers.sim.urdf import RobotImportWarning, example_robot_data, read_srdf_states

ROBOTS = example_robot_data()
pytestmark = pytest.mark.skipif(
    ROBOTS is None, reason="needs example-robot-data (pip install 'clankers[robots]')"
)
FEET = ("FL_foot", "FR_foot", "RL_foot", "RR_foot")


def go1(**action: object) -> Simulation:
    home = read_srdf_states(ROBOTS / "go1_description/srdf/go1.srdf")["standing"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RobotImportWarning)  # the dummy base link's inertia is repaired
        robot = load_robot(
            ROBOTS / "go1_description/urdf/go1.urdf",
            SimConfig(physics_dt=0.002, control_dt=0.02, integrator="implicitfast"),
            base="floating",
            home=home,
            visual=False,
        )
    return Simulation(robot, action={"kind": "position", "scale": 0.25, **action})


def test_go1_dropped_from_40cm_lands_and_stands_for_5s() -> None:
    sim = go1(kp=150.0, kd=3.0)
    robot, layout = sim.robot, sim.layout
    nominal = robot.base_position[2]  # the home pose with the feet on the ground (about 0.27 m)
    assert 0.2 < nominal < 0.35
    sim.reset(base_pose=[0.0, 0.0, 0.4])
    feet = ContactSet(sim.model, [*FEET, "trunk"])
    contacts, gravity = np.zeros(5), np.zeros(3)
    zero = np.zeros(len(layout))
    for _ in range(50):  # 1 s: fall, land, settle
        sim.step(zero)
    heights = []
    for _ in range(250):  # 5 s standing
        sim.step(zero)
        assert np.isfinite(sim.data.qpos).all() and np.isfinite(sim.data.qvel).all()
        q = sim.joint_positions()
        assert np.all(q >= layout.lower - 1e-3) and np.all(q <= layout.upper + 1e-3)
        heights.append(sim.base.height(sim.data))
        feet.write(sim.data, contacts)
        assert contacts.tolist() == [1.0, 1.0, 1.0, 1.0, 0.0]  # on its four feet, belly off the ground
        sim.base.write("projected_gravity", sim.data, gravity)
        assert gravity[2] < -0.99  # upright: less than 8 degrees of tilt
    assert np.max(np.abs(np.array(heights) - nominal)) < 0.02
    assert np.max(np.abs(sim.joint_positions() - robot.home)) < 0.05


def test_go1_soft_gains_sag_more_than_stiff_ones() -> None:
    """The same drop with a quarter of the gains ends lower: the height check above can fail."""
    sim = go1(kp=40.0, kd=1.0)
    sim.reset(base_pose=[0.0, 0.0, 0.4])
    for _ in range(150):
        sim.step(np.zeros(len(sim.layout)))
    assert sim.robot.base_position[2] - sim.base.height(sim.data) > 0.02


def panda(gravity_compensation: bool) -> tuple[Simulation, int]:
    home = read_srdf_states(ROBOTS / "panda_description/srdf/panda.srdf")["default"]
    robot = load_robot(
        ROBOTS / "panda_description/urdf/panda.urdf",
        SimConfig(physics_dt=0.002, control_dt=0.02, integrator="implicitfast"),
        home=home,
        visual=False,
    )
    # MuJoCo Menagerie's Panda gains, within the URDF's effort limits (87 N m, 12 N m).
    action = {
        "kind": "position",
        "scale": 0.1,
        "kp": {"panda_joint[1-4]": 4500.0, "panda_joint[5-7]": 2000.0, "panda_finger_joint*": 100.0},
        "kd": {"panda_joint[1-4]": 450.0, "panda_joint[5-7]": 200.0, "panda_finger_joint*": 10.0},
        "gravity_compensation": gravity_compensation,
    }
    wrist = mujoco.mj_name2id(robot.model, mujoco.mjtObj.mjOBJ_BODY, "panda_link7")
    return Simulation(robot, action=action), wrist


def wrist_drift(sim: Simulation, wrist: int, steps: int) -> float:
    sim.reset()
    mujoco.mj_kinematics(sim.model, sim.data)
    start = sim.data.xpos[wrist].copy()
    worst = 0.0
    for _ in range(steps):
        sim.step(np.zeros(len(sim.layout)))
        mujoco.mj_kinematics(sim.model, sim.data)
        worst = max(worst, float(np.linalg.norm(sim.data.xpos[wrist] - start)))
    return worst


def test_panda_holds_home_against_gravity_within_1mm() -> None:
    sim, wrist = panda(gravity_compensation=True)
    assert wrist_drift(sim, wrist, 100) < 1e-3  # 2 s
    np.testing.assert_allclose(sim.joint_positions(), sim.robot.home, atol=1e-4)
    assert np.all(np.abs(sim.data.actuator_force) <= sim.layout.effort_limits + 1e-9)


def test_panda_without_gravity_compensation_sags() -> None:
    sim, wrist = panda(gravity_compensation=False)
    assert wrist_drift(sim, wrist, 100) > 1e-3
