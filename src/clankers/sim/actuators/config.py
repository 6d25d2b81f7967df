"""Actuator configuration: validated, declarative descriptions of motor, controller, gearbox and friction.

Every model here is a frozen pydantic model, so an actuator can be written in code
(``ActuatorConfig(motor=DCMotor(...), ...)``) or as plain data in a task file
(``{"preset": "hobby_servo", "control": {"kp": 8.0}}``) and both are checked the same way: a bad value
raises :class:`~clankers.errors.ConfigError` naming the field and the allowed range. The equations each
parameter enters are documented on :mod:`clankers.sim.actuators.pipeline` and in ``docs/simulation.md``.

Units: SI throughout. "Motor side" quantities (motor torque, motor speed) are before the gearbox; "joint
side" quantities are after it. Revolute joints use N m and rad/s; for prismatic joints read N and m/s.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from clankers.sim.model import ConfigModel

# --- motors -------------------------------------------------------------------------------------------


class IdealMotor(ConfigModel):
    """A torque source with a linear torque-speed limit.

    ``max_torque`` (motor side, N m) is available at standstill and falls linearly to zero at
    ``max_velocity`` (motor side, rad/s) while the motor drives in the direction it turns; braking
    (torque against the motion) always gets the full ``max_torque``. ``max_torque=None`` takes the URDF
    effort limit divided by the gearbox's ratio and efficiency, so the joint's peak torque equals the URDF's.
    """

    kind: Literal["ideal"] = "ideal"
    max_torque: float | None = Field(default=None, ge=0.0)
    max_velocity: float = Field(default=math.inf, gt=0.0)


class DCMotor(ConfigModel):
    """A brushed DC motor described by its datasheet corners and electrical time constant.

    At full voltage the available torque is ``stall_torque * (1 - w / no_load_speed)`` (driving) and
    ``-stall_torque * (1 + w / no_load_speed)`` (reverse), both clipped to ``±stall_torque`` (the current
    limit). The delivered torque follows the demanded one with a first-order lag of ``time_constant``
    seconds (L/R of the winding; 0 = instantaneous).
    """

    kind: Literal["dc"] = "dc"
    stall_torque: float = Field(gt=0.0)
    no_load_speed: float = Field(gt=0.0)
    time_constant: float = Field(default=0.0, ge=0.0)


class FullDCMotor(ConfigModel):
    """A DC motor from its electrical parameters: ``V = R i + L di/dt + k_e w``, torque ``k_e i``.

    ``back_emf`` is the back-EMF constant k_e in V s/rad, which in SI units equals the torque constant
    k_t in N m/A. The drive applies at most ``±voltage_limit`` and the current is clamped to
    ``±current_limit``. Stall torque is ``k_e * min(voltage_limit / resistance, current_limit)``, no-load
    speed ``voltage_limit / back_emf``.
    """

    kind: Literal["dc_full"] = "dc_full"
    resistance: float = Field(gt=0.0)
    inductance: float = Field(default=0.0, ge=0.0)
    back_emf: float = Field(gt=0.0)
    voltage_limit: float = Field(gt=0.0)
    current_limit: float = Field(default=math.inf, gt=0.0)

    @property
    def stall_torque(self) -> float:
        return self.back_emf * min(self.voltage_limit / self.resistance, self.current_limit)

    @property
    def no_load_speed(self) -> float:
        return self.voltage_limit / self.back_emf


Motor = Annotated[IdealMotor | DCMotor | FullDCMotor, Field(discriminator="kind")]


# --- controllers --------------------------------------------------------------------------------------


class TorqueControl(ConfigModel):
    """The command is a joint torque: ``tau_d = u * scale``.

    ``scale=None`` uses the actuator's peak joint torque, so a normalized command of 1 asks for everything
    the motor and gearbox can give.
    """

    mode: Literal["torque"] = "torque"
    scale: float | None = Field(default=None, gt=0.0)


class VelocityControl(ConfigModel):
    """The command is a joint velocity ``v* = u * max_velocity``, tracked by
    ``tau_d = kp (v* - v) - kd dv/dt`` (the derivative acts on the measured velocity, so a new target
    causes no torque spike). ``max_velocity=None`` uses the joint-side no-load speed of the motor."""

    mode: Literal["velocity"] = "velocity"
    kp: float = Field(ge=0.0)
    kd: float = Field(default=0.0, ge=0.0)
    max_velocity: float | None = Field(default=None, gt=0.0)


class PositionControl(ConfigModel):
    """The command is a joint position, tracked by a PID controller.

    ``q* = offset + u * scale`` where ``scale=None`` maps [-1, 1] onto the joint's limits (``offset`` is
    then their midpoint) and, for unlimited joints, onto [-pi, pi]. Then::

        e = q* - q
        I <- clip(I + e dt, -integral_limit / ki, integral_limit / ki)
        tau_d = clip(kp e + ki I - kd v, -output_limit, output_limit)

    The derivative acts on the measured velocity (equal to ``kd de/dt`` while the target is held).
    ``integral_limit`` bounds the integral *term* in N m (anti-windup).
    """

    mode: Literal["position"] = "position"
    kp: float = Field(ge=0.0)
    ki: float = Field(default=0.0, ge=0.0)
    kd: float = Field(default=0.0, ge=0.0)
    output_limit: float = Field(default=math.inf, gt=0.0)
    integral_limit: float = Field(default=math.inf, ge=0.0)
    scale: float | None = Field(default=None, gt=0.0)
    offset: float | None = None


Control = Annotated[TorqueControl | VelocityControl | PositionControl, Field(discriminator="mode")]


# --- transmission and friction ----------------------------------------------------------------------


class Transmission(ConfigModel):
    """A gearbox between motor and joint.

    ``gear_ratio`` N: motor turns per joint turn (joint torque = N * efficiency * motor torque, motor
    speed = N * joint speed). ``efficiency`` in (0, 1] applies to the transmitted torque in both
    directions. ``backlash`` is the total dead band in joint-side radians: inside it the motor side
    (inertia ``motor_inertia``, kg m^2 on the motor shaft, reflected to the joint as ``J N^2``) moves freely
    and no torque reaches the joint. The reflected rotor inertia ``J N^2`` is added to the joint's inertia
    (MuJoCo armature): on a 100:1 gearbox a 5e-5 kg m^2 rotor weighs 0.5 kg m^2 at the joint.
    """

    gear_ratio: float = Field(default=1.0, gt=0.0)
    efficiency: float = Field(default=1.0, gt=0.0, le=1.0)
    backlash: float = Field(default=0.0, ge=0.0, le=1.0)
    motor_inertia: float = Field(default=1e-5, gt=0.0)


class Friction(ConfigModel):
    """Joint friction: ``coulomb`` (N m), ``viscous`` (N m s/rad) and ``stiction`` (breakaway, N m).

    Dry friction (Coulomb and stiction) is a MuJoCo friction-loss constraint, so it holds a joint still
    against *any* load below the breakaway torque (gravity included) instead of chattering around zero
    velocity. Its level follows a Stribeck curve: ``coulomb + (stiction - coulomb) exp(-(v / stiction_velocity)^2)``.
    Viscous friction ``-viscous * v`` is added to the actuator torque. ``stiction=None`` means no
    breakaway peak (stiction equals Coulomb).
    """

    coulomb: float = Field(default=0.0, ge=0.0)
    viscous: float = Field(default=0.0, ge=0.0)
    stiction: float | None = Field(default=None, ge=0.0)
    stiction_velocity: float = Field(default=0.01, gt=0.0)

    @model_validator(mode="after")
    def _stiction_at_least_coulomb(self) -> Friction:
        if self.stiction is not None and self.stiction < self.coulomb:
            raise ValueError(
                f"stiction ({self.stiction}) must be >= coulomb ({self.coulomb}): the breakaway torque is "
                "the peak of the friction curve; set stiction=None for pure Coulomb friction"
            )
        return self

    @property
    def breakaway(self) -> float:
        return self.coulomb if self.stiction is None else self.stiction


# --- the whole actuator -------------------------------------------------------------------------------


class ActuatorConfig(ConfigModel):
    """One joint's actuator: controller -> motor -> transmission -> friction.

    The defaults (ideal motor at the URDF effort, torque control, direct drive, no friction) reproduce the
    plain normalized motor of :func:`~clankers.sim.robot.load_robot`; such joints stay on the fast path.
    """

    motor: Motor = Field(default_factory=IdealMotor)
    control: Control = Field(default_factory=TorqueControl)
    transmission: Transmission = Field(default_factory=Transmission)
    friction: Friction = Field(default_factory=Friction)

    def peak_motor_torque(self, effort_limit: float) -> float:
        """Motor-side torque at standstill (N m); the URDF effort fills in an ideal motor's ``None``."""
        motor = self.motor
        if isinstance(motor, IdealMotor):
            if motor.max_torque is not None:
                return motor.max_torque
            return effort_limit / (self.transmission.gear_ratio * self.transmission.efficiency)
        return motor.stall_torque

    def peak_joint_torque(self, effort_limit: float) -> float:
        """Joint-side torque at standstill: ``N * efficiency * peak motor torque``."""
        t = self.transmission
        return t.gear_ratio * t.efficiency * self.peak_motor_torque(effort_limit)

    def joint_speed_limit(self) -> float:
        """Joint-side speed at which the motor's torque reaches zero (inf for an unlimited ideal motor)."""
        motor = self.motor
        speed = motor.max_velocity if isinstance(motor, IdealMotor) else motor.no_load_speed
        return speed / self.transmission.gear_ratio

    def is_passthrough(self, effort_limit: float) -> bool:
        """True when this actuator behaves exactly like the default normalized motor (fast path)."""
        return (
            isinstance(self.motor, IdealMotor)
            and math.isinf(self.motor.max_velocity)
            and isinstance(self.control, TorqueControl)
            and math.isclose(self.peak_joint_torque(effort_limit), effort_limit)
            and self.control.scale in (None, effort_limit)
            and self.transmission.backlash == 0.0
            and self.friction == Friction()
        )
