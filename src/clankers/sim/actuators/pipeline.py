"""The actuator pipeline: controller -> motor -> transmission -> friction -> joint torque.

:class:`JointActuator` evaluates the chain for one joint with plain Python floats (robots have a handful
of joints, and per-substep numpy calls on arrays of 1-12 entries cost more than the arithmetic);
:class:`ActuatorPipeline` groups them with an array-in, array-out interface and knows nothing about
MuJoCo, so each stage can be tested against its equation. :class:`ActuatorBank` binds a pipeline to a
MuJoCo model and runs it once per physics substep.

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
   contact: the input side takes the joint's velocity). The rotor's reflected inertia ``J_m N^2`` is
   added to the joint as MuJoCo armature (exact while engaged; inside the gap the joint carries it too,
   a small error as the gap is crossed in milliseconds).
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
_TORQUE, _VELOCITY, _POSITION = 0, 1, 2
_IDEAL, _DC, _FULL = 0, 1, 2


def _clip(x: float, low: float, high: float) -> float:
    return low if x < low else (high if x > high else x)


def _decay(dt: float, time_constant: float) -> float:
    return math.exp(-dt / time_constant) if time_constant > 0 else 0.0


def command_mapping(config: ActuatorConfig, effort: float, lower: float, upper: float) -> tuple[float, float]:
    """``(scale, offset)`` turning a normalized command ``u`` into the controller's target ``offset + u scale``."""
    control = config.control
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
    limited = math.isfinite(lower) and math.isfinite(upper)
    scale = control.scale or ((upper - lower) / 2 if limited else math.pi)
    offset = control.offset if control.offset is not None else ((upper + lower) / 2 if limited else 0.0)
    return scale, offset


class JointActuator:
    """One joint's controller, motor, gearbox and friction, with their state (see the module docstring).

    Args:
        config: the actuator.
        effort: the joint's URDF effort (fills in an ideal motor without ``max_torque``).
        lower, upper: the joint's position limits (``±inf`` when unlimited), for position commands.
        dt: the physics substep (s).

    ``kp``, ``kd`` and ``strength`` (a factor on the output torque) may be changed between episodes,
    e.g. by domain randomization; ``nominal_kp``/``nominal_kd`` keep the configured gains.
    """

    def __init__(self, config: ActuatorConfig, effort: float, lower: float, upper: float, dt: float) -> None:
        if dt <= 0:
            raise ConfigError(f"dt must be > 0, got {dt}")
        self.config, self.dt = config, float(dt)
        control, motor, gearbox, friction = config.control, config.motor, config.transmission, config.friction
        self.scale, self.offset = command_mapping(config, effort, lower, upper)

        self.mode = (
            _TORQUE
            if isinstance(control, TorqueControl)
            else _VELOCITY
            if isinstance(control, VelocityControl)
            else _POSITION
        )
        self.kp = self.nominal_kp = float(getattr(control, "kp", 0.0))
        self.kd = self.nominal_kd = float(getattr(control, "kd", 0.0))
        self.ki = float(getattr(control, "ki", 0.0))
        self.output_limit = float(getattr(control, "output_limit", math.inf))
        self.integral_max = math.inf
        if isinstance(control, PositionControl) and control.ki > 0:
            self.integral_max = control.integral_limit / control.ki

        self.peak = config.peak_motor_torque(effort)
        if isinstance(motor, IdealMotor):
            self.motor_kind, self.speed_limit, self.decay = _IDEAL, motor.max_velocity, 0.0
        elif isinstance(motor, DCMotor):
            self.motor_kind, self.speed_limit = _DC, motor.no_load_speed
            self.decay = _decay(self.dt, motor.time_constant)
        else:
            assert isinstance(motor, FullDCMotor)
            self.motor_kind, self.speed_limit = _FULL, motor.no_load_speed
            self.resistance, self.k = motor.resistance, motor.back_emf
            self.voltage_limit, self.current_limit = motor.voltage_limit, motor.current_limit
            self.decay = _decay(self.dt, motor.inductance / motor.resistance)

        self.ratio = gearbox.gear_ratio
        self.gain = gearbox.gear_ratio * gearbox.efficiency  # joint torque per motor torque
        self.rotor_inertia = gearbox.motor_inertia * gearbox.gear_ratio**2  # seen at the joint
        self.half_gap = gearbox.backlash / 2

        self.viscous, self.coulomb, self.breakaway = friction.viscous, friction.coulomb, friction.breakaway
        self.stiction_velocity = friction.stiction_velocity
        self.stribeck = self.breakaway > self.coulomb
        self.strength = 1.0
        self.target = 0.0
        self.reset(0.0, 0.0)

    def reset(self, q: float, v: float) -> None:
        """Forget controller, motor and gearbox state (the start of an episode).

        The gearbox input starts centred in its backlash gap, moving with the joint.
        """
        self.integral = 0.0
        self.v_prev = float(v)
        self.motor_state = 0.0  # DC: delivered torque; full DC: winding current
        self.lead, self.omega = 0.0, float(v)  # backlash: input angle minus joint angle, input speed
        self.motor_torque = self.torque = 0.0

    def set_command(self, u: float) -> float:
        """Hold the normalized command ``u`` (clipped to [-1, 1]); returns the controller's target."""
        self.target = self.offset + self.scale * _clip(u, -1.0, 1.0)
        return self.target

    # --- the stages ----------------------------------------------------------------------------------

    def controller(self, q: float, v: float) -> float:
        """Demanded joint torque (advances the integral and the velocity memory)."""
        if self.mode == _TORQUE:
            tau = self.target
        elif self.mode == _VELOCITY:
            tau = self.kp * (self.target - v) - self.kd * (v - self.v_prev) / self.dt
        else:
            error = self.target - q
            self.integral = _clip(self.integral + error * self.dt, -self.integral_max, self.integral_max)
            raw = self.kp * error + self.ki * self.integral - self.kd * v
            tau = _clip(raw, -self.output_limit, self.output_limit)
        self.v_prev = v
        return tau

    def motor(self, demand: float, speed: float) -> float:
        """Motor-side torque for the motor-side ``demand`` at motor ``speed`` (advances the motor state)."""
        peak = self.peak
        if self.motor_kind == _IDEAL:
            limit = peak
            if demand * speed > 0:
                limit = peak * max(0.0, 1.0 - abs(speed) / self.speed_limit)
            return _clip(demand, -limit, limit)
        if self.motor_kind == _DC:
            ratio = speed / self.speed_limit
            high = _clip(peak * (1.0 - ratio), -peak, peak)
            low = _clip(-peak * (1.0 + ratio), -peak, peak)
            target = _clip(demand, low, high)
            self.motor_state = target + (self.motor_state - target) * self.decay
            return self.motor_state
        k, r = self.k, self.resistance
        voltage = _clip(r * demand / k + k * speed, -self.voltage_limit, self.voltage_limit)
        steady = (voltage - k * speed) / r
        current = steady + (self.motor_state - steady) * self.decay
        self.motor_state = _clip(current, -self.current_limit, self.current_limit)
        return k * self.motor_state

    def transmission(self, motor_torque: float, v: float) -> float:
        """Joint-side torque after the gearbox (advances the backlash state)."""
        out = self.gain * motor_torque
        half = self.half_gap
        if half == 0.0:
            return out
        engaged = (self.lead >= half - _EPS and out > 0) or (self.lead <= -half + _EPS and out < 0)
        if engaged:
            self.lead = half if out > 0 else -half
            self.omega = v
            return out
        self.omega += out / self.rotor_inertia * self.dt
        lead = self.lead + (self.omega - v) * self.dt
        if abs(lead) > half:  # hit a wall of the gap: inelastic contact
            lead = half if lead > 0 else -half
            self.omega = v
        self.lead = lead
        return 0.0

    def input_speed(self, v: float) -> float:
        """Gearbox input speed in joint units: the joint's, or the free input side's inside the gap."""
        return self.omega if self.half_gap > 0.0 else v

    def step(self, q: float, v: float) -> float:
        """One substep of the whole chain: the torque to apply to the joint (before dry friction)."""
        demand = self.controller(q, v) / self.gain
        self.motor_torque = self.motor(demand, self.ratio * self.input_speed(v))
        self.torque = self.transmission(self.motor_torque, v) * self.strength - self.viscous * v
        return self.torque

    def dry_friction(self, v: float) -> float:
        """Friction-loss level at velocity ``v``: the Stribeck curve between breakaway and Coulomb."""
        if not self.stribeck:
            return self.breakaway
        x = v / self.stiction_velocity
        return self.coulomb + (self.breakaway - self.coulomb) * math.exp(-x * x)


class ActuatorPipeline:
    """The actuators of several joints, with array-in, array-out stages (one entry per joint).

    Args:
        configs: one :class:`ActuatorConfig` per joint.
        effort_limits: URDF effort per joint.
        lower, upper: joint position limits (``±inf`` when unlimited).
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
        self.joints = [
            JointActuator(c, float(e), float(lo), float(hi), dt)
            for c, e, lo, hi in zip(configs, effort_limits, lower, upper, strict=True)
        ]
        self.n = len(self.joints)
        self.dt = float(dt)
        self.stribeck = any(j.stribeck for j in self.joints)

    def _each(self, name: str) -> np.ndarray:
        return np.array([getattr(j, name) for j in self.joints], dtype=np.float64)

    # Read-only views of per-joint values, for inspection and tests.
    kp = property(lambda self: self._each("kp"))
    kd = property(lambda self: self._each("kd"))
    ki = property(lambda self: self._each("ki"))
    integral = property(lambda self: self._each("integral"))
    strength = property(lambda self: self._each("strength"))
    breakaway = property(lambda self: self._each("breakaway"))
    rotor_inertia = property(lambda self: self._each("rotor_inertia"))
    motor_torque = property(lambda self: self._each("motor_torque"))
    torque = property(lambda self: self._each("torque"))

    def reset(self, q: np.ndarray, v: np.ndarray) -> None:
        for j, qi, vi in zip(self.joints, q, v, strict=True):
            j.reset(float(qi), float(vi))

    def set_command(self, command: np.ndarray) -> np.ndarray:
        """Hold normalized commands (clipped to [-1, 1]); returns the controller targets."""
        return np.array([j.set_command(float(u)) for j, u in zip(self.joints, command, strict=True)])

    def set_target(self, target: np.ndarray) -> None:
        """Hold controller targets in physical units (N m, rad/s or rad), bypassing the normalization."""
        for j, t in zip(self.joints, target, strict=True):
            j.target = float(t)

    def controller(self, q: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.array([j.controller(float(a), float(b)) for j, a, b in zip(self.joints, q, v, strict=True)])

    def motor(self, demand: np.ndarray, speed: np.ndarray) -> np.ndarray:
        return np.array(
            [j.motor(float(a), float(b)) for j, a, b in zip(self.joints, demand, speed, strict=True)]
        )

    def transmission(self, motor_torque: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.array(
            [j.transmission(float(a), float(b)) for j, a, b in zip(self.joints, motor_torque, v, strict=True)]
        )

    def compute(self, q: np.ndarray, v: np.ndarray) -> np.ndarray:
        """One substep of every joint's chain: the torques to apply (before dry friction)."""
        return np.array([j.step(float(a), float(b)) for j, a, b in zip(self.joints, q, v, strict=True)])

    def dry_friction(self, v: np.ndarray) -> np.ndarray:
        return np.array([j.dry_friction(float(b)) for j, b in zip(self.joints, v, strict=True)])


class ActuatorBank:
    """Runs an :class:`ActuatorPipeline` inside a MuJoCo model, one evaluation per physics substep.

    The driven joints' MuJoCo motors are switched to gear 1 with an unlimited control range (so ``ctrl`` is
    the joint torque and ``qfrc_actuator`` reports it), the URDF effort clamp on those joints is lifted
    (the actuator model sets the limits now), the rotor's reflected inertia is added as armature and
    their friction loss is managed here. The other joints keep the normalized motor. This **modifies the
    model**: give each bank its own copy.

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
        # The motor's rotor, seen through the gearbox, adds J_m N^2 of inertia to the joint. MuJoCo's
        # armature puts it in the mass matrix (integrated implicitly), which is also what keeps stiff
        # position loops on high-ratio joints stable.
        model.dof_armature[self.dofs] += self.pipeline.rotor_inertia
        model.dof_frictionloss[self.dofs] = self.pipeline.breakaway
        # MuJoCo's default soft constraint lets a joint creep ~5 mrad/s under a load just below breakaway;
        # a stiffer friction constraint (measured creep ~0.1 mrad/s) makes stiction hold as it should.
        dry = self.dofs[self.pipeline.breakaway > 0]
        model.dof_solref[dry] = [max(0.005, 2 * self.pipeline.dt), 1.0]
        model.dof_solimp[dry] = [0.99, 0.999, 0.001, 0.5, 2.0]
        # (actuator, qpos address, dof address, stribeck) per joint, as Python ints for the hot loop.
        self._wiring = [
            (j, int(a), int(qa), int(d))
            for j, a, qa, d in zip(self.pipeline.joints, self.actuators, self.qpos, self.dofs, strict=True)
        ]
        self._stribeck = [(j, int(d)) for j, _, _, d in self._wiring if j.stribeck]

    def reset(self, data: mujoco.MjData) -> None:
        self.pipeline.reset(data.qpos[self.qpos], data.qvel[self.dofs])
        data.ctrl[self.actuators] = 0.0

    def hold_position(self, data: mujoco.MjData) -> None:
        """Set every controller's target to its joint's current position (position actions at reset)."""
        for joint, _, qpos_address, _ in self._wiring:
            joint.target = data.qpos.item(qpos_address)

    def step(self, data: mujoco.MjData, command: np.ndarray, substeps: int, targets: bool = False) -> None:
        """Hold ``command`` (layout order) for ``substeps`` physics steps.

        ``command`` is normalized, or with ``targets=True`` already in physical units (the position or
        velocity targets of :mod:`clankers.sim.actions`), handed to each controller as it is.
        """
        model = self.model
        if len(self.fast_actuators):
            data.ctrl[self.fast_actuators] = command[self.fast_positions]
        for (joint, *_), u in zip(self._wiring, command[self.positions].tolist(), strict=True):
            if targets:
                joint.target = u
            else:
                joint.set_command(u)
        qpos, qvel, ctrl = data.qpos, data.qvel, data.ctrl
        frictionloss = model.dof_frictionloss
        wiring, stribeck = self._wiring, self._stribeck
        for _ in range(substeps):
            for joint, actuator, qa, dof in wiring:
                ctrl[actuator] = joint.step(qpos.item(qa), qvel.item(dof))
            for joint, dof in stribeck:
                frictionloss[dof] = joint.dry_friction(qvel.item(dof))
            mujoco.mj_step(model, data)
