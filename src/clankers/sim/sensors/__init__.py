"""Sensors producing named, ordered observation slices, plus an offscreen camera.

Example::

    suite = SensorSuite(
        [JointState("joints"), IMU("imu", body="forearm"), Pose("hand", body="hand")],
        sim.model, sim.layout, noise={"imu": {"accel_*": mems_accelerometer(), "gyro_*": mems_gyro()}},
        dt=sim.robot.config.control_dt,
    )
    suite.reset(episode.generator(NOISE))
    obs = suite.read(sim.model, sim.data)        # suite.slices["imu"] is the IMU's part
"""

from clankers.sim.sensors.base import Sensor, SensorSuite, Stage
from clankers.sim.sensors.body import IMU, ContactForce, Pose, RangeFinder
from clankers.sim.sensors.camera import Camera, gl_available
from clankers.sim.sensors.joint import JointPositions, JointState, JointTorques, JointVelocities

__all__ = [
    "IMU",
    "Camera",
    "ContactForce",
    "JointPositions",
    "JointState",
    "JointTorques",
    "JointVelocities",
    "Pose",
    "RangeFinder",
    "Sensor",
    "SensorSuite",
    "Stage",
    "gl_available",
]
