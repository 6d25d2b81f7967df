"""Per-episode domain randomization, declared as data, with the applied values readable.

A :class:`RandomizationSpec` says *what* varies and *how*. Each varied quantity is a :class:`Param`: a
distribution (``fixed``, ``uniform``, ``gaussian`` (optionally clipped), ``log_uniform``) and an operation on
the nominal value from the URDF (``scale``: nominal x sample, ``set``: sample, ``add``: nominal + sample).
In a task file the short forms are enough::

    randomization:
      link_mass: {"*": {scale: [0.8, 1.2]}}          # every link, each its own factor
      friction: {"foot_*": {uniform: [0.5, 1.2]}}     # sliding friction of the feet's contacts
      joint_damping: {"*": {log_uniform: [0.01, 1.0]}}
      actuator_strength: {"*": {scale: [0.9, 1.1]}}   # torque factor per joint
      gravity: {z: {gaussian: [-9.81, 0.1]}}
      push: {bodies: [torso], force: {uniform: [5, 20]}, interval: 2.0, duration: 0.1}
      actuation_noise: {uniform: [0.0, 0.05]}         # std of per-step command noise, drawn per episode

Keys of the per-element maps are names or glob patterns (link names for masses and friction, joint
names for damping and actuators); each matched element draws its own sample.

:class:`DomainRandomizer` applies a spec to one :class:`~clankers.sim.Simulation`: at every episode start
:meth:`~DomainRandomizer.reset` restores the nominal model, draws new values from the episode's
``randomization`` generator and writes them into the simulation's own copy of the MuJoCo model;
:attr:`~DomainRandomizer.applied` then holds every value (for logs and recordings), and
:attr:`~DomainRandomizer.pushes` every push of the episode. Call it *before* setting the episode's start
state: re-deriving MuJoCo's model constants uses the simulation's data as scratch space.
"""

from __future__ import annotations

import copy
import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import mujoco
import numpy as np
from pydantic import Field, ValidationError, model_validator

from clankers.errors import ConfigError
from clankers.sim.model import ConfigModel
from clankers.sim.simulation import Simulation

_SHORT_FORMS = {
    "fixed": ("fixed", "set"),
    "uniform": ("uniform", "set"),
    "gaussian": ("gaussian", "set"),
    "log_uniform": ("log_uniform", "set"),
    "scale": ("uniform", "scale"),
    "add": ("uniform", "add"),
}


class Param(ConfigModel):
    """One randomized quantity: ``kind`` of distribution and how the sample ``operation`` acts.

    | kind          | fields                     | sample                                            |
    |---------------|----------------------------|---------------------------------------------------|
    | ``fixed``     | ``value``                  | ``value``                                         |
    | ``uniform``   | ``low``, ``high``          | ``U(low, high)``                                  |
    | ``gaussian``  | ``mean``, ``std`` (``low``, ``high`` clip) | ``clip(N(mean, std^2), low, high)``  |
    | ``log_uniform``| ``low > 0``, ``high``     | ``exp(U(ln low, ln high))``                       |

    Short forms: a number (fixed value, set), ``{"uniform": [lo, hi]}``, ``{"gaussian": [mean, std]}``,
    ``{"log_uniform": [lo, hi]}``, ``{"fixed": v}`` (all ``set``), ``{"scale": [lo, hi]}`` (uniform factor)
    and ``{"add": [lo, hi]}`` (uniform offset); add ``"operation"`` to override.
    """

    kind: Literal["fixed", "uniform", "gaussian", "log_uniform"]
    operation: Literal["set", "scale", "add"] = "set"
    value: float = 0.0
    low: float = -math.inf
    high: float = math.inf
    mean: float = 0.0
    std: float = Field(default=0.0, ge=0.0)

    @model_validator(mode="before")
    @classmethod
    def _expand_short_form(cls, data: Any) -> Any:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return {"kind": "fixed", "value": data}
        if not isinstance(data, Mapping) or "kind" in data:
            return data
        forms = [key for key in data if key in _SHORT_FORMS]
        if len(forms) != 1:
            return data  # let the field validation explain what is missing
        key = forms[0]
        kind, operation = _SHORT_FORMS[key]
        rest = {k: v for k, v in data.items() if k != key}
        value = data[key]
        if kind == "fixed":
            expanded = {"value": value}
        elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
            names = ("mean", "std") if kind == "gaussian" else ("low", "high")
            expanded = dict(zip(names, value, strict=True))
        else:
            raise ValueError(f"{key!r} takes a pair [a, b], got {value!r}")
        return {"kind": kind, "operation": operation, **expanded, **rest}

    @model_validator(mode="after")
    def _consistent(self) -> Param:
        values = (self.value, self.mean, self.std)
        if not all(math.isfinite(v) for v in values):
            raise ValueError("value, mean and std must be finite")
        if self.kind in ("uniform", "log_uniform"):
            if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
                raise ValueError(f"{self.kind} needs finite low <= high, got [{self.low}, {self.high}]")
            if self.kind == "log_uniform" and self.low <= 0:
                raise ValueError(f"log_uniform needs low > 0, got {self.low}")
        if self.kind == "gaussian" and self.low > self.high:
            raise ValueError(f"gaussian clip range needs low <= high, got [{self.low}, {self.high}]")
        return self

    @classmethod
    def parse(cls, data: Any) -> Param:
        """A :class:`Param` from its data form (a number, a short-form dict, or the full fields)."""
        if isinstance(data, Param):
            return data
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"invalid randomization parameter {data!r}: {exc}") from exc

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` independent draws of the distribution (the operation is applied by the caller)."""
        if self.kind == "fixed":
            return np.full(size, self.value)
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high, size)
        if self.kind == "log_uniform":
            return np.exp(rng.uniform(math.log(self.low), math.log(self.high), size))
        return np.clip(rng.normal(self.mean, self.std, size), self.low, self.high)

    def apply(self, nominal: np.ndarray, sample: np.ndarray) -> np.ndarray:
        if self.operation == "scale":
            return nominal * sample
        if self.operation == "add":
            return nominal + sample
        return np.array(sample, dtype=np.float64)


class PushSpec(ConfigModel):
    """Random external pushes: a horizontal force on a random listed body, now and then.

    A push starts at a control step with probability ``1 - exp(-control_dt / interval)`` (so pushes arrive
    as a Poisson process with mean spacing ``interval`` seconds), lasts ``duration`` seconds (at least one
    control step), has a magnitude drawn from ``force`` (N, ``set``), a uniformly random horizontal
    direction, and acts at the body's centre of mass through MuJoCo's ``xfrc_applied``.
    """

    bodies: list[str] = Field(min_length=1)
    force: Param
    interval: float = Field(gt=0.0)
    duration: float = Field(default=0.1, gt=0.0)


class RandomizationSpec(ConfigModel):
    """What to randomize each episode (see the module docstring for the data form)."""

    link_mass: dict[str, Param] = Field(default_factory=dict)
    friction: dict[str, Param] = Field(default_factory=dict)
    joint_damping: dict[str, Param] = Field(default_factory=dict)
    actuator_strength: dict[str, Param] = Field(default_factory=dict)
    actuator_kp: dict[str, Param] = Field(default_factory=dict)
    actuator_kd: dict[str, Param] = Field(default_factory=dict)
    gravity: dict[Literal["x", "y", "z"], Param] = Field(default_factory=dict)
    push: PushSpec | None = None
    actuation_noise: Param | None = None


@dataclass(frozen=True)
class Push:
    """One push of an episode: when, where, and the world-frame force (N)."""

    time: float
    body: str
    force: tuple[float, float, float]
    duration: float


def _match(patterns: Mapping[str, Param], names: Sequence[str], what: str) -> list[tuple[str, int, Param]]:
    """(name, index, param) for every name matched; later patterns override earlier ones."""
    chosen: dict[int, tuple[str, Param]] = {}
    for pattern, param in patterns.items():
        hits = [i for i, name in enumerate(names) if name and fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            raise ConfigError(
                f"randomization key {pattern!r} matches no {what}; {what}s are {[n for n in names if n]}"
            )
        for i in hits:
            chosen[i] = (names[i], param)
    return [(name, i, param) for i, (name, param) in sorted(chosen.items())]


class DomainRandomizer:
    """Applies a :class:`RandomizationSpec` to one simulation, episode by episode.

    Args:
        spec: the spec (or its plain-data form).
        sim: the simulation to randomize. If it shares its MuJoCo model with other simulations, it gets
            a private copy first (bind randomizers before handing ``sim.model`` to anything else).
    """

    def __init__(self, spec: RandomizationSpec | Mapping[str, Any], sim: Simulation) -> None:
        self.spec = spec if isinstance(spec, RandomizationSpec) else RandomizationSpec(**dict(spec))
        if sim.model is sim.robot.model:
            sim.model = copy.copy(sim.robot.model)
        self.sim = sim
        model = sim.model
        self.control_dt = sim.robot.config.control_dt
        # Body 0 is MuJoCo's world (and the URDF links fused into it): never a randomizable link.
        body_names = [""] + [
            mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, i) or "" for i in range(1, model.nbody)
        ]
        layout = sim.layout
        joint_names = list(layout.names)
        spec_ = self.spec

        self._mass = _match(spec_.link_mass, body_names, "link")
        self._friction = _match(spec_.friction, body_names, "link")
        self._damping = _match(spec_.joint_damping, joint_names, "joint")
        self._strength = _match(spec_.actuator_strength, joint_names, "joint")
        self._gains = {
            "kp": _match(spec_.actuator_kp, joint_names, "joint"),
            "kd": _match(spec_.actuator_kd, joint_names, "joint"),
        }
        bank = sim.actuators
        piped = set(bank.names) if bank is not None else set()
        # Joints whose PD/velocity loop is a MuJoCo servo (position or velocity actions) have gains too.
        kind = sim.action.kind
        self._servos = {n for n in joint_names if n not in piped} if kind != "torque" else set()
        for key, entries in self._gains.items():
            has_gain = piped | (self._servos if kind == "position" or key == "kd" else set())
            undriven = [name for name, _, _ in entries if name not in has_gain]
            if undriven:
                raise ConfigError(
                    f"actuator_{key} randomizes joints {undriven} that have no {key} (no actuator pipeline, "
                    "no position/velocity servo); give them an actuator preset, use position actions, or "
                    "drop them"
                )
        self._push_bodies = []
        if spec_.push is not None:
            for name in spec_.push.bodies:
                bid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
                if bid < 0:
                    raise ConfigError(
                        f"push body {name!r} does not exist; links are {[n for n in body_names if n]}"
                    )
                self._push_bodies.append((name, bid))

        self._nominal = {
            "body_mass": model.body_mass.copy(),
            "body_inertia": model.body_inertia.copy(),
            "geom_friction": model.geom_friction.copy(),
            "dof_damping": model.dof_damping.copy(),
            "actuator_gear": model.actuator_gear.copy(),
            "actuator_gainprm": model.actuator_gainprm.copy(),
            "actuator_biasprm": model.actuator_biasprm.copy(),
            "gravity": model.opt.gravity.copy(),
        }
        self._geoms_of = {bid: np.flatnonzero(model.geom_bodyid == bid) for bid in range(model.nbody)}
        # MuJoCo gives a contact the larger friction of its two geoms, so a link's friction drawn below the
        # ground's would have no effect; a higher geom priority makes the randomized link's friction the
        # contact's (MuJoCo: of two geoms with different priorities, the higher one's parameters apply).
        for _, bid, _ in self._friction:
            model.geom_priority[self._geoms_of[bid]] = 1
        self.applied: dict[str, float] = {}
        self.pushes: list[Push] = []
        self.actuation_noise_std = 0.0
        self._push_rng: np.random.Generator | None = None
        self._noise_rng: np.random.Generator | None = None
        self._push_left = 0
        self._push_body = -1

    # --- episode start --------------------------------------------------------------------------------

    def restore(self) -> None:
        """Put every randomized model value back to its nominal (URDF) value."""
        model, nominal = self.sim.model, self._nominal
        model.body_mass[:] = nominal["body_mass"]
        model.body_inertia[:] = nominal["body_inertia"]
        model.geom_friction[:] = nominal["geom_friction"]
        model.dof_damping[:] = nominal["dof_damping"]
        model.actuator_gear[:] = nominal["actuator_gear"]
        model.actuator_gainprm[:] = nominal["actuator_gainprm"]
        model.actuator_biasprm[:] = nominal["actuator_biasprm"]
        model.opt.gravity[:] = nominal["gravity"]
        bank = self.sim.actuators
        if bank is not None:
            for joint in bank.pipeline.joints:
                joint.strength, joint.kp, joint.kd = 1.0, joint.nominal_kp, joint.nominal_kd
        self.sim.data.xfrc_applied[:] = 0.0

    def _set_servo_gain(self, joint: str, key: str, gain: float) -> None:
        """Write a MuJoCo servo's gain: position ``kp`` (gain and bias) or ``kd`` (the damping bias, and
        the gain of a velocity servo)."""
        model, act = self.sim.model, self.sim.layout[joint].actuator_index
        if key == "kp":
            model.actuator_gainprm[act, 0] = gain
            model.actuator_biasprm[act, 1] = -gain
        else:
            model.actuator_biasprm[act, 2] = -gain
            if self.sim.action.kind == "velocity":
                model.actuator_gainprm[act, 0] = gain

    def reset(self, rng: np.random.Generator) -> dict[str, float]:
        """Draw and apply this episode's values from ``rng`` (the episode's ``randomization`` stream).

        Returns :attr:`applied`: ``{"link_mass.<link>": kg, "friction.<link>": mu, "joint_damping.<joint>":
        N m s/rad, "actuator_strength.<joint>": factor, "actuator_kp.<joint>": gain, "actuator_kd.<joint>":
        gain, "gravity.<axis>": m/s^2, "actuation_noise": std}`` for everything the spec randomizes.
        """
        # First, so the per-step streams do not depend on how many values the spec draws. (Seeding children
        # from drawn integers rather than Generator.spawn keeps numpy 1.24 supported.)
        push_rng, noise_rng = (np.random.default_rng(int(s)) for s in rng.integers(0, 2**63, size=2))
        self.restore()
        model, nominal, applied = self.sim.model, self._nominal, {}
        spec = self.spec

        for name, bid, param in self._mass:
            nominal_mass = nominal["body_mass"][bid]
            mass = float(param.apply(nominal_mass, param.sample(rng, 1))[0])
            if mass <= 0 and not (mass == 0 and nominal_mass == 0):
                raise ConfigError(f"randomized mass of link {name!r} is {mass} kg; keep the range positive")
            model.body_mass[bid] = mass
            if nominal_mass > 0:  # same shape, other density: the inertia scales with the mass
                model.body_inertia[bid] = nominal["body_inertia"][bid] * (mass / nominal_mass)
            applied[f"link_mass.{name}"] = mass
        for name, bid, param in self._friction:
            geoms = self._geoms_of[bid]
            if len(geoms) == 0:
                continue
            mu = float(max(0.0, param.apply(nominal["geom_friction"][geoms[0], 0], param.sample(rng, 1))[0]))
            model.geom_friction[geoms, 0] = mu
            applied[f"friction.{name}"] = mu
        layout = self.sim.layout
        for name, _, param in self._damping:
            dof = layout[name].qvel_index
            value = float(max(0.0, param.apply(nominal["dof_damping"][dof], param.sample(rng, 1))[0]))
            model.dof_damping[dof] = value
            applied[f"joint_damping.{name}"] = value
        bank = self.sim.actuators
        for name, _, param in self._strength:
            factor = float(max(0.0, param.apply(np.ones(1), param.sample(rng, 1))[0]))
            if bank is not None and name in bank.names:
                bank.pipeline.joints[bank.names.index(name)].strength = factor
            else:
                act = layout[name].actuator_index
                model.actuator_gear[act, 0] = nominal["actuator_gear"][act, 0] * factor
            applied[f"actuator_strength.{name}"] = factor
        for key, entries in self._gains.items():
            for name, _, param in entries:
                if name in self._servos:
                    action = self.sim.action
                    i = action.names.index(name)
                    nominal_gain = float(getattr(action, key)[i])
                else:
                    assert bank is not None
                    joint = bank.pipeline.joints[bank.names.index(name)]
                    nominal_gain = getattr(joint, f"nominal_{key}")
                gain = float(max(0.0, param.apply(np.array([nominal_gain]), param.sample(rng, 1))[0]))
                if name in self._servos:
                    self._set_servo_gain(name, key, gain)
                else:
                    setattr(joint, key, gain)
                applied[f"actuator_{key}.{name}"] = gain
        for axis, param in spec.gravity.items():
            k = "xyz".index(axis)
            model.opt.gravity[k] = float(param.apply(nominal["gravity"][k], param.sample(rng, 1))[0])
            applied[f"gravity.{axis}"] = float(model.opt.gravity[k])
        self.actuation_noise_std = 0.0
        if spec.actuation_noise is not None:
            std = spec.actuation_noise.apply(np.zeros(1), spec.actuation_noise.sample(rng, 1))[0]
            self.actuation_noise_std = float(max(0.0, std))
            applied["actuation_noise"] = self.actuation_noise_std

        if self._mass:
            mujoco.mj_setConst(
                model, self.sim.data
            )  # subtree masses, constraint scaling (uses data as scratch)
        self.applied = applied
        self.pushes = []
        self._push_rng, self._noise_rng = push_rng, noise_rng
        self._push_left = 0
        return applied

    # --- every control step ---------------------------------------------------------------------------

    def perturb_command(self, command: np.ndarray) -> np.ndarray:
        """The command plus this episode's actuation noise ``N(0, std^2)`` per joint (a new array)."""
        if self.actuation_noise_std == 0.0 or self._noise_rng is None:
            return command
        return command + self.actuation_noise_std * self._noise_rng.standard_normal(len(command))

    def before_step(self) -> None:
        """Start, continue or end external pushes for the coming control step."""
        push = self.spec.push
        if push is None or self._push_rng is None:
            return
        data = self.sim.data
        if self._push_left > 0:
            self._push_left -= 1
            if self._push_left == 0:
                data.xfrc_applied[self._push_body, :3] = 0.0
            return
        rng = self._push_rng
        if rng.random() >= 1.0 - math.exp(-self.control_dt / push.interval):
            return
        name, bid = self._push_bodies[int(rng.integers(len(self._push_bodies)))]
        magnitude = float(push.force.apply(np.zeros(1), push.force.sample(rng, 1))[0])
        angle = rng.uniform(0.0, 2 * math.pi)
        force = (magnitude * math.cos(angle), magnitude * math.sin(angle), 0.0)
        steps = max(1, round(push.duration / self.control_dt))
        data.xfrc_applied[bid, :3] = force
        self._push_body, self._push_left = bid, steps
        self.pushes.append(
            Push(time=float(data.time), body=name, force=force, duration=steps * self.control_dt)
        )

    def step(self, command: np.ndarray) -> None:
        """One control step of the simulation with actuation noise and pushes applied."""
        self.before_step()
        self.sim.step(self.perturb_command(command))
