"""Each shipped robot must obey physics we can write down by hand.

- Pendulum: the small-angle period of a physical pendulum, ``T = 2 pi sqrt(I_pivot / (m g d))``, and
  conservation of ``E = I_pivot w^2 / 2 + m g d cos(angle)`` with the motor off (no friction or damping).
- Two-link arm: the closed-form planar mass matrix and potential energy give a conserved total energy
  once the (deliberate) joint damping is removed; the gravity torque computed from the link masses and
  centres of mass holds any pose still, and without it the arm falls.
- Six-DOF arm: the holding torque of every joint, summed by hand over the links beyond it
  (``(com - anchor) x m g`` projected on the joint axis), holds random poses still; energy is conserved
  with damping removed.

Integrators: RK4 at 1 ms where we compare with analytic values (its error is then far below the
tolerances, so a failure means a wrong mass, inertia, axis, sign or offset in the URDF or the import).
"""

from __future__ import annotations

import copy

import mujoco
import numpy as np
import pytest

from clankers.sim import SimConfig, Simulation, asset_path, load_robot

G = 9.81
RK4 = SimConfig(physics_dt=0.001, control_dt=0.001, integrator="rk4")


def _sim(name: str, config: SimConfig = RK4, undamped: bool = False) -> Simulation:
    robot = load_robot(asset_path(f"urdf/{name}.urdf"), config)
    if undamped:  # a private model copy: the robot's own model keeps its damping
        model = copy.deepcopy(robot.model)
        model.dof_damping[:] = 0.0
        robot = type(robot)(robot.name, model, robot.layout, robot.config, robot.source)
    return Simulation(robot)


# --- pendulum: uniform rod, 1 kg, 1 m, hinge at one end --------------------------------------------------

PEND_M, PEND_L = 1.0, 1.0
PEND_D = PEND_L / 2  # hinge to centre of mass
PEND_I = PEND_M * (3 * 0.02**2 + PEND_L**2) / 12 + PEND_M * PEND_D**2  # about the hinge (parallel axis)


def test_pendulum_small_angle_period() -> None:
    sim = _sim("pendulum")
    amplitude = 0.02
    sim.reset(qpos=np.array([np.pi + amplitude]))  # hanging down (angle pi), slightly displaced
    offsets, times = [], []
    for _ in range(6000):  # 6 s, more than three periods
        sim.step(np.zeros(1))
        offsets.append(sim.joint_positions()[0] - np.pi)
        times.append(sim.time)
    offsets, times = np.array(offsets), np.array(times)
    down = np.nonzero((offsets[:-1] > 0) & (offsets[1:] <= 0))[0]  # downward zero crossings
    crossings = times[down] - offsets[down] * (times[down + 1] - times[down]) / (
        offsets[down + 1] - offsets[down]
    )
    period = np.diff(crossings).mean()
    expected = 2 * np.pi * np.sqrt(PEND_I / (PEND_M * G * PEND_D))  # 1.638 s
    # Finite amplitude lengthens the period by ~amplitude^2/16 = 2.5e-5: well inside 1e-4.
    assert len(crossings) >= 3
    assert period == pytest.approx(expected, rel=1e-4)


def test_pendulum_conserves_energy_with_motor_off() -> None:
    sim = _sim("pendulum")
    sim.reset(qpos=np.array([2.0]), qvel=np.array([3.0]))  # swings over the top: a large-angle motion

    def energy() -> float:
        (angle,), (rate,) = sim.joint_positions(), sim.joint_velocities()
        return 0.5 * PEND_I * rate**2 + PEND_M * G * PEND_D * np.cos(angle)

    start = energy()
    energies = []
    for _ in range(3000):
        sim.step(np.zeros(1))
        energies.append(energy())
    assert np.max(np.abs(np.array(energies) - start)) < 1e-6 * PEND_M * G * PEND_D
    sim.reset(qpos=np.array([2.0]), qvel=np.array([3.0]))
    for _ in range(500):
        sim.step(np.ones(1))  # the motor does work: energy must change, or the test proves nothing
    assert energy() - start > 0.5


def test_pendulum_motor_is_weaker_than_gravity() -> None:
    """The swing-up premise: full torque cannot hold the rod horizontal."""
    sim = _sim("pendulum", SimConfig(physics_dt=0.002, control_dt=0.05))
    sim.reset(qpos=np.array([np.pi / 2]))
    for _ in range(10):
        sim.step(np.array([-1.0]))  # pushing back towards upright with all it has
    assert sim.joint_positions()[0] > np.pi / 2 + 0.3


# --- two-link arm in the vertical x-z plane ------------------------------------------------------------

M1, L1, M2, L2, R = 1.0, 0.5, 0.6, 0.4, 0.025
D1, D2 = L1 / 2, L2 / 2
I1, I2 = M1 * (3 * R**2 + L1**2) / 12, M2 * (3 * R**2 + L2**2) / 12  # about each centre of mass, across


def arm_mass_matrix(q2: float) -> np.ndarray:
    c2 = np.cos(q2)
    m11 = I1 + I2 + M1 * D1**2 + M2 * (L1**2 + D2**2 + 2 * L1 * D2 * c2)
    m12 = I2 + M2 * (D2**2 + L1 * D2 * c2)
    m22 = I2 + M2 * D2**2
    return np.array([[m11, m12], [m12, m22]])


def arm_energy(q: np.ndarray, v: np.ndarray) -> float:
    """Kinetic + potential energy; angles from the +z axis, so heights are ``d cos(angle)``."""
    height = M1 * D1 * np.cos(q[0]) + M2 * (L1 * np.cos(q[0]) + D2 * np.cos(q[0] + q[1]))
    return 0.5 * v @ arm_mass_matrix(q[1]) @ v + G * height


def arm_holding_torque(q: np.ndarray) -> np.ndarray:
    """Motor torques that cancel gravity: minus the moment of each weight about each joint."""
    x1 = D1 * np.sin(q[0])  # horizontal offsets of the centres of mass from the shoulder
    x2 = L1 * np.sin(q[0]) + D2 * np.sin(q[0] + q[1])
    x2_from_elbow = D2 * np.sin(q[0] + q[1])
    return np.array([-G * (M1 * x1 + M2 * x2), -G * M2 * x2_from_elbow])


def test_arm_mass_matrix_matches_closed_form() -> None:
    sim = _sim("two_link_arm")
    full = np.zeros((2, 2))
    for q2 in (-2.0, -0.5, 0.0, 1.3):
        sim.reset(qpos=np.array([0.7, q2]))
        mujoco.mj_fullM(sim.model, sim.data, full)
        np.testing.assert_allclose(full, arm_mass_matrix(q2), rtol=1e-9, atol=1e-12)


def test_arm_conserves_energy_without_damping() -> None:
    sim = _sim("two_link_arm", undamped=True)
    q0, v0 = np.array([2.2, 0.4]), np.array([0.0, 0.0])  # falls from 126 degrees and swings
    sim.reset(qpos=q0, qvel=v0)
    start = arm_energy(q0, v0)
    worst, elbow = 0.0, []
    for _ in range(2000):
        sim.step(np.zeros(2))
        q, v = sim.joint_positions(), sim.joint_velocities()
        worst = max(worst, abs(arm_energy(q, v) - start))
        elbow.append(q[1])
    assert np.max(np.abs(elbow)) < 2.5  # never touched the elbow limit (a limit would absorb energy)
    assert np.ptp(elbow) > 1.0  # and it really moved
    assert worst < 1e-6 * G * (M1 * D1 + M2 * (L1 + D2))


@pytest.mark.parametrize("pose", [(0.6, 0.9), (-1.2, 0.4), (2.5, -1.7)])
def test_arm_holds_pose_with_gravity_torque_from_masses(pose: tuple[float, float]) -> None:
    q = np.array(pose)
    torque = arm_holding_torque(q)
    effort = load_robot(asset_path("urdf/two_link_arm.urdf")).layout.effort_limits  # shoulder 12, elbow 5
    assert np.all(np.abs(torque) < effort)
    sim = _sim("two_link_arm", SimConfig(physics_dt=0.002, control_dt=0.04))
    sim.reset(qpos=q)
    np.testing.assert_allclose(sim.data.qfrc_bias, torque, atol=1e-9)  # MuJoCo's bias force agrees
    for _ in range(25):  # 1 s
        sim.step(torque / effort)
    np.testing.assert_allclose(sim.joint_positions(), q, atol=1e-6)
    sim.reset(qpos=q)
    for _ in range(25):
        sim.step(np.zeros(2))
    assert np.max(np.abs(sim.joint_positions() - q)) > 0.1  # without it, the arm falls


# --- six-DOF arm ---------------------------------------------------------------------------------------


def six_dof_holding_torque(sim: Simulation) -> np.ndarray:
    """Per joint: minus the gravity moment of every link beyond it, about the joint axis.

    Uses MuJoCo only for kinematics (link centres of mass, joint anchors and axes in the world); the
    statics is summed here from the URDF masses.
    """
    model, data = sim.model, sim.data
    gravity = np.array([0.0, 0.0, -G])
    torques = []
    for joint in sim.layout:
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint.name)
        child = model.jnt_bodyid[jid]
        beyond = [b for b in range(1, model.nbody) if b == child or _is_descendant(model, b, child)]
        moment = sum(
            np.cross(data.xipos[b] - data.xanchor[jid], model.body_mass[b] * gravity) for b in beyond
        )
        torques.append(-moment @ data.xaxis[jid])
    return np.array(torques)


def _is_descendant(model: mujoco.MjModel, body: int, ancestor: int) -> bool:
    while body > 0:
        body = model.body_parentid[body]
        if body == ancestor:
            return True
    return False


def test_six_dof_arm_total_mass_from_urdf() -> None:
    assert _sim("six_dof_arm").model.body_mass.sum() == pytest.approx(1.5 + 1.2 + 0.8 + 0.3 + 0.3 + 0.1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_six_dof_arm_holds_random_pose_with_gravity_torque(seed: int) -> None:
    sim = _sim("six_dof_arm", SimConfig(physics_dt=0.002, control_dt=0.04))
    q = np.random.default_rng(seed).uniform(-1.2, 1.2, size=6)
    sim.reset(qpos=q)
    torque = six_dof_holding_torque(sim)
    effort = sim.layout.effort_limits
    assert np.all(np.abs(torque) < effort) and np.abs(torque[1]) > 1.0  # a real load on the shoulder
    np.testing.assert_allclose(sim.data.qfrc_bias, torque, atol=1e-9)  # at rest: gravity only
    for _ in range(25):  # 1 s
        sim.step(torque / effort)
    np.testing.assert_allclose(sim.joint_positions(), q, atol=1e-6)
    sim.reset(qpos=q)
    for _ in range(25):
        sim.step(np.zeros(6))
    assert np.max(np.abs(sim.joint_positions() - q)) > 0.05


@pytest.mark.parametrize(("gravity", "steps"), [((0.0, 0.0, 0.0), 1000), ((0.0, 0.0, -G), 300)])
def test_six_dof_arm_conserves_energy_without_damping(
    gravity: tuple[float, float, float], steps: int
) -> None:
    """Without gravity the arm spins freely for 1 s; with it, it collapses, so 0.3 s before any limit."""
    sim = _sim(
        "six_dof_arm",
        SimConfig(physics_dt=0.001, control_dt=0.001, integrator="rk4", gravity=gravity),
        undamped=True,
    )
    sim.model.opt.enableflags |= mujoco.mjtEnableBit.mjENBL_ENERGY
    q0 = np.array([0.3, 0.5, -0.4, 0.2, 0.3, 0.0])
    sim.reset(qpos=q0, qvel=np.array([0.5, 0.3, -0.3, 1.0, 0.5, 2.0]))
    start = sim.data.energy.sum()
    worst = 0.0
    for _ in range(steps):
        sim.step(np.zeros(6))
        worst = max(worst, abs(sim.data.energy.sum() - start))
        assert np.all(np.abs(sim.joint_positions()) < [3.0, 2.5, 2.6, 3.0, 2.0, 3.0])  # no limit contact
    assert np.ptp(sim.joint_positions() - q0) > 0.1
    assert worst < 1e-6 * max(abs(start), 1.0)
