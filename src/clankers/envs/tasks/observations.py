"""Observation terms: named, ordered slices of the observation vector.

The observation of a task is the concatenation of its terms, grouped by robot (robots in scene order,
terms without a robot last), so each robot's part is one contiguous slice
(``env.robot_observation_slices``). Every entry has a name (``env.observation_names``), e.g.
``"hinge.cos"`` or ``"ee.x"``.

| kind              | size         | entries (per selected joint, or x/y/z)                      |
|-------------------|--------------|-------------------------------------------------------------|
| `joint_position`  | n            | joint position (rad or m); ``relative = true``: minus the home pose |
| `joint_velocity`  | n            | joint velocity (rad/s or m/s)                               |
| `joint_state`     | 2n           | position, velocity interleaved per joint (the cart-pole's layout) |
| `joint_sincos`    | 2n           | cos, sin of each joint angle: continuous joints without a 2 pi jump |
| `point_position`  | 3            | a named point (end effector) in the world frame (m)         |
| `target_position` | 3            | a target in the world frame (m)                             |
| `point_to_target` | 3            | target minus point (m): the direction to move               |
| `last_action`     | n            | the previous command                                        |
| `sensor`          | per sensor   | a :mod:`clankers.sim.sensors` sensor: ``type = "imu"`` (accel, gyro), ``"pose"`` (position + quaternion), ``"contact_force"``, ``"range_finder"``, ``"joint_torque"`` |
| `base_height`     | 1            | floating base height above the ground plane (m)             |
| `base_orientation`| 4            | base quaternion w, x, y, z                                  |
| `projected_gravity`| 3           | gravity direction in the base frame ((0, 0, -1) upright)    |
| `base_linear_velocity` | 3       | base linear velocity, base frame (m/s)                      |
| `base_angular_velocity` | 3      | base angular velocity, base frame (rad/s)                   |
| `foot_contacts`   | len(links)   | 1.0 per link (``links = [...]``) touching anything, else 0.0 |
| `python`          | ``size``     | ``func(state, **params)`` (``func = "module:function"``), entries ``"<name>.0"``, ``"<name>.1"``...; or a kind registered with :func:`clankers.envs.tasks.register_term` |

``robot`` and ``joints`` select joints (all of the robot's, or of the scene's, when omitted).
Locomotion adds `velocity_command` and `gait_clock` (:mod:`clankers.envs.tasks.locomotion`).

Every term takes an optional ``scale``: one number, or one per entry, multiplying its entries (as
legged-robot policies observe joint velocities x 0.05); the deploy contract records it.

Every term takes an optional ``noise``: a chain (``[{kind = "gaussian", std = 0.01}]``), a preset name
(``"encoder"``) or a mapping from entry-name patterns to chains (``{"*.velocity" = [...]}``), see
:mod:`clankers.sim.noise`. It is applied to the term's entries with the episode's seeded ``noise``
generator; rewards and terminations always see the true state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import ConfigDict, Field

from clankers.envs.tasks.base import FunctionTerm, Term, TermLibrary
from clankers.envs.tasks.state import TaskState
from clankers.errors import ConfigError

Writer = Callable[[np.ndarray], None]

#: Every observation kind, built in and registered; ``Observation`` is the field type that validates one.
OBSERVATIONS = TermLibrary("observation")
Observation = OBSERVATIONS.annotation


class _ObservationTerm(Term):
    noise: Any = None
    scale: float | list[float] = 1.0  # multiplies the entries (after noise), e.g. 0.05 for joint velocities

    @property
    def label(self) -> str:
        """The term's name in ``env.observation_slices``."""
        return self.kind  # type: ignore[attr-defined,no-any-return]

    def owner(self, state: TaskState) -> str | None:
        """The robot the term belongs to (observations are grouped by robot), None for the scene's."""
        return None


class _JointTerm(_ObservationTerm):
    robot: str | None = None
    joints: list[str] | None = None

    def _indices(self, state: TaskState) -> np.ndarray:
        return state.joint_indices(self.robot, self.joints)

    def _all_in_order(self, state: TaskState) -> bool:
        """Every joint of the scene, in layout order: then a writer copies whole arrays, no fancy indexing."""
        idx = self._indices(state)
        return len(idx) == len(state.qpos) and bool(np.all(idx == np.arange(len(idx))))

    def owner(self, state: TaskState) -> str | None:
        return self.robot if self.robot is not None or len(state.scene.robot_names) > 1 else None

    def _joint_names(self, state: TaskState) -> list[str]:
        names = state.scene.robot.layout.names
        return [names[i] for i in self._indices(state)]


class JointPosition(_JointTerm):
    kind: Literal["joint_position"] = "joint_position"
    relative: bool = False  # positions minus the home pose

    def names(self, state: TaskState) -> list[str]:
        return [f"{j}.position" for j in self._joint_names(state)]

    def bind(self, state: TaskState) -> Writer:
        idx, qpos = self._indices(state), state.qpos
        if self.relative:
            home = state.scene.robot.home_pose[idx]
            return lambda out: np.subtract(qpos[idx], home, out=out)
        if self._all_in_order(state):
            return lambda out: np.copyto(out, qpos)
        return lambda out: qpos.take(idx, out=out)


class JointVelocity(_JointTerm):
    kind: Literal["joint_velocity"] = "joint_velocity"

    def names(self, state: TaskState) -> list[str]:
        return [f"{j}.velocity" for j in self._joint_names(state)]

    def bind(self, state: TaskState) -> Writer:
        idx, qvel = self._indices(state), state.qvel
        if self._all_in_order(state):
            return lambda out: np.copyto(out, qvel)
        return lambda out: qvel.take(idx, out=out)


class JointState(_JointTerm):
    kind: Literal["joint_state"] = "joint_state"

    def names(self, state: TaskState) -> list[str]:
        return [f"{j}.{q}" for j in self._joint_names(state) for q in ("position", "velocity")]

    def bind(self, state: TaskState) -> Writer:
        idx, qpos, qvel = self._indices(state), state.qpos, state.qvel
        if self._all_in_order(state):
            idx = slice(None)  # type: ignore[assignment]

        def write(out: np.ndarray) -> None:
            out[0::2] = qpos[idx]
            out[1::2] = qvel[idx]

        return write


class JointSinCos(_JointTerm):
    kind: Literal["joint_sincos"] = "joint_sincos"

    def names(self, state: TaskState) -> list[str]:
        return [f"{j}.{f}" for j in self._joint_names(state) for f in ("cos", "sin")]

    def bind(self, state: TaskState) -> Writer:
        idx, qpos = self._indices(state), state.qpos

        def write(out: np.ndarray) -> None:
            angles = qpos[idx]
            np.cos(angles, out=out[0::2])
            np.sin(angles, out=out[1::2])

        return write


class _WorldPosition(_ObservationTerm):
    """The world position (x, y, z) of the point or target named by :attr:`subject`."""

    @property
    def subject(self) -> str:
        raise NotImplementedError

    def owner(self, state: TaskState) -> str | None:
        return state.robot_of(self.subject)

    def names(self, state: TaskState) -> list[str]:
        state.position(self.subject)  # raises ConfigError for an unknown name
        return [f"{self.subject}.{axis}" for axis in "xyz"]

    def bind(self, state: TaskState) -> Writer:
        source = state.position(self.subject)
        return lambda out: np.copyto(out, source)


class PointPosition(_WorldPosition):
    kind: Literal["point_position"] = "point_position"
    point: str

    @property
    def subject(self) -> str:
        return self.point


class TargetPosition(_WorldPosition):
    kind: Literal["target_position"] = "target_position"
    target: str

    @property
    def subject(self) -> str:
        return self.target


class PointToTarget(_ObservationTerm):
    kind: Literal["point_to_target"] = "point_to_target"
    point: str
    target: str

    def owner(self, state: TaskState) -> str | None:
        return state.robot_of(self.point)

    def names(self, state: TaskState) -> list[str]:
        state.position(self.point), state.position(self.target)
        return [f"{self.point}_to_{self.target}.{axis}" for axis in "xyz"]

    def bind(self, state: TaskState) -> Writer:
        point, target = state.position(self.point), state.position(self.target)
        return lambda out: np.subtract(target, point, out=out)


class LastAction(_JointTerm):
    kind: Literal["last_action"] = "last_action"

    def names(self, state: TaskState) -> list[str]:
        return [f"{j}.command" for j in self._joint_names(state)]

    def bind(self, state: TaskState) -> Writer:
        idx, action = self._indices(state), state.action
        return lambda out: action.take(idx, out=out)


class SensorObservation(_ObservationTerm):
    """One of :mod:`clankers.sim.sensors`, read after MuJoCo's derived quantities are refreshed.

    ``body``/``bodies`` are the robot's link names (prefixed for the scene automatically); the other
    fields are the sensor's own arguments. Entries are named ``"<name>.<axis>"``.
    """

    kind: Literal["sensor"] = "sensor"
    type: Literal["imu", "pose", "contact_force", "range_finder", "joint_torque"]
    name: str

    @property
    def label(self) -> str:
        return self.name

    robot: str | None = None
    body: str | None = None
    bodies: list[str] | None = None
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    directions: list[tuple[float, float, float]] | None = None
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    max_range: float = 10.0
    joints: list[str] | None = None

    def owner(self, state: TaskState) -> str | None:
        return self.robot

    def _sensor(self, state: TaskState):  # type: ignore[no-untyped-def]
        """The bound sensor, built once per state (terms are shared, sensors are per environment)."""
        cache = state.sensors
        if self.name not in cache:
            from clankers.sim import sensors

            scene = state.scene
            prefix = scene.prefixes[scene.resolve_robot(self.robot)]
            needs_body = self.type in ("imu", "pose", "range_finder")
            if needs_body and self.body is None:
                raise ConfigError(f"sensor {self.name!r} ({self.type}) needs `body = <link name>`")
            body = prefix + (self.body or "")
            if self.type == "imu":
                sensor = sensors.IMU(self.name, body, self.offset)
            elif self.type == "pose":
                sensor = sensors.Pose(self.name, body, self.offset)
            elif self.type == "contact_force":
                if not self.bodies:
                    raise ConfigError(f"sensor {self.name!r} (contact_force) needs `bodies = [<link names>]`")
                sensor = sensors.ContactForce(self.name, [prefix + b for b in self.bodies])
            elif self.type == "range_finder":
                if not self.directions:
                    raise ConfigError(
                        f"sensor {self.name!r} (range_finder) needs `directions = [[x, y, z], ...]`"
                    )
                sensor = sensors.RangeFinder(self.name, body, self.directions, self.origin, self.max_range)
            else:
                joints = None
                if self.joints is not None or self.robot is not None:
                    layout_names = scene.robot.layout.names
                    joints = [layout_names[i] for i in scene.joint_indices(self.robot, self.joints)]
                sensor = sensors.JointTorques(self.name, joints)
            if state.sim is None:
                raise ConfigError("sensor observations need the environment's simulation")
            sensor.bind(state.sim.model, scene.robot.layout)
            cache[self.name] = sensor
        return cache[self.name]

    def stage(self, state: TaskState) -> int:
        return int(self._sensor(state).stage)

    def names(self, state: TaskState) -> list[str]:
        return list(self._sensor(state).labels)

    def bind(self, state: TaskState) -> Writer:
        sensor, sim = self._sensor(state), state.sim
        return lambda out: sensor.read(sim.model, sim.data, out)


class FunctionObservation(FunctionTerm, _ObservationTerm):
    """``func(state, **params)``: ``size`` numbers (given when registering, in the table, or else
    measured by calling the function once when the environment is built)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    library = OBSERVATIONS
    name: str | None = None
    size: int | None = Field(default=None, ge=1)

    def _size(self, state: TaskState) -> int:
        size = self.size or self.options.get("size")
        return int(size) if size else int(np.asarray(self.call(state)(), dtype=np.float64).size)

    def names(self, state: TaskState) -> list[str]:
        return [f"{self.label}.{i}" for i in range(self._size(state))]

    def bind(self, state: TaskState) -> Writer:
        value, label = self.call(state), self.label

        def write(out: np.ndarray) -> None:
            result = np.asarray(value(), dtype=np.float64).ravel()
            if result.size != out.size:
                raise ConfigError(
                    f"observation {label!r} returned {result.size} numbers, declared {out.size}; "
                    "return a fixed number of values (or declare `size`)"
                )
            out[:] = result

        return write


class _BaseTerm(_ObservationTerm):
    """A floating base's state (:class:`clankers.sim.base.FloatingBase`), body frame where it has one."""

    robot: str | None = None
    _quantity: ClassVar[str] = ""
    _axes: ClassVar[tuple[str, ...]] = ("x", "y", "z")

    def owner(self, state: TaskState) -> str | None:
        return self.robot if self.robot is not None or len(state.scene.robot_names) > 1 else None

    def names(self, state: TaskState) -> list[str]:
        self._base(state)
        return [f"base.{self._quantity}" + (f".{a}" if a else "") for a in self._axes]

    def _base(self, state: TaskState):  # type: ignore[no-untyped-def]
        state.scene.resolve_robot(self.robot)
        base = getattr(state.sim, "base", None)
        if base is None:
            raise ConfigError(
                f'observation {self.kind!r} needs a floating base; set base = "floating" on the robot'  # type: ignore[attr-defined]
            )
        return base

    def bind(self, state: TaskState) -> Writer:
        base, sim, quantity = self._base(state), state.sim, self._quantity
        return lambda out: base.write(quantity, sim.data, out)


class BaseHeight(_BaseTerm):
    kind: Literal["base_height"] = "base_height"
    _quantity = "height"
    _axes = ("",)


class BaseOrientation(_BaseTerm):
    kind: Literal["base_orientation"] = "base_orientation"
    _quantity = "orientation"
    _axes = ("w", "x", "y", "z")


class ProjectedGravity(_BaseTerm):
    kind: Literal["projected_gravity"] = "projected_gravity"
    _quantity = "projected_gravity"


class BaseLinearVelocity(_BaseTerm):
    kind: Literal["base_linear_velocity"] = "base_linear_velocity"
    _quantity = "linear_velocity"


class BaseAngularVelocity(_BaseTerm):
    kind: Literal["base_angular_velocity"] = "base_angular_velocity"
    _quantity = "angular_velocity"


class FootContacts(_ObservationTerm):
    """1.0 for each of ``links`` whose collision geometry touches anything (the ground), else 0.0."""

    kind: Literal["foot_contacts"] = "foot_contacts"
    links: list[str] = Field(min_length=1)
    robot: str | None = None

    def owner(self, state: TaskState) -> str | None:
        return self.robot if self.robot is not None or len(state.scene.robot_names) > 1 else None

    def names(self, state: TaskState) -> list[str]:
        return [f"{link}.contact" for link in self.links]

    def bind(self, state: TaskState) -> Writer:
        from clankers.sim.base import ContactSet

        scene = state.scene
        prefix = scene.prefixes[scene.resolve_robot(self.robot)]
        contacts, sim = ContactSet(state.sim.model, self.links, prefix), state.sim
        return lambda out: contacts.write(sim.data, out)


for _model in (
    JointPosition,
    JointVelocity,
    JointState,
    JointSinCos,
    PointPosition,
    TargetPosition,
    PointToTarget,
    LastAction,
    SensorObservation,
    BaseHeight,
    BaseOrientation,
    ProjectedGravity,
    BaseLinearVelocity,
    BaseAngularVelocity,
    FootContacts,
):
    OBSERVATIONS.add_model(_model)
OBSERVATIONS.function_model = FunctionObservation
