"""Actuators: controller -> motor -> transmission -> friction -> joint torque, per joint.

Typical use::

    from clankers.sim import Simulation, load_robot
    sim = Simulation(load_robot("arm.urdf"), actuators={"shoulder": "industrial_joint", "wrist_*": "hobby_servo"})

Joints without an actuator entry keep the plain normalized motor (URDF effort, fast path). The equations
are in :mod:`clankers.sim.actuators.pipeline` and ``docs/simulation.md``.
"""

from clankers.sim.actuators.config import (
    ActuatorConfig,
    DCMotor,
    Friction,
    FullDCMotor,
    IdealMotor,
    PositionControl,
    TorqueControl,
    Transmission,
    VelocityControl,
)
from clankers.sim.actuators.pipeline import ActuatorBank, ActuatorPipeline
from clankers.sim.actuators.presets import (
    ACTUATOR_PRESETS,
    TRANSMISSION_PRESETS,
    ActuatorSpec,
    actuator_config,
    resolve_actuators,
)

__all__ = [
    "ACTUATOR_PRESETS",
    "TRANSMISSION_PRESETS",
    "ActuatorBank",
    "ActuatorConfig",
    "ActuatorPipeline",
    "ActuatorSpec",
    "DCMotor",
    "Friction",
    "FullDCMotor",
    "IdealMotor",
    "PositionControl",
    "TorqueControl",
    "Transmission",
    "VelocityControl",
    "actuator_config",
    "resolve_actuators",
]
