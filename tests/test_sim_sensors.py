"""Sensors read what rigid-body kinematics says they must, in a named, ordered vector.

Each sensor is checked against a closed-form value: IMU on a spinning rotor (centripetal and tangential
acceleration, gravity reaction, body rate), end-effector pose of a planar two-link arm (forward
kinematics), contact force of a resting box (its weight), ray distances to known surfaces, and a rendered
sphere's colour and depth.
"""

from __future__ import annotations

import math
from pathlib import Path

import mujoco
import numpy as np
import pytest

from clankers.errors import ConfigError
from clankers.sim import SimConfig, Simulation, load_robot
from clankers.sim.noise import Gaussian, encoder
from clankers.sim.sensors import (
    IMU,
    Camera,
    ContactForce,
    JointPositions,
    JointState,
    JointTorques,
    JointVelocities,
    Pose,
    RangeFinder,
    SensorSuite,
    gl_available,
)

ARM_URDF = """<?xml version="1.0"?>
<robot name="arm">
  <link name="base"/>
  <link name="upper"><inertial><origin xyz="0.25 0 0"/><mass value="1"/>
    <inertia ixx="0.001" iyy="0.02" izz="0.02" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="fore"><inertial><origin xyz="0.2 0 0"/><mass value="0.5"/>
    <inertia ixx="0.001" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <joint name="shoulder" type="continuous"><parent link="base"/><child link="upper"/><axis xyz="0 0 1"/>
    <limit effort="4"/></joint>
  <joint name="elbow" type="continuous"><parent link="upper"/><child link="fore"/>
    <origin xyz="0.5 0 0"/><axis xyz="0 0 1"/><limit effort="2"/></joint>
</robot>
"""

SCENE_XML = """
<mujoco>
  <option timestep="0.001"/>
  <worldbody>
    <light pos="0 0 4" dir="0 0 -1"/>
    <geom name="floor" type="plane" size="5 5 0.1" rgba="0.2 0.2 0.2 1"/>
    <geom name="wall" type="box" pos="1.5 0 0.5" size="0.05 1 0.5"/>
    <body name="box" pos="0 0 0.1">
      <freejoint/>
      <geom type="box" size="0.1 0.1 0.1" mass="2"/>
    </body>
    <body name="ball" pos="0 3 0.5">
      <geom type="sphere" size="0.25" rgba="1 0 0 1" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
</mujoco>
"""


@pytest.fixture(scope="module")
def arm(tmp_path_factory: pytest.TempPathFactory):
    path = Path(tmp_path_factory.mktemp("arm")) / "arm.urdf"
    path.write_text(ARM_URDF)
    return load_robot(path, SimConfig(physics_dt=0.001, control_dt=0.01))


@pytest.fixture()
def scene():
    model = mujoco.MjModel.from_xml_string(SCENE_XML)
    return model, mujoco.MjData(model)


def test_joint_sensors_read_layout_order_and_name_axes(arm):
    sim = Simulation(arm)
    sim.reset(qpos=np.array([0.3, -0.2]), qvel=np.array([1.0, 2.0]))  # layout: elbow, shoulder
    suite = SensorSuite(
        [JointState("state"), JointPositions("q", ["shoulder"]), JointVelocities("v"), JointTorques("tau")],
        sim.model,
        sim.layout,
    )
    sim.step(np.array([0.5, -0.25]))
    obs = suite.read(sim.model, sim.data)
    assert suite.labels[:4] == (
        "state.elbow.position",
        "state.elbow.velocity",
        "state.shoulder.position",
        "state.shoulder.velocity",
    )
    assert suite.slices == {"state": slice(0, 4), "q": slice(4, 5), "v": slice(5, 7), "tau": slice(7, 9)}
    np.testing.assert_array_equal(obs[suite.slices["q"]], [sim.data.qpos[arm.layout["shoulder"].qpos_index]])
    np.testing.assert_array_equal(obs[0:4:2], sim.joint_positions())
    np.testing.assert_allclose(obs[suite.slices["tau"]], [0.5 * 2.0, -0.25 * 4.0])  # command x URDF effort


@pytest.mark.parametrize("q", [(0.0, 0.0), (0.7, -1.1), (2.5, 3.0)])
def test_end_effector_pose_matches_forward_kinematics(arm, q):
    elbow, shoulder = q
    sim = Simulation(arm)
    sim.reset(qpos=np.array([elbow, shoulder]))
    suite = SensorSuite([Pose("hand", body="fore", offset=(0.4, 0.0, 0.0))], sim.model, sim.layout)
    obs = suite.read(sim.model, sim.data)
    angle = shoulder + elbow
    expected = [
        0.5 * math.cos(shoulder) + 0.4 * math.cos(angle),
        0.5 * math.sin(shoulder) + 0.4 * math.sin(angle),
        0.0,
    ]
    np.testing.assert_allclose(obs[:3], expected, atol=1e-9)
    quat = np.array([math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)])
    np.testing.assert_allclose(obs[3:], quat if quat[0] >= 0 else -quat, atol=1e-9)


def test_pose_is_current_after_a_step_not_one_substep_late(arm):
    sim = Simulation(arm)
    sim.reset(qvel=np.array([0.0, 3.0]))
    suite = SensorSuite([Pose("upper", body="upper", offset=(0.5, 0, 0))], sim.model, sim.layout)
    sim.step(np.zeros(2))
    shoulder = sim.joint_positions()[1]
    obs = suite.read(sim.model, sim.data)
    np.testing.assert_allclose(obs[:2], [0.5 * math.cos(shoulder), 0.5 * math.sin(shoulder)], atol=1e-9)


def test_imu_on_spinning_arm_reads_centripetal_tangential_gravity_and_rate(arm):
    sim = Simulation(arm)
    omega, r = 3.0, 0.3
    sim.reset(qvel=np.array([0.0, omega]))
    suite = SensorSuite([IMU("imu", body="upper", offset=(r, 0.0, 0.0))], sim.model, sim.layout)
    obs = suite.read(sim.model, sim.data)
    # No torque: the shoulder turns freely (elbow coupled, so compute alpha from MuJoCo's own qacc).
    alpha = sim.data.qacc[arm.layout["shoulder"].qvel_index]
    np.testing.assert_allclose(obs[:3], [-(omega**2) * r, alpha * r, 9.81], atol=1e-6)
    np.testing.assert_allclose(obs[3:], [0.0, 0.0, omega], atol=1e-9)
    assert suite.labels == tuple(
        f"imu.{a}" for a in ("accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z")
    )


def test_imu_tangential_acceleration_under_torque(arm):
    sim = Simulation(arm)
    sim.reset()
    sim.step(np.array([0.0, 1.0]))  # 4 N m on the shoulder
    suite = SensorSuite([IMU("imu", body="upper", offset=(0.2, 0, 0))], sim.model, sim.layout)
    obs = suite.read(sim.model, sim.data)
    alpha = sim.data.qacc[arm.layout["shoulder"].qvel_index]
    omega = sim.joint_velocities()[1]
    assert alpha > 1.0
    np.testing.assert_allclose(obs[:2], [-(omega**2) * 0.2, alpha * 0.2], rtol=1e-6)


def test_contact_force_of_resting_box_is_its_weight(scene):
    model, data = scene
    for _ in range(500):
        mujoco.mj_step(model, data)
    suite = SensorSuite([ContactForce("feet", ["box", "world"])], model)
    obs = suite.read(model, data)
    np.testing.assert_allclose(obs[:3], [0.0, 0.0, 2.0 * 9.81], atol=1e-3)
    np.testing.assert_allclose(obs[3:], [0.0, 0.0, -2.0 * 9.81], atol=1e-3)  # the floor is pushed down


def test_range_finder_distances_to_floor_wall_and_nothing(scene):
    model, data = scene
    mujoco.mj_forward(model, data)
    rays = RangeFinder(
        "lidar", body="box", directions=[(0, 0, -1), (1, 0, 0), (-1, 0, 0), (0, 0, 1)], max_range=3.0
    )
    obs = SensorSuite([rays], model).read(model, data)
    # From the box centre (z = 0.1): the floor 0.1 below, the wall face at x = 1.45, nothing behind or above.
    np.testing.assert_allclose(obs, [0.1, 1.45, 3.0, 3.0], atol=1e-9)


def test_suite_noise_is_seeded_per_axis_and_off_without_generator(arm):
    sim = Simulation(arm)
    sim.reset(qpos=np.array([0.1234, 0.5678]))
    sensors = [JointState("joints")]
    noise = {"joints": {"*.position": encoder(1024), "*.velocity": Gaussian(std=0.1)}}
    suite = SensorSuite(sensors, sim.model, sim.layout, noise=noise, dt=0.01)
    clean = suite.read(sim.model, sim.data)
    suite.reset(np.random.default_rng(7))
    noisy = suite.read(sim.model, sim.data)
    step = 2 * math.pi / 1024
    np.testing.assert_allclose(noisy[0::2], step * np.round(clean[0::2] / step))
    assert np.all(noisy[1::2] != clean[1::2])
    suite.reset(np.random.default_rng(7))
    np.testing.assert_array_equal(suite.read(sim.model, sim.data), noisy)


def test_suite_reports_config_errors(arm):
    sim = Simulation(arm)
    with pytest.raises(ConfigError, match="unique"):
        SensorSuite([JointState("a"), JointState("a")], sim.model, sim.layout)
    with pytest.raises(ConfigError, match=r"no body named .hand. \(for pose sensor"):
        SensorSuite([Pose("p", body="hand")], sim.model, sim.layout)
    with pytest.raises(ConfigError, match="unknown joints"):
        SensorSuite([JointPositions("q", ["knee"])], sim.model, sim.layout)
    with pytest.raises(ConfigError, match="unknown sensors"):
        SensorSuite([JointState("a")], sim.model, sim.layout, noise={"b": "encoder"})
    assert SensorSuite([JointState("a")], sim.model, sim.layout).describe()[0]["size"] == 4


NO_GL = gl_available()


@pytest.mark.skipif(NO_GL is not None, reason=f"camera needs an OpenGL backend: {NO_GL}")
def test_camera_renders_red_sphere_with_metric_depth(scene):
    model, data = scene
    mujoco.mj_forward(model, data)
    # Looking horizontally at the ball (centre z = 0.5) from 2 m: the centre pixel is the ball's surface.
    camera = Camera(
        "cam", width=32, height=24, lookat=(0, 3, 0.5), distance=2.0, azimuth=-90, elevation=0, depth=True
    )
    camera.bind(model)
    images = camera.render(data)
    camera.close()
    rgb, depth = images["cam.rgb"], images["cam.depth"]
    assert rgb.shape == (24, 32, 3) and rgb.dtype == np.uint8 and depth.shape == (24, 32)
    red, green, blue = (int(c) for c in rgb[12, 16])
    assert red > 100 and red > 2 * green and red > 2 * blue
    assert depth[12, 16] == pytest.approx(2.0 - 0.25, abs=0.02)
    assert camera.shapes == {"cam.rgb": (24, 32, 3), "cam.depth": (24, 32)}
