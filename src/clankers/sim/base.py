"""The state of a floating base, as a legged-robot policy observes it.

MuJoCo's free joint stores the base position (world frame) and orientation (unit quaternion w, x, y, z)
in ``qpos``, and in ``qvel`` the linear velocity in the **world** frame followed by the angular velocity
in the **body** frame. Policies want everything in the body frame (what an IMU and a state estimator give
on the robot): :class:`FloatingBase` reads ``qpos``/``qvel`` directly, so the values are current right
after ``mj_step`` without recomputing kinematics.

| quantity            | size | meaning                                                               |
|---------------------|------|-----------------------------------------------------------------------|
| `height`            | 1    | base z in the world (m)                                               |
| `position`          | 3    | base position in the world (m)                                        |
| `orientation`       | 4    | base quaternion w, x, y, z (world from body)                          |
| `projected_gravity` | 3    | the unit gravity direction in the body frame: (0, 0, -1) when upright |
| `linear_velocity`   | 3    | base linear velocity in the body frame (m/s)                          |
| `angular_velocity`  | 3    | base angular velocity in the body frame (rad/s)                       |

Foot contacts are in :class:`ContactSet`: which of some links' collision geoms touch anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from clankers.errors import ConfigError

BASE_QUANTITIES = {
    "height": 1,
    "position": 3,
    "orientation": 4,
    "projected_gravity": 3,
    "linear_velocity": 3,
    "angular_velocity": 3,
}


class FloatingBase:
    """Reads a free-joint body's state from ``qpos``/``qvel`` (see the module docstring)."""

    def __init__(self, model: mujoco.MjModel, body: int) -> None:
        joint = int(model.body_jntadr[body])
        if joint < 0 or model.jnt_type[joint] != mujoco.mjtJoint.mjJNT_FREE:
            raise ConfigError(
                f"body {model.body(body).name!r} has no free joint; load the robot with base='floating'"
            )
        self.body = body
        self.qpos_address = int(model.jnt_qposadr[joint])
        self.dof_address = int(model.jnt_dofadr[joint])
        self._rotation = np.zeros(9)
        gravity = np.array(model.opt.gravity, dtype=np.float64)
        norm = np.linalg.norm(gravity)
        self._gravity_direction = gravity / norm if norm > 0 else np.array([0.0, 0.0, -1.0])

    def height(self, data: mujoco.MjData) -> float:
        return float(data.qpos[self.qpos_address + 2])

    def position(self, data: mujoco.MjData) -> np.ndarray:
        return data.qpos[self.qpos_address : self.qpos_address + 3]

    def orientation(self, data: mujoco.MjData) -> np.ndarray:
        return data.qpos[self.qpos_address + 3 : self.qpos_address + 7]

    def _world_from_body(self, data: mujoco.MjData) -> np.ndarray:
        quat = data.qpos[self.qpos_address + 3 : self.qpos_address + 7]
        mujoco.mju_quat2Mat(self._rotation, quat / np.linalg.norm(quat))
        return self._rotation.reshape(3, 3)

    def write(self, quantity: str, data: mujoco.MjData, out: np.ndarray) -> None:
        """Write one quantity of the module table into ``out``."""
        q, d = self.qpos_address, self.dof_address
        if quantity == "height":
            out[0] = data.qpos[q + 2]
        elif quantity == "position":
            out[:] = data.qpos[q : q + 3]
        elif quantity == "orientation":
            out[:] = data.qpos[q + 3 : q + 7]
        elif quantity == "projected_gravity":
            np.matmul(self._gravity_direction, self._world_from_body(data), out=out)  # R^T g
        elif quantity == "linear_velocity":
            np.matmul(data.qvel[d : d + 3], self._world_from_body(data), out=out)  # R^T v
        elif quantity == "angular_velocity":
            out[:] = data.qvel[d + 3 : d + 6]
        else:
            raise ConfigError(f"unknown base quantity {quantity!r}; one of {sorted(BASE_QUANTITIES)}")


class ContactSet:
    """Whether each of some links touches anything, from MuJoCo's contact list.

    A link's collision geoms are the geoms the URDF reader named ``<link>/collision<i>``, so a foot
    link merged into its parent body (MuJoCo fuses links fixed to their parent) is still found. Contacts
    are those of the last physics substep.
    """

    def __init__(self, model: mujoco.MjModel, links: Sequence[str], prefix: str = "") -> None:
        self.links = tuple(links)
        self.geom_link = np.full(model.ngeom, -1, dtype=np.intp)
        for i, link in enumerate(self.links):
            start = f"{prefix}{link}/collision"
            found = [g for g in range(model.ngeom) if (model.geom(g).name or "").startswith(start)]
            if not found:
                raise ConfigError(
                    f"link {link!r} has no collision geometry to touch the ground with; name a link with "
                    "<collision> elements"
                )
            self.geom_link[found] = i

    def write(self, data: mujoco.MjData, out: np.ndarray) -> None:
        """1.0 for each link in contact, else 0.0."""
        out[:] = 0.0
        if data.ncon:
            pairs = data.contact.geom[: data.ncon]
            touched = self.geom_link[pairs.ravel()]
            touched = touched[touched >= 0]
            out[touched] = 1.0
