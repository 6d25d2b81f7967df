"""The actuator pipeline: controller -> motor -> transmission -> friction -> joint torque.

:class:`ActuatorPipeline` evaluates the chain for all the joints it drives at once (numpy arrays, one
entry per joint) and knows nothing about MuJoCo, so each stage can be tested against its equation.
:class:`ActuatorBank` binds a pipeline to a MuJoCo model and runs it once per physics substep.

Per substep of length ``dt``, for joint position ``q`` and velocity ``v`` (joint side) and the held
normalized command ``u`` in [-1, 1]:

1. **Controller** -> demanded joint torque ``tau_d``:
   torque ``tau_d = u s``; velocity ``tau_d = kp (v* - v) - kd (v - v_prev) / dt``;
   position ``e = q* - q``, ``I <- clip(I + e dt, ±I_max)``, ``tau_d = clip(kp e + ki I - kd v, ±out_max)``.
2. **Motor** (motor side, speed ``w = N w_s`` where ``w_s`` is the gearbox input speed in joint units,
   equal to ``v`` unless backlash is open) turns the demand ``tau_md = tau_d / (N eta)`` into a torque:

   - ideal: ``tau_m = clip(tau_md, ±L)`` with ``L = T (1 - |w| / w_max)^+`` when ``tau_md w > 0`` (driving)
     and ``L = T`` when braking;
   - DC: target ``clip(tau_md, -T_s (1 + w / w_0), T_s (1 - w / w_0))`` clipped to ``±T_s``, reached through
     the exact discretization of a first-order lag ``tau_m <- target + (tau_m - target) exp(-dt / tau_e)``;
   - full DC: the drive asks for ``V = clip(R tau_md / k + k w, ±V_max)`` (the voltage whose steady
     state gives the demanded torque), the winding current obeys ``L di/dt = V - R i - k w`` (solved
     exactly over ``dt`` for constant ``V`` and ``w``), ``i`` is clipped to ``±I_max`` and ``tau_m = k i``.
3. **Transmission**: ``tau_out = N eta tau_m``. With backlash ``b`` the lead ``d = theta - q`` of the
   gearbox input angle ``theta`` (joint units) over the joint is a state in ``[-b/2, b/2]``: when it is
   ``±b/2`` in the direction of the torque the gears are engaged (``d`` stays there, ``tau_out`` reaches
   the joint); otherwise the input side moves freely (``dw_s/dt = tau_out / (J_m N^2)``,
   ``dd/dt = w_s - v``) and the joint receives nothing until a wall of the gap is hit (an inelastic
   contact: the input side takes the joint's velocity).
4. **Friction**: ``tau = tau_out - c_v v`` goes to the joint. The dry part is MuJoCo's friction-loss
   constraint with level ``c_c + (c_s - c_c) exp(-(v / v_s)^2)`` (Stribeck), set every substep.

The joint-torque sensor reads ``tau`` (MuJoCo's ``qfrc_actuator`` at the joint; the motor has gear 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import mujoco
import numpy as np

from clankers.errors import ConfigError
from clankers.sim.actuators.config import (
    ActuatorConfig,
    DCMotor,
    FullDCMotor,
    IdealMotor,
    PositionControl,
    TorqueControl,
    VelocityControl,
)
from clankers.sim.robot import JointLayout

_EPS = 1e-12


def _array(values: Sequence[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


class ActuatorPipeline:
    """Vectorized actuator dynamics for ``n`` joints (see the module docstring for the equations).

    Args:
        configs: one :class:`ActuatorConfig` per joint.
        effort_limits: URDF effort per joint (fills in ideal motors without ``max_torque``).
        lower, upper: joint position limits (``±inf`` when unlimited), for position-command scaling.
        dt: the physics substep in seconds.
    """

    def __init__(
        self,
        configs: Sequence[ActuatorConfig],
        effort_limits: Sequence[float],
        lower: Sequence[float],
        upper: Sequence[float],
        dt: float,
    ) -> None:
        if dt <= 0:
            raise ConfigError(f"dt must be > 0, got {dt}")
        self.configs = tuple(configs)
        self.n = n = len(self.configs)
        self.dt = float(dt)
        efforts = _array(effort_limits)
        lower, upper = _array(lower), _array(upper)

        ctl = [c.control for c in self.configs]
        self.is_torque = np.array([isinstance(c, TorqueControl) for c in ctl])
        self.is_velocity = np.array([isinstance(c, VelocityControl) for c in ctl])
        self.is_position = np.array([isinstance(c, PositionControl) for c in ctl])
        self.kp = _array([getattr(c, "kp", 0.0) for c in ctl])
        self.kd = _array([getattr(c, "kd", 0.0) for c in ctl])
        self.ki = _array([getattr(c, "ki", 0.0) for c in ctl])
        self.output_limit = _array([getattr(c, "output_limit", math.inf) for c in ctl])
        self.integral_max = np.full(n, math.inf)
        self.command_scale = np.zeros(n)
        self.command_offset = np.zeros(n)
        for i, (config, control) in enumerate(zip(self.configs, ctl, strict=True)):
            self.command_scale[i], self.command_offset[i] = self._command_mapping(
                config, control, efforts[i], lower[i], upper[i]
            )
            if isinstance(control, PositionControl) and control.ki > 0:
                self.integral_max[i] = control.integral_limit / control.ki
        self.nominal_kp, self.nominal_kd = self.kp.copy(), self.kd.copy()

        motors = [c.motor for c in self.configs]
        self.ideal = np.flatnonzero([isinstance(m, IdealMotor) for m in motors])
        self.dc = np.flatnonzero([isinstance(m, DCMotor) for m in motors])
        self.full = np.flatnonzero([isinstance(m, FullDCMotor) for m in motors])
        self.ideal_torque = _array([self.configs[i].peak_motor_torque(efforts[i]) for i in self.ideal])
        self.ideal_speed = _array([motors[i].max_velocity for i in self.ideal])  # type: ignore[union-attr]
        self.dc_stall = _array([motors[i].stall_torque for i in self.dc])  # type: ignore[union-attr]
        self.dc_speed = _array([motors[i].no_load_speed for i in self.dc])  # type: ignore[union-attr]
        self.dc_decay = _array([self._decay(motors[i].time_constant) for i in self.dc])  # type: ignore[union-attr]
        full = [motors[i] for i in self.full]
        self.r = _array([m.resistance for m in full])  # type: ignore[union-attr]
        self.k = _array([m.back_emf for m in full])  # type: ignore[union-attr]
        self.v_max = _array([m.voltage_limit for m in full])  # type: ignore[union-attr]
        self.i_max = _array([m.current_limit for m in full])  # type: ignore[union-attr]
        self.i_decay = _array([self._decay(m.inductance / m.resistance) for m in full])  # type: ignore[union-attr]

        t = [c.transmission for c in self.configs]
        self.ratio = _array([x.gear_ratio for x in t])
        self.efficiency = _array([x.efficiency for x in t])
        self.gain = self.ratio * self.efficiency  # joint torque per motor torque
        self.backlash = np.flatnonzero([x.backlash > 0 for x in t])
        self.half_gap = _array([t[i].backlash / 2 for i in self.backlash])
        self.reflected_inertia = _array([t[i].motor_inertia * t[i].gear_ratio ** 2 for i in self.backlash])

        f = [c.friction for c in self.configs]
        self.viscous = _array([x.viscous for x in f])
        self.coulomb = _array([x.coulomb for x in f])
        self.breakaway = _array([x.breakaway for x in f])
        self.stiction_velocity = _array([x.stiction_velocity for x in f])
        self.stribeck = bool(np.any(self.breakaway > self.coulomb))
        self.strength = np.ones(n)  # randomization: scales the joint torque

        self.target = np.zeros(n)
        self.reset(np.zeros(n), np.zeros(n))

    def _decay(self, time_constant: float) -> float:
        return math.exp(-self.dt / time_constant) if time_constant > 0 else 0.0

    @staticmethod
    def _command_mapping(
        config: ActuatorConfig, control: object, effort: float, lower: float, upper: float
    ) -> tuple[float, float]:
        """(scale, offset) turning a normalized command into the controller's target."""
        if isinstance(control, TorqueControl):
            return (control.scale or config.peak_joint_torque(effort)), 0.0
        if isinstance(control, VelocityControl):
            speed = control.max_velocity or config.joint_speed_limit()
            if not math.isfinite(speed):
                raise ConfigError(
                    "velocity control needs a finite max_velocity: set control.max_velocity "
                    "(rad/s) or give the motor a finite speed limit"
                )
            return speed, 0.0
        assert isinstance(control, PositionControl)
        limited = math.isfinite(lower) and math.isfinite(upper)
        scale = control.scale or ((upper - lower) / 2 if limited else math.pi)
        offset = control.offset if control.offset is not None else ((upper + lower) / 2 if limited else 0.0)
        return scale, offset

    # --- state ---------------------------------------------------------------------------------------

    def reset(self, q: np.ndarray, v: np.ndarray) -> None:
        """Forget controller, motor and gearbox state (start of an episode); the gears start engaged."""
        self.integral = np.zeros(self.n)
        self.v_prev = np.array(v, dtype=np.float64)
        self.dc_torque = np.zeros(len(self.dc))
        self.current = np.zeros(len(self.full))
        self.lead = np.zeros(len(self.backlash))  # gearbox input angle minus joint angle
        self.omega = np.array(v, dtype=np.float64)[self.backlash]
        self.motor_torque = np.zeros(self.n)
        self.torque = np.zeros(self.n)

    def set_command(self, command: np.ndarray) -> np.ndarray:
        """Hold the normalized ``command`` (clipped to [-1, 1]); returns the controller targets."""
        self.target = self.command_offset + self.command_scale * np.clip(command, -1.0, 1.0)
        return self.target

    def set_target(self, target: np.ndarray) -> None:
        """Hold controller targets in physical units (N m, rad/s or rad), bypassing the normalization."""
        self.target = np.array(target, dtype=np.float64)

    # --- the chain -----------------------------------------------------------------------------------

    def controller(self, q: np.ndarray, v: np.ndarray) -> np.ndarray:
        tau = np.where(self.is_torque, self.target, 0.0)
        if self.is_velocity.any():
            m = self.is_velocity
            accel = (v[m] - self.v_prev[m]) / self.dt
            tau[m] = self.kp[m] * (self.target[m] - v[m]) - self.kd[m] * accel
        if self.is_position.any():
            m = self.is_position
            error = self.target[m] - q[m]
            imax = self.integral_max[m]
            self.integral[m] = np.clip(self.integral[m] + error * self.dt, -imax, imax)
            raw = self.kp[m] * error + self.ki[m] * self.integral[m] - self.kd[m] * v[m]
            tau[m] = np.clip(raw, -self.output_limit[m], self.output_limit[m])
        self.v_prev = np.array(v, dtype=np.float64)
        return tau

    def motor(self, demand: np.ndarray, speed: np.ndarray) -> np.ndarray:
        """Motor-side torque for motor-side ``demand`` at motor speed ``speed`` (advances motor state)."""
        out = np.empty(self.n)
        if len(self.ideal):
            d, w = demand[self.ideal], speed[self.ideal]
            peak = self.ideal_torque
            derate = peak * np.maximum(0.0, 1.0 - np.abs(w) / self.ideal_speed)
            limit = np.where(d * w > 0, derate, peak)
            out[self.ideal] = np.clip(d, -limit, limit)
        if len(self.dc):
            d, w, stall = demand[self.dc], speed[self.dc], self.dc_stall
            high = np.clip(stall * (1.0 - w / self.dc_speed), -stall, stall)
            low = np.clip(-stall * (1.0 + w / self.dc_speed), -stall, stall)
            target = np.clip(d, low, high)
            self.dc_torque = target + (self.dc_torque - target) * self.dc_decay
            out[self.dc] = self.dc_torque
        if len(self.full):
            d, w = demand[self.full], speed[self.full]
            voltage = np.clip(self.r * d / self.k + self.k * w, -self.v_max, self.v_max)
            steady = (voltage - self.k * w) / self.r
            self.current = np.clip(steady + (self.current - steady) * self.i_decay, -self.i_max, self.i_max)
            out[self.full] = self.k * self.current
        return out

    def transmission(self, motor_torque: np.ndarray, q: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Joint torque after the gearbox (advances the backlash state)."""
        out = self.gain * motor_torque
        if len(self.backlash):
            b = self.backlash
            half, t = self.half_gap, out[b]
            engaged = ((self.lead >= half - _EPS) & (t > 0)) | ((self.lead <= -half + _EPS) & (t < 0))
            omega = self.omega + t / self.reflected_inertia * self.dt
            lead = self.lead + (omega - v[b]) * self.dt
            hit = np.abs(lead) > half
            self.lead = np.where(engaged, np.sign(t) * half, np.clip(lead, -half, half))
            self.omega = np.where(engaged | hit, v[b], omega)
            out[b] = np.where(engaged, t, 0.0)
        return out

    def input_speed(self, v: np.ndarray) -> np.ndarray:
        """Gearbox input speed in joint units: the joint's, or the free input side's inside the gap."""
        if not len(self.backlash):
            return v
        speed = np.array(v, dtype=np.float64)
        speed[self.backlash] = self.omega
        return speed

    def compute(self, q: np.ndarray, v: np.ndarray) -> np.ndarray:
        """One substep of the whole chain: the torque to apply to each joint (before dry friction)."""
        demand = self.controller(q, v) / self.gain
        self.motor_torque = self.motor(demand, self.ratio * self.input_speed(v))
        out = self.transmission(self.motor_torque, q, v) * self.strength
        self.torque = out - self.viscous * v
        return self.torque

    def dry_friction(self, v: np.ndarray) -> np.ndarray:
        """Friction-loss level (N m) at velocity ``v``: the Stribeck curve between breakaway and Coulomb."""
        return self.coulomb + (self.breakaway - self.coulomb) * np.exp(-((v / self.stiction_velocity) ** 2))


class ActuatorBank:
    """Runs an :class:`ActuatorPipeline` inside a MuJoCo model, one evaluation per physics substep.

    The driven joints' MuJoCo motors are switched to gear 1 with an unlimited control range (so ``ctrl`` is
    the joint torque and ``qfrc_actuator`` reports it), the URDF effort clamp on those joints is lifted
    (the actuator model sets the limits now) and their friction loss is managed here. The other joints keep
    the normalized motor. This **modifies the model**: give each bank its own copy.

    Args:
        model: the simulation's own MuJoCo model.
        layout: the robot's joint layout.
        configs: actuator per joint name (joints not listed keep the fast-path motor).
        dt: physics substep (``model.opt.timestep`` when omitted).
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        layout: JointLayout,
        configs: Mapping[str, ActuatorConfig],
        dt: float | None = None,
    ) -> None:
        unknown = sorted(set(configs) - set(layout.names))
        if unknown:
            raise ConfigError(
                f"actuators for unknown joints {unknown}; the robot's joints are {list(layout.names)}"
            )
        self.model = model
        self.layout = layout
        self.names = tuple(n for n in layout.names if n in configs)
        self.positions = np.array([layout.names.index(n) for n in self.names], dtype=np.intp)
        self.fast_positions = np.array(
            [i for i, n in enumerate(layout.names) if n not in configs], dtype=np.intp
        )
        joints = [layout[n] for n in self.names]
        self.qpos = np.array([j.qpos_index for j in joints], dtype=np.intp)
        self.dofs = np.array([j.qvel_index for j in joints], dtype=np.intp)
        self.actuators = np.array([j.actuator_index for j in joints], dtype=np.intp)
        self.fast_actuators = layout.actuator_indices[self.fast_positions]
        self.pipeline = ActuatorPipeline(
            [configs[n] for n in self.names],
            [j.effort_limit for j in joints],
            [j.lower for j in joints],
            [j.upper for j in joints],
            dt if dt is not None else float(model.opt.timestep),
        )
        for joint, actuator in zip(joints, self.actuators, strict=True):
            jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint.name)
            model.jnt_actfrclimited[jid] = 0
            model.actuator_gear[actuator, 0] = 1.0
            model.actuator_ctrllimited[actuator] = 0
        model.dof_frictionloss[self.dofs] = self.pipeline.breakaway
        # MuJoCo's default soft constraint lets a joint creep ~5 mrad/s under a load just below breakaway;
        # a stiffer friction constraint (measured creep ~0.1 mrad/s) makes stiction hold as it should.
        dry = self.dofs[self.pipeline.breakaway > 0]
        model.dof_solref[dry] = [max(0.005, 2 * self.pipeline.dt), 1.0]
        model.dof_solimp[dry] = [0.99, 0.999, 0.001, 0.5, 2.0]

    def reset(self, data: mujoco.MjData) -> None:
        self.pipeline.reset(data.qpos[self.qpos], data.qvel[self.dofs])
        data.ctrl[self.actuators] = 0.0

    def step(self, data: mujoco.MjData, command: np.ndarray, substeps: int) -> None:
        """Hold ``command`` (normalized, layout order) for ``substeps`` physics steps."""
        model, pipeline = self.model, self.pipeline
        data.ctrl[self.fast_actuators] = command[self.fast_positions]
        pipeline.set_command(command[self.positions])
        for _ in range(substeps):
            v = data.qvel[self.dofs]
            data.ctrl[self.actuators] = pipeline.compute(data.qpos[self.qpos], v)
            if pipeline.stribeck:
                model.dof_frictionloss[self.dofs] = pipeline.dry_friction(v)
            mujoco.mj_step(model, data)
