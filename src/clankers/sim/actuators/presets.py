"""Named actuator and gearbox presets, and per-joint resolution of actuator specs.

A *spec* is what a user writes for one joint: a preset name (``"hobby_servo"``), a dict (``{"preset":
"industrial_joint", "transmission": "cycloidal", "control": {"kp": 500}}``) or an
:class:`ActuatorConfig`. Dicts are merged over their preset field by field, so a task file only states
what differs. :func:`resolve_actuators` maps specs onto a robot's joints by exact name or glob pattern.

The numbers are typical datasheet values for each class of hardware, chosen so that each preset is
plausible on its own; controller gains depend on the load and are starting points, not tuned values.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from clankers.errors import ConfigError
from clankers.sim.actuators.config import (
    ActuatorConfig,
    DCMotor,
    Friction,
    FullDCMotor,
    IdealMotor,
    PositionControl,
    TorqueControl,
    Transmission,
)

#: Gearboxes. Harmonic drives: high ratio, no backlash, modest efficiency. Planetary: low ratio, efficient,
#: some backlash. Cycloidal: medium ratio, near-zero backlash, robust to shocks.
TRANSMISSION_PRESETS: dict[str, Transmission] = {
    "harmonic": Transmission(gear_ratio=100.0, efficiency=0.75, backlash=0.0, motor_inertia=5e-5),
    "planetary": Transmission(gear_ratio=10.0, efficiency=0.9, backlash=0.005, motor_inertia=5e-5),
    "cycloidal": Transmission(gear_ratio=50.0, efficiency=0.85, backlash=0.0005, motor_inertia=5e-5),
}

#: Whole actuators.
ACTUATOR_PRESETS: dict[str, ActuatorConfig] = {
    # Hobby servo (about 1 N m stall, 6 rad/s): small DC motor, 200:1 spur gears with play, position P-D.
    "hobby_servo": ActuatorConfig(
        motor=DCMotor(stall_torque=0.0077, no_load_speed=1240.0, time_constant=0.001),
        control=PositionControl(kp=5.0, kd=0.05),
        transmission=Transmission(gear_ratio=200.0, efficiency=0.65, backlash=0.01, motor_inertia=1e-7),
        friction=Friction(coulomb=0.02, viscous=0.01, stiction=0.04),
    ),
    # Industrial joint: 48 V servo motor on a 100:1 harmonic drive (160 N m peak, 4.8 rad/s), PID.
    "industrial_joint": ActuatorConfig(
        motor=FullDCMotor(
            resistance=0.5, inductance=0.0005, back_emf=0.1, voltage_limit=48.0, current_limit=20.0
        ),
        control=PositionControl(kp=2000.0, ki=200.0, kd=60.0, integral_limit=40.0),
        transmission=TRANSMISSION_PRESETS["harmonic"],
        friction=Friction(coulomb=2.0, viscous=1.0, stiction=3.0),
    ),
    # High-torque smart servo (about 10 N m stall, 3 rad/s): DC motor, 270:1 gearing, position P-D.
    "high_torque_servo": ActuatorConfig(
        motor=DCMotor(stall_torque=0.05, no_load_speed=810.0, time_constant=0.0005),
        control=PositionControl(kp=40.0, kd=0.8, output_limit=10.0),
        transmission=Transmission(gear_ratio=270.0, efficiency=0.74, backlash=0.003, motor_inertia=1e-6),
        friction=Friction(coulomb=0.1, viscous=0.05),
    ),
    # Direct drive: large-diameter motor, no gearbox, torque control (20 N m, 30 rad/s).
    "direct_drive": ActuatorConfig(
        motor=IdealMotor(max_torque=20.0, max_velocity=30.0),
        control=TorqueControl(),
        transmission=Transmission(gear_ratio=1.0, efficiency=1.0),
        friction=Friction(coulomb=0.05, viscous=0.01),
    ),
    # Quasi-direct-drive legged-robot joint: 6:1 planetary (17 N m, 40 rad/s at the joint), stiff P-D.
    "quadruped_leg": ActuatorConfig(
        motor=IdealMotor(max_torque=3.0, max_velocity=240.0),
        control=PositionControl(kp=20.0, kd=0.5),
        transmission=Transmission(gear_ratio=6.0, efficiency=0.95, backlash=0.0, motor_inertia=6e-5),
        friction=Friction(coulomb=0.2, viscous=0.02),
    ),
    # The plain normalized motor of load_robot (fast path): URDF effort, torque control.
    "ideal": ActuatorConfig(),
}

_KIND_KEY = {"motor": "kind", "control": "mode"}

ActuatorSpec = str | Mapping[str, Any] | ActuatorConfig


def _preset(name: str, table: Mapping[str, Any], what: str) -> Any:
    if name not in table:
        raise ConfigError(f"unknown {what} preset {name!r}; choose one of {sorted(table)}")
    return table[name]


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            kind = _KIND_KEY.get(key)
            # Switching the motor kind or control mode replaces the whole block: its fields differ.
            if kind is not None and kind in value and value[kind] != merged[key].get(kind):
                merged[key] = dict(value)
            else:
                merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def actuator_config(spec: ActuatorSpec) -> ActuatorConfig:
    """Turn a preset name, a dict (optionally with ``"preset"``) or a config into an :class:`ActuatorConfig`.

    In a dict, ``"transmission"`` may itself be a gearbox preset name or a dict with ``"preset"``.
    """
    if isinstance(spec, ActuatorConfig):
        return spec
    if isinstance(spec, str):
        return _preset(spec, ACTUATOR_PRESETS, "actuator")
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"actuator spec must be a preset name, a dict or an ActuatorConfig, got {type(spec).__name__}"
        )
    values = dict(spec)
    preset = values.pop("preset", None)
    base = _preset(preset, ACTUATOR_PRESETS, "actuator").model_dump() if preset else {}
    transmission = values.get("transmission")
    if isinstance(transmission, str):
        transmission = {"preset": transmission}
    if isinstance(transmission, Mapping) and "preset" in transmission:
        # A named gearbox replaces the actuator preset's gearbox; a plain dict only amends it.
        t_values = dict(transmission)
        t_base = _preset(t_values.pop("preset"), TRANSMISSION_PRESETS, "transmission").model_dump()
        values["transmission"] = {**t_base, **t_values}
        base.pop("transmission", None)
    return ActuatorConfig(**_merge(base, values))


def resolve_actuators(
    joint_names: Iterable[str], specs: Mapping[str, ActuatorSpec] | None
) -> dict[str, ActuatorConfig]:
    """Assign an :class:`ActuatorConfig` to joints by exact name or glob pattern (``"leg_*"``, ``"*"``).

    Patterns apply in the order given, later ones overriding earlier ones; exact joint names override
    every pattern. Joints matched by nothing are left out (they keep the default fast-path motor).

    Raises:
        ConfigError: a key that is neither a joint name nor a pattern matching at least one joint.
    """
    names = list(joint_names)
    result: dict[str, ActuatorConfig] = {}
    if not specs:
        return result
    exact = {key: spec for key, spec in specs.items() if key in names}
    for key, spec in specs.items():
        if key in exact:
            continue
        matched = fnmatch.filter(names, key)
        if not matched:
            raise ConfigError(
                f"actuator key {key!r} matches no joint; the robot's joints are {names} "
                "(keys are joint names or glob patterns such as 'arm_*')"
            )
        config = actuator_config(spec)
        for name in matched:
            result[name] = config
    for key, spec in exact.items():
        result[key] = actuator_config(spec)
    return {name: result[name] for name in names if name in result}
