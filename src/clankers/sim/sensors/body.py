"""Sensors on bodies: IMU, end-effector pose, contact forces, range finders.

Bodies are named by their URDF link names (MuJoCo keeps them). Links fixed to their parent are fused into
it by the URDF import, so a sensor on such a link must name the parent and give the offset.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from clankers.errors import ConfigError
from clankers.sim.robot import JointLayout
from clankers.sim.sensors.base import Sensor, Stage, object_id

_BODY = mujoco.mjtObj.mjOBJ_BODY
# The body *frame* (link frame). mjOBJ_BODY would mean the body's inertial frame: centre of mass and
# principal axes, which differ from the link frame for most URDF links.
_XBODY = mujoco.mjtObj.mjOBJ_XBODY


def _vector3(value: Sequence[float], what: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (3,) or not np.isfinite(array).all():
        raise ConfigError(f"{what} must be three finite numbers, got {value!r}")
    return array


class IMU(Sensor):
    """Accelerometer and gyroscope rigidly attached to a body, axes aligned with the body frame.

    Outputs ``accel_{x,y,z}`` (m/s^2, specific force: reads ``+g`` upwards at rest, 0 in free fall) then
    ``gyro_{x,y,z}`` (rad/s), both in the IMU frame. At an ``offset`` ``r`` from the body origin the
    acceleration is ``a_o + alpha x r + w x (w x r)`` (rigid-body kinematics).
    """

    stage = Stage.FORWARD

    def __init__(self, name: str, body: str, offset: Sequence[float] = (0.0, 0.0, 0.0)) -> None:
        super().__init__(name)
        self.body = body
        self.offset = _vector3(offset, f"IMU {name!r} offset")
        self._res = np.zeros(6)

    def _bind(self, model: mujoco.MjModel, layout: JointLayout | None) -> list[str]:
        self._id = object_id(model, _BODY, self.body, f"IMU {self.name!r}")
        return ["accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z"]

    def read(self, model: mujoco.MjModel, data: mujoco.MjData, out: np.ndarray) -> None:
        res = self._res
        mujoco.mj_objectVelocity(model, data, _XBODY, self._id, res, 1)  # [angular, linear], local frame
        omega = res[:3].copy()
        mujoco.mj_objectAcceleration(model, data, _XBODY, self._id, res, 1)
        alpha, accel = res[:3], res[3:].copy()
        if self.offset.any():
            r = self.offset
            accel += np.cross(alpha, r) + np.cross(omega, np.cross(omega, r))
        out[:3] = accel
        out[3:] = omega


class Pose(Sensor):
    """World-frame pose of a point on a body: ``pos_{x,y,z}`` then ``quat_{w,x,y,z}``.

    The quaternion is MuJoCo's body orientation with the sign chosen so that ``w >= 0`` (q and -q are the
    same rotation; a fixed sign keeps the observation continuous for a policy).
    """

    stage = Stage.KINEMATICS

    def __init__(self, name: str, body: str, offset: Sequence[float] = (0.0, 0.0, 0.0)) -> None:
        super().__init__(name)
        self.body = body
        self.offset = _vector3(offset, f"pose sensor {name!r} offset")

    def _bind(self, model: mujoco.MjModel, layout: JointLayout | None) -> list[str]:
        self._id = object_id(model, _BODY, self.body, f"pose sensor {self.name!r}")
        return ["pos_x", "pos_y", "pos_z", "quat_w", "quat_x", "quat_y", "quat_z"]

    def read(self, model: mujoco.MjModel, data: mujoco.MjData, out: np.ndarray) -> None:
        out[:3] = data.xpos[self._id] + data.xmat[self._id].reshape(3, 3) @ self.offset
        quat = data.xquat[self._id]
        out[3:] = -quat if quat[0] < 0 else quat


class ContactForce(Sensor):
    """Total contact force on each listed body, in the world frame (N): ``{body}.f{x,y,z}``.

    Sums MuJoCo's contact forces over all active contacts that involve the body (contacts between two
    listed bodies count for both, with opposite signs: each body gets the force acting on it).
    """

    stage = Stage.FORWARD

    def __init__(self, name: str, bodies: Sequence[str]) -> None:
        super().__init__(name)
        if isinstance(bodies, str) or not bodies:
            raise ConfigError(f"contact sensor {name!r} needs a list of body names")
        self.bodies = tuple(bodies)
        self._force = np.zeros(6)

    def _bind(self, model: mujoco.MjModel, layout: JointLayout | None) -> list[str]:
        self._ids = [object_id(model, _BODY, b, f"contact sensor {self.name!r}") for b in self.bodies]
        self._slot = {bid: i for i, bid in enumerate(self._ids)}
        return [f"{b}.f{axis}" for b in self.bodies for axis in "xyz"]

    def read(self, model: mujoco.MjModel, data: mujoco.MjData, out: np.ndarray) -> None:
        out[:] = 0.0
        f = self._force
        for i in range(data.ncon):
            contact = data.contact[i]
            b1 = model.geom_bodyid[contact.geom1]
            b2 = model.geom_bodyid[contact.geom2]
            if b1 not in self._slot and b2 not in self._slot:
                continue
            mujoco.mj_contactForce(model, data, i, f)
            # Contact frame rows: normal (from geom1 to geom2), then two tangents; f is geom1 on geom2.
            world = contact.frame.reshape(3, 3).T @ f[:3]
            if b2 in self._slot:
                k = 3 * self._slot[b2]
                out[k : k + 3] += world
            if b1 in self._slot:
                k = 3 * self._slot[b1]
                out[k : k + 3] -= world


class RangeFinder(Sensor):
    """Distance along rays cast from a point on a body (lidar-like), in metres: ``ray{i}``.

    Each ray starts at ``origin`` (body frame) and points along a body-frame ``direction``. It ignores the
    body itself; a ray that hits nothing within ``max_range`` reads ``max_range``.
    """

    stage = Stage.KINEMATICS

    def __init__(
        self,
        name: str,
        body: str,
        directions: Sequence[Sequence[float]],
        origin: Sequence[float] = (0.0, 0.0, 0.0),
        max_range: float = 10.0,
    ) -> None:
        super().__init__(name)
        self.body = body
        dirs = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
        norms = np.linalg.norm(dirs, axis=1)
        if len(dirs) == 0 or not np.all(norms > 0):
            raise ConfigError(f"range finder {name!r} needs one or more non-zero ray directions")
        if not max_range > 0:
            raise ConfigError(f"range finder {name!r}: max_range must be > 0, got {max_range}")
        self.directions = dirs / norms[:, None]
        self.origin = _vector3(origin, f"range finder {name!r} origin")
        self.max_range = float(max_range)
        self._geom = np.zeros(1, dtype=np.int32)

    def _bind(self, model: mujoco.MjModel, layout: JointLayout | None) -> list[str]:
        self._id = object_id(model, _BODY, self.body, f"range finder {self.name!r}")
        return [f"ray{i}" for i in range(len(self.directions))]

    def read(self, model: mujoco.MjModel, data: mujoco.MjData, out: np.ndarray) -> None:
        rot = data.xmat[self._id].reshape(3, 3)
        start = data.xpos[self._id] + rot @ self.origin
        for i, direction in enumerate(self.directions):
            vec = rot @ direction
            dist = mujoco.mj_ray(model, data, start, vec, None, 1, self._id, self._geom)
            out[i] = self.max_range if dist < 0 or dist > self.max_range else dist
