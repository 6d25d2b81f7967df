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
from clankers.sim.base import FloatingBase
from clankers.sim.robot import Robot

if TYPE_CHECKING:
    from clankers.sim.actions import ActionConfig
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
        action: the action semantics (:class:`~clankers.sim.actions.ActionConfig` or its fields as a
            mapping): normalized torque by default, or position/velocity targets through servos evaluated
            every substep (see :mod:`clankers.sim.actions`).
    """

    def __init__(
        self,
        robot: Robot,
        actuators: Mapping[str, ActuatorSpec] | None = None,
        action: ActionConfig | Mapping[str, object] | None = None,
    ) -> None:
        from clankers.sim.actions import ResolvedAction

        self.robot = robot
        self.model = robot.model
        self.action = ResolvedAction.build(action, robot)
        self.actuators: ActuatorBank | None = None
        layout = robot.layout
        bank_joints: set[str] = set()
        if actuators:
            from clankers.sim.actuators import ActuatorBank, resolve_actuators

            configs = resolve_actuators(layout.names, actuators)
            effort = {j.name: j.effort_limit for j in layout}
            configs = {n: c for n, c in configs.items() if not c.is_passthrough(effort[n])}
            if configs:
                self.model = copy.copy(robot.model)  # the bank re-gears motors: never touch the shared model
                configs = self.action.controllers_for(configs)
                self.actuators = ActuatorBank(self.model, layout, configs, robot.config.physics_dt)
                bank_joints = set(configs)
        servo = np.array([i for i, n in enumerate(layout.names) if n not in bank_joints], dtype=np.intp)
        self._servo_actuators = layout.actuator_indices[servo]
        self._servo_qpos = layout.qpos_indices[servo]
        if not self.action.trivial:
            if self.model is robot.model:
                self.model = copy.copy(robot.model)
            self.action.apply_dynamics(self.model, layout.qvel_indices)
            self.action.make_servos(self.model, layout.actuator_indices[servo], servo)
        self._targets = np.zeros(len(layout))
        self._physical_targets = self.action.kind != "torque" or self.action.gravity_compensation
        # Feedforward torque -> ctrl: 1 / (gain * gear) for servo joints (0 where there is no gain).
        self._feedforward = None
        if self.action.gravity_compensation:
            acts = layout.actuator_indices
            gain = (
                np.where(
                    self.model.actuator_gaintype[acts] == mujoco.mjtGain.mjGAIN_FIXED,
                    self.model.actuator_gainprm[acts, 0],
                    0.0,
                )
                * self.model.actuator_gear[acts, 0]
            )
            inverse = np.divide(1.0, gain, out=np.zeros(len(layout)), where=gain > 0)
            inverse[[i for i, n in enumerate(layout.names) if n in bank_joints]] = 0.0
            self._feedforward = inverse
        self.data = mujoco.MjData(self.model)
        # A live view of the bad-acceleration warning counter: reading ``.number`` off it costs ~0.07 µs,
        # looking it up through ``data.warning[...]`` every step ~1 µs (3% of a cart-pole step).
        self._badqacc = self.data.warning[mujoco.mjtWarning.mjWARN_BADQACC]
        self._ctrl = self.data.ctrl  # a live view, looked up once (the property costs ~1 µs per step)
        self.layout = robot.layout
        self.substeps = robot.config.substeps
        self._qpos_idx = self.layout.qpos_indices
        self._qvel_idx = self.layout.qvel_indices
        self._act_idx = self.layout.actuator_indices
        # When the actuators are exactly 0..n-1 in layout order (always, for load_robot), assign the
        # whole ctrl vector instead of fancy indexing.
        self._ctrl_contiguous = np.array_equal(self._act_idx, np.arange(self.model.nu))
        self.n_joints = len(self.layout)
        self.base: FloatingBase | None = None
        if robot.base == "floating":
            self.base = FloatingBase(self.model, robot.base_body)

    @property
    def time(self) -> float:
        return float(self.data.time)

    def reset(
        self,
        qpos: np.ndarray | None = None,
        qvel: np.ndarray | None = None,
        base_pose: np.ndarray | None = None,
    ) -> None:
        """Reset to the model's default state, then set layout-ordered joint positions/velocities.

        Joints start at the robot's home pose when ``qpos`` is omitted; a floating base starts at
        ``Robot.base_position`` unless ``base_pose`` (x, y, z and optionally a w, x, y, z quaternion)
        says otherwise. Servo targets start at the start pose, so a position-controlled robot holds it
        until the first action.
        """
        mujoco.mj_resetData(self.model, self.data)
        if qpos is None and self.robot.home is not None:
            qpos = self.robot.home
        if base_pose is not None:
            if self.base is None:
                raise SimulationError("base_pose given for a fixed-base robot; load it with base='floating'")
            pose = np.asarray(base_pose, dtype=np.float64)
            self.data.qpos[self.base.qpos_address : self.base.qpos_address + len(pose)] = pose
        if qpos is not None:
            self.data.qpos[self._qpos_idx] = qpos
        if qvel is not None:
            self.data.qvel[self._qvel_idx] = qvel
        if self.actuators is not None:
            self.actuators.reset(self.data)
        if self.action.kind == "position":  # hold the start pose until the first action
            self.data.ctrl[self._servo_actuators] = self.data.qpos[self._servo_qpos]
            if self.actuators is not None:
                self.actuators.hold_position(self.data)
        mujoco.mj_forward(self.model, self.data)

    def step(self, command: np.ndarray) -> None:
        """Hold ``command`` (one value per joint) for one control step.

        With torque actions (the default) the command is normalized: values outside [-1, 1] are clamped
        by MuJoCo's ``ctrlrange``, as a motor driver saturates. Position/velocity actions become targets
        (``self.action.targets``) tracked by servos every substep. Joints with an actuator pipeline
        interpret their entry through their controller and are stepped substep by substep.
        """
        if self._physical_targets:
            command = self.action.targets(command, out=self._targets)
            if self._feedforward is not None:
                command += self.data.qfrc_bias[self._qvel_idx] * self._feedforward
        if self.actuators is not None:
            self.actuators.step(self.data, command, self.substeps, targets=self.action.kind != "torque")
            self._check_stable()
        else:
            self.hold(command)

    @property
    def holds_ctrl(self) -> bool:
        """Whether a control step is ``ctrl = action.targets(command)`` held by MuJoCo alone (no actuator
        pipeline, no feedforward): then a caller stepping many simulations may convert all their commands
        in one array operation (``action.targets`` works row-wise on ``[N, n]``) and call :meth:`hold`."""
        return self.actuators is None and self._feedforward is None

    def hold(self, ctrl: np.ndarray) -> None:
        """One control step with ``ctrl`` (what :meth:`step` computes from the command) held by MuJoCo.

        Only for simulations whose :attr:`holds_ctrl` is true (:meth:`step` is the general path).
        """
        if self._ctrl_contiguous:
            self._ctrl[...] = ctrl
        else:
            self._ctrl[self._act_idx] = ctrl
        mujoco.mj_step(self.model, self.data, self.substeps)
        if self._badqacc.number:
            self._check_stable()

    def _check_stable(self) -> None:
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
