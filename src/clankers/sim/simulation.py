"""One MuJoCo simulation of a robot, stepped at the control rate.

:class:`Simulation` is the hot path of every environment, so it precomputes index arrays once and does
no allocation per step beyond MuJoCo's own: commands go straight into ``data.ctrl`` and one
``mj_step(model, data, nstep=substeps)`` call integrates the whole control step.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from clankers.errors import ActionError, SimulationError
from clankers.sim.robot import Robot

if TYPE_CHECKING:
    from clankers.sim.actuators import ActuatorBank, ActuatorSpec


class Simulation:
    """Physics state of one robot plus helpers to read and write it in joint-layout order.

    Args:
        robot: the compiled robot.
        actuators: optional actuator spec per joint name or glob pattern (preset name, dict or
            :class:`~clankers.sim.actuators.ActuatorConfig`, see :func:`~clankers.sim.actuators.resolve_actuators`).
            Joints with a non-trivial actuator are driven by the actuator pipeline, evaluated every physics
            substep; then this simulation gets its own copy of the MuJoCo model. Without any, stepping is
            one ``mj_step(nstep=substeps)`` call.
    """

    def __init__(self, robot: Robot, actuators: Mapping[str, ActuatorSpec] | None = None) -> None:
        self.robot = robot
        self.model = robot.model
        self.actuators: ActuatorBank | None = None
        if actuators:
            from clankers.sim.actuators import ActuatorBank, resolve_actuators

            configs = resolve_actuators(robot.layout.names, actuators)
            effort = {j.name: j.effort_limit for j in robot.layout}
            configs = {n: c for n, c in configs.items() if not c.is_passthrough(effort[n])}
            if configs:
                self.model = copy.copy(robot.model)  # the bank re-gears motors: never touch the shared model
                self.actuators = ActuatorBank(self.model, robot.layout, configs, robot.config.physics_dt)
        self.data = mujoco.MjData(self.model)
        # A live view of the bad-acceleration warning counter: reading ``.number`` off it costs ~0.07 µs,
        # looking it up through ``data.warning[...]`` every step ~1 µs (3% of a cart-pole step).
        self._badqacc = self.data.warning[mujoco.mjtWarning.mjWARN_BADQACC]
        self.layout = robot.layout
        self.substeps = robot.config.substeps
        self._qpos_idx = self.layout.qpos_indices
        self._qvel_idx = self.layout.qvel_indices
        self._act_idx = self.layout.actuator_indices
        # When the actuators are exactly 0..n-1 in layout order (always, for load_robot), assign the
        # whole ctrl vector instead of fancy indexing.
        self._ctrl_contiguous = np.array_equal(self._act_idx, np.arange(self.model.nu))
        self.n_joints = len(self.layout)

    @property
    def time(self) -> float:
        return float(self.data.time)

    def reset(self, qpos: np.ndarray | None = None, qvel: np.ndarray | None = None) -> None:
        """Reset to the model's default state, then set layout-ordered joint positions/velocities."""
        mujoco.mj_resetData(self.model, self.data)
        if qpos is not None:
            self.data.qpos[self._qpos_idx] = qpos
        if qvel is not None:
            self.data.qvel[self._qvel_idx] = qvel
        if self.actuators is not None:
            self.actuators.reset(self.data)
        mujoco.mj_forward(self.model, self.data)

    def step(self, command: np.ndarray) -> None:
        """Hold the normalized ``command`` (one value per joint, in [-1, 1]) for one control step.

        Values outside [-1, 1] are clamped by MuJoCo's ``ctrlrange``, as a motor driver saturates.
        Joints with an actuator pipeline interpret their entry through their controller (torque, velocity
        or position target) and are stepped substep by substep.
        """
        if self.actuators is not None:
            self.actuators.step(self.data, command, self.substeps)
        else:
            if self._ctrl_contiguous:
                self.data.ctrl[:] = command
            else:
                self.data.ctrl[self._act_idx] = command
            mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        if self._badqacc.number:
            raise SimulationError(
                f"MuJoCo reported unstable accelerations at t={self.data.time:.4f} s; lower physics_dt or "
                "check masses/inertias in the URDF"
            )

    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self._qpos_idx]

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self._qvel_idx]

    def joint_state_into(self, out: np.ndarray) -> np.ndarray:
        """Write ``[q0, v0, q1, v1, ...]`` into ``out`` (any float dtype) and return it."""
        out[0::2] = self.data.qpos[self._qpos_idx]
        out[1::2] = self.data.qvel[self._qvel_idx]
        return out


def validate_command(action: object, size: int) -> np.ndarray:
    """Return ``action`` as a float array of shape ``(size,)``, or raise :class:`ActionError`.

    Rejects wrong shapes and NaN/inf: a non-finite command would silently poison the physics state.
    """
    array = np.asarray(action, dtype=np.float64)
    if array.shape != (size,):
        raise ActionError(f"action has shape {array.shape}; expected ({size},): one command per joint")
    if not np.isfinite(array).all():
        raise ActionError(f"action {array.tolist()} contains NaN or inf; send finite commands in [-1, 1]")
    return array
