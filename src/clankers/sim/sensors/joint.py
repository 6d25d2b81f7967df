"""Joint sensors: positions, velocities (or both, interleaved) and torques, in joint-layout order."""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from clankers.errors import ConfigError
from clankers.sim.robot import JointInfo, JointLayout
from clankers.sim.sensors.base import Sensor


class _JointSensor(Sensor):
    """Reads some joints (all, in layout order, by default)."""

    def __init__(self, name: str, joints: Sequence[str] | None = None) -> None:
        super().__init__(name)
        self.joint_names = None if joints is None else tuple(joints)

    def _joints(self, layout: JointLayout | None) -> list[JointInfo]:
        if layout is None:
            raise ConfigError(f"sensor {self.name!r} reads joints and needs the robot's joint layout")
        names = self.joint_names if self.joint_names is not None else layout.names
        unknown = [n for n in names if n not in layout.names]
        if unknown:
            raise ConfigError(
                f"sensor {self.name!r}: unknown joints {unknown}; joints are {list(layout.names)}"
            )
        return [layout[n] for n in names]


class JointPositions(_JointSensor):
    """Joint positions (rad or m): ``{name}.{joint}``."""

    def _bind(self, model: mujoco.MjModel, layout: JointLayout | None) -> list[str]:
        joints = self._joints(layout)
        self._idx = np.array([j.qpos_index for j in joints], dtype=np.intp)
        return [j.name for j in joints]

    def read(self, model: mujoco.MjModel, data: mujoco.MjData, out: np.ndarray) -> None:
        out[:] = data.qpos[self._idx]


class JointVelocities(_JointSensor):
    """Joint velocities (rad/s or m/s): ``{name}.{joint}``."""

    def _bind(self, model: mujoco.MjModel, layout: JointLayout | None) -> list[str]:
        joints = self._joints(layout)
        self._idx = np.array([j.qvel_index for j in joints], dtype=np.intp)
        return [j.name for j in joints]

    def read(self, model: mujoco.MjModel, data: mujoco.MjData, out: np.ndarray) -> None:
        out[:] = data.qvel[self._idx]


class JointState(_JointSensor):
    """Position then velocity per joint, interleaved (``[q0, v0, q1, v1, ...]``, the cart-pole layout)."""

    def _bind(self, model: mujoco.MjModel, layout: JointLayout | None) -> list[str]:
        joints = self._joints(layout)
        self._q = np.array([j.qpos_index for j in joints], dtype=np.intp)
        self._v = np.array([j.qvel_index for j in joints], dtype=np.intp)
        return [f"{j.name}.{quantity}" for j in joints for quantity in ("position", "velocity")]

    def read(self, model: mujoco.MjModel, data: mujoco.MjData, out: np.ndarray) -> None:
        out[0::2] = data.qpos[self._q]
        out[1::2] = data.qvel[self._v]


class JointTorques(_JointSensor):
    """Torque (N m, or N) each joint's actuator applied over the last physics substep.

    This is MuJoCo's ``qfrc_actuator`` at the joint (the actuator force times its gear): for the plain
    motor ``effort * command``; for a joint with an actuator pipeline the transmission output minus
    viscous friction (dry friction is a constraint and not part of it), as a joint torque sensor behind
    the gearbox would read.
    """

    def _bind(self, model: mujoco.MjModel, layout: JointLayout | None) -> list[str]:
        joints = self._joints(layout)
        self._idx = np.array([j.qvel_index for j in joints], dtype=np.intp)
        return [j.name for j in joints]

    def read(self, model: mujoco.MjModel, data: mujoco.MjData, out: np.ndarray) -> None:
        out[:] = data.qfrc_actuator[self._idx]
