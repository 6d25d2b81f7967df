"""Action semantics: what one entry of a policy's action vector asks a joint to do.

| kind       | the action ``a`` (one entry per layout joint) becomes                      | how it acts |
|------------|-----------------------------------------------------------------------------|-------------|
| `torque`   | ``tau = effort * clip(a, -1, 1)`` (the normalized motor of :func:`load_robot`) | MuJoCo motor |
| `position` | ``q* = default + scale * a``; ``tau = clip(kp (q* - q) - kd v, ±effort)``   | PD, every physics substep |
| `velocity` | ``v* = clip(scale * a, ±velocity limit)``; ``tau = clip(kd (v* - v), ±effort)`` | P on velocity, every substep |

``default`` is the robot's home pose (``"home"``) or zeros (``"zero"``). The PD loop and the velocity loop
are MuJoCo ``general`` actuators (``gainprm = kp``, ``biasprm = [0, -kp, -kd]``, force-limited by the URDF
effort), so they are evaluated at every physics substep inside ``mj_step(nstep)``, in C: a position
action costs what a torque action costs. ``ctrl`` holds the target (rad, m, rad/s) rather than a
normalized command. Joints with a non-trivial actuator model (:mod:`clankers.sim.actuators`) keep their
motor, gearbox and friction; their controller receives the same target (a position or velocity
controller is made from ``kp``/``kd`` when the model declares plain torque control).

Stiff servos need MuJoCo's ``implicitfast`` integrator (``SimConfig(integrator="implicitfast")``): it
integrates the servo's damping implicitly, as the explicit Euler step cannot once ``kd * dt`` exceeds
the joint's inertia (plus ``armature``). ``gravity_compensation`` adds, once per control step, the
joint torques MuJoCo computes for gravity and Coriolis forces (``qfrc_bias``) as a feedforward inside
the effort clamp; it is meant for fixed-base arms (a standing robot's ground carries its weight).

``kp``, ``kd``, ``scale``, ``armature`` and ``damping`` take one number for every joint or a table by
joint name or glob pattern (``{"*_calf_joint" = 40.0, "*" = 25.0}``; exact names win over patterns,
and joints matching nothing get the default). ``armature`` (kg m^2, reflected rotor inertia) and
``damping`` (N m s/rad) replace the URDF's values of the joints they name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Literal

import mujoco
import numpy as np
from pydantic import field_validator

from clankers.errors import ConfigError
from clankers.sim.model import ConfigModel
from clankers.sim.robot import Robot

if TYPE_CHECKING:
    from clankers.sim.actuators import ActuatorConfig

ActionKind = Literal["torque", "position", "velocity"]
PerJoint = float | dict[str, float]


def per_joint(names: tuple[str, ...], value: PerJoint | None, default: float, what: str) -> np.ndarray:
    """One value per joint from a number or a name/glob table (exact names first, then the first
    matching pattern in table order; unmatched joints get ``default``).

    Raises:
        ConfigError: a table key that matches no joint.
    """
    if value is None:
        return np.full(len(names), default, dtype=np.float64)
    if not isinstance(value, Mapping):
        return np.full(len(names), float(value), dtype=np.float64)
    for key in value:
        if key not in names and not any(fnmatchcase(n, key) for n in names):
            raise ConfigError(f"{what}: {key!r} matches no joint; the joints are {list(names)}")
    out = np.full(len(names), default, dtype=np.float64)
    for i, name in enumerate(names):
        if name in value:
            out[i] = float(value[name])
            continue
        for key, v in value.items():
            if fnmatchcase(name, key):
                out[i] = float(v)
                break
    return out


class ActionConfig(ConfigModel):
    """How actions drive joints (see the module docstring for the equations).

    | field      | default   | meaning                                                         |
    |------------|-----------|-----------------------------------------------------------------|
    | `kind`     | `torque`  | `torque`, `position` or `velocity`                              |
    | `scale`    | 1.0       | rad (m) per unit action for `position`, rad/s (m/s) for `velocity` |
    | `kp`       | 0.0       | position gain, N m/rad (per joint or table)                     |
    | `kd`       | 0.0       | damping gain, N m s/rad (the velocity gain for `velocity`)      |
    | `default`  | `home`    | offset of position targets: the robot's home pose, or `zero`    |
    | `gravity_compensation` | false | add the joints' gravity (and Coriolis) torques as feedforward, as an arm's joint controller does |
    | `armature` | URDF (0)  | reflected rotor inertia per joint, kg m^2                       |
    | `damping`  | URDF      | passive joint damping per joint, N m s/rad                      |
    """

    config_label = "action config"

    kind: ActionKind = "torque"
    scale: PerJoint = 1.0
    kp: PerJoint = 0.0
    kd: PerJoint = 0.0
    default: Literal["home", "zero"] = "home"
    gravity_compensation: bool = False
    armature: PerJoint | None = None
    damping: PerJoint | None = None

    @field_validator("scale", "kp", "kd", "armature", "damping")
    @classmethod
    def _finite_non_negative(cls, value: PerJoint | None) -> PerJoint | None:
        values = value.values() if isinstance(value, Mapping) else [] if value is None else [value]
        for v in values:
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{v} must be a finite number >= 0")
        return value


@dataclass(frozen=True)
class ResolvedAction:
    """An :class:`ActionConfig` bound to a robot: one number per layout joint (all arrays read-only).

    ``targets(a)`` turns an action into what ``ctrl`` holds: the normalized command for ``torque``,
    joint positions for ``position``, joint velocities for ``velocity``.
    """

    kind: ActionKind
    names: tuple[str, ...]
    scale: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    offset: np.ndarray
    home: np.ndarray
    effort: np.ndarray
    velocity_limit: np.ndarray
    armature: np.ndarray | None
    damping: np.ndarray | None
    gravity_compensation: bool = False

    @classmethod
    def build(cls, config: ActionConfig | Mapping[str, object] | None, robot: Robot) -> ResolvedAction:
        config = _as_config(config)
        layout = robot.layout
        names = layout.names
        kind = config.kind
        kp = per_joint(names, config.kp, 0.0, "action kp")
        kd = per_joint(names, config.kd, 0.0, "action kd")
        if kind == "position" and not np.any(kp > 0):
            raise ConfigError("position actions need `kp` > 0 for some joint; e.g. kp = 25.0, kd = 0.5")
        if kind == "velocity" and not np.any(kd > 0):
            raise ConfigError("velocity actions need `kd` > 0 (the velocity gain); e.g. kd = 2.0")
        offset = robot.home_pose if config.default == "home" else np.zeros(len(names))
        arrays = {
            "scale": per_joint(names, config.scale, 1.0, "action scale"),
            "kp": kp,
            "kd": kd,
            "offset": offset if kind == "position" else np.zeros(len(names)),
            "home": robot.home_pose,
            "effort": layout.effort_limits,
            "velocity_limit": layout.velocity_limits,
            "armature": None
            if config.armature is None
            else per_joint(names, config.armature, np.nan, "action armature"),
            "damping": None
            if config.damping is None
            else per_joint(names, config.damping, np.nan, "action damping"),
        }
        for value in arrays.values():
            if value is not None:
                value.setflags(write=False)
        return cls(kind=kind, names=names, gravity_compensation=config.gravity_compensation, **arrays)  # type: ignore[arg-type]

    @property
    def trivial(self) -> bool:
        """Plain normalized torque with the URDF's joint dynamics: nothing to change in the model."""
        return (
            self.kind == "torque"
            and self.armature is None
            and self.damping is None
            and not self.gravity_compensation
        )

    def targets(self, action: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """What ``ctrl`` holds for ``action`` (layout order); writes into ``out`` when given."""
        if self.kind == "torque":
            return np.copyto(out, action) if out is not None else np.array(action, dtype=np.float64)  # type: ignore[func-returns-value]
        out = np.multiply(self.scale, action, out=out)
        if self.kind == "position":
            out += self.offset
        else:
            np.clip(out, -self.velocity_limit, self.velocity_limit, out=out)
        return out

    def controllers_for(self, configs: Mapping[str, ActuatorConfig]) -> dict[str, ActuatorConfig]:
        """Actuator models of some joints, with controllers that take this semantics' targets.

        Torque actions keep them as they are. Position (velocity) actions give a model declaring plain
        torque control a position (velocity) controller with this config's ``kp``/``kd`` and keep a
        model's own controller of the matching mode (its gains win).

        Raises:
            ConfigError: a joint's actuator declares a controller of another mode.
        """
        from clankers.sim.actuators import PositionControl, TorqueControl, VelocityControl

        if self.kind == "torque":
            return dict(configs)
        wanted = PositionControl if self.kind == "position" else VelocityControl
        out = {}
        for name, config in configs.items():
            i = self.names.index(name)
            control = config.control
            if isinstance(control, TorqueControl):
                if self.kind == "position":
                    control = PositionControl(kp=float(self.kp[i]), kd=float(self.kd[i]))
                else:
                    control = VelocityControl(kp=float(self.kd[i]))
                config = config.model_copy(update={"control": control})
            elif not isinstance(control, wanted):
                raise ConfigError(
                    f"joint {name!r}: its actuator declares {control.mode} control but the task's actions "
                    f"are {self.kind} targets; drop the actuator's `control` or make it {self.kind}"
                )
            out[name] = config
        return out

    def apply_dynamics(self, model: mujoco.MjModel, dofs: np.ndarray) -> None:
        """Write ``armature``/``damping`` (where given) into ``model``'s joints at ``dofs``."""
        for values, field in ((self.armature, model.dof_armature), (self.damping, model.dof_damping)):
            if values is not None:
                given = ~np.isnan(values)
                field[dofs[given]] = values[given]

    def make_servos(self, model: mujoco.MjModel, actuators: np.ndarray, positions: np.ndarray) -> None:
        """Turn the motors ``actuators`` (layout positions ``positions``) into PD/velocity servos."""
        if self.kind == "torque":
            return
        kp = self.kp[positions] if self.kind == "position" else np.zeros(len(positions))
        kd = self.kd[positions]
        effort = self.effort[positions]
        gain = kp if self.kind == "position" else kd
        model.actuator_gaintype[actuators] = mujoco.mjtGain.mjGAIN_FIXED
        model.actuator_biastype[actuators] = mujoco.mjtBias.mjBIAS_AFFINE
        model.actuator_gainprm[actuators, :] = 0.0
        model.actuator_biasprm[actuators, :] = 0.0
        model.actuator_gainprm[actuators, 0] = gain
        model.actuator_biasprm[actuators, 1] = -kp
        model.actuator_biasprm[actuators, 2] = -kd
        model.actuator_gear[actuators, 0] = 1.0
        model.actuator_ctrllimited[actuators] = 0
        model.actuator_forcelimited[actuators] = 1
        model.actuator_forcerange[actuators, 0] = -effort
        model.actuator_forcerange[actuators, 1] = effort

    def describe(self) -> dict[str, object]:
        """Plain data for metadata and the CLI (lists in layout order)."""
        return {
            "kind": self.kind,
            "joint_names": list(self.names),
            "scale": self.scale.tolist(),
            "kp": self.kp.tolist(),
            "kd": self.kd.tolist(),
            "default_joint_pos": self.home.tolist(),
            "effort_limit": self.effort.tolist(),
            "velocity_limit": self.velocity_limit.tolist(),
            "gravity_compensation": self.gravity_compensation,
        }


def _as_config(config: ActionConfig | Mapping[str, object] | None) -> ActionConfig:
    if config is None:
        return ActionConfig()
    if isinstance(config, ActionConfig):
        return config
    return ActionConfig(**dict(config))
