"""The task config: everything a task is, as validated data.

A user adds a task by writing one TOML (or JSON) file: which robots, where they stand, how episodes
start, which targets are drawn, what the policy observes, how it is rewarded and when episodes end.
:class:`~clankers.envs.tasks.TaskEnv` turns the file into a Gymnasium environment; no env class is
written. The shipped tasks are such files (``assets/tasks/*.toml``), read the same way.

Every section is a strict pydantic model: unknown keys, wrong types and inconsistent values raise
:class:`clankers.errors.ConfigError` with pydantic's location of the problem. Names that need the
compiled robot (joints, bodies) are checked when the environment is built, with the same error type.

Paths: a robot's ``urdf`` is absolute, or relative to the config file's folder, or relative to the
project's ``assets/`` folder (``"urdf/pendulum.urdf"``), tried in that order; or a ROS package path
``package://NAME/rest`` (``"package://go1_description/urdf/go1.urdf"``), looked up in
``ROS_PACKAGE_PATH``, the folders above the task file and the robots of the ``example-robot-data``
package (``pip install 'clankers[robots]'``). A package path that is not found stays as written, so the
task still registers; building its environment then says what to install.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from clankers.envs.tasks.base import Term, Vector3
from clankers.envs.tasks.conditions import Condition
from clankers.envs.tasks.locomotion import LocomotionConfig
from clankers.envs.tasks.observations import Observation
from clankers.envs.tasks.rewards import RewardTerm
from clankers.envs.tasks.terminations import TerminationTerm
from clankers.errors import ConfigError
from clankers.sim import ActionConfig, SimConfig
from clankers.sim.robot import ASSETS_DIR

_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
Range = tuple[float, float]


def _ordered(value: Range, what: str) -> Range:
    if not (math.isfinite(value[0]) and math.isfinite(value[1])):
        raise ValueError(f"{what} range {list(value)} must be finite numbers")
    if not value[0] <= value[1]:
        raise ValueError(f"{what} range {list(value)} must be [low, high] with low <= high")
    return value


class RobotConfig(Term):
    """A robot of the scene. ``name`` prefixes its joints (``"left/j1_shoulder"``) when there are several.

    ``base``: ``"fixed"`` (welded to the world) or ``"floating"`` (free joint on a ground plane, starting
    with its home pose standing on the ground, offset by ``position``); by default what the URDF declares.
    ``home``: the default pose by joint name or glob (``{"*_calf_joint" = -1.85}``); start positions are
    drawn around it and position actions are offsets from it. See ``docs/robots.md``.
    """

    name: str = Field(pattern=_NAME)
    urdf: str
    position: Vector3 = (0.0, 0.0, 0.0)
    base: Literal["fixed", "floating"] | None = None
    home: dict[str, float] = Field(default_factory=dict)


class PointConfig(Term):
    """A named point fixed to a robot link: ``body`` origin plus ``offset`` in that body's frame (m)."""

    name: str = Field(pattern=_NAME)
    body: str
    robot: str | None = None
    offset: Vector3 = (0.0, 0.0, 0.0)


class JointStart(Term):
    """Uniform ranges for a joint's start position and velocity (equal bounds give a fixed value)."""

    position: Range = (0.0, 0.0)
    velocity: Range = (0.0, 0.0)

    @field_validator("position", "velocity")
    @classmethod
    def _low_high(cls, value: Range) -> Range:
        return _ordered(value, "start")


class StartConfig(Term):
    """How each episode starts: ``default`` for every joint, ``joints`` overrides by (full) joint name.

    Positions are clipped to the joint limits after drawing.
    """

    default: JointStart = JointStart()
    joints: dict[str, JointStart] = Field(default_factory=dict)


class TargetConfig(Term):
    """A goal position drawn at every reset.

    | kind        | drawn as                                                                      |
    |-------------|-------------------------------------------------------------------------------|
    | `fixed`     | ``position``, always                                                          |
    | `box`       | uniform in the box ``[low, high]``                                            |
    | `reachable` | where ``point`` is for joint angles drawn uniformly within the limits of its robot (or ``joint_ranges``): always reachable, and as dense as the arm's own workspace |

    ``min_distance`` redraws (up to 100 times) until the target is at least that far from ``point`` at
    the episode's start state, so no episode starts already solved.
    """

    name: str = Field(pattern=_NAME)
    kind: Literal["fixed", "box", "reachable"]
    robot: str | None = None
    position: Vector3 | None = None
    low: Vector3 | None = None
    high: Vector3 | None = None
    point: str | None = None
    joint_ranges: dict[str, Range] = Field(default_factory=dict)
    min_distance: float = Field(default=0.0, ge=0.0)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> TargetConfig:
        if self.kind == "fixed" and self.position is None:
            raise ValueError(f"fixed target {self.name!r} needs `position = [x, y, z]`")
        if self.kind == "box":
            if self.low is None or self.high is None:
                raise ValueError(f"box target {self.name!r} needs `low` and `high`")
            for lo, hi in zip(self.low, self.high, strict=True):
                _ordered((lo, hi), f"box target {self.name!r}")
        if self.kind == "reachable" and self.point is None:
            raise ValueError(
                f"reachable target {self.name!r} needs `point`: the end effector that must reach it"
            )
        if self.min_distance > 0 and self.point is None:
            raise ValueError(f"target {self.name!r}: `min_distance` is measured from `point`; name one")
        for joint, bounds in self.joint_ranges.items():
            _ordered(bounds, f"joint_ranges[{joint!r}]")
        return self


class TaskConfig(Term):
    """A whole task. See ``assets/tasks/*.toml`` for complete, commented examples.

    | key                 | meaning                                                               |
    |---------------------|-----------------------------------------------------------------------|
    | `name`              | task name                                                             |
    | `description`       | one line for listings                                                 |
    | `max_episode_steps` | truncation horizon (an implicit `timeout` termination)                |
    | `sim`               | :class:`~clankers.sim.SimConfig`: physics_dt, control_dt, gravity, integrator |
    | `robots`            | one or more robots (name, urdf, base position)                        |
    | `points`            | named points on links (end effectors)                                 |
    | `start`             | start-state distribution                                              |
    | `targets`           | goals drawn each reset                                                |
    | `observations`      | observation terms, see :mod:`~clankers.envs.tasks.observations`      |
    | `rewards`           | reward terms, see :mod:`~clankers.envs.tasks.rewards`                 |
    | `terminations`      | termination terms, see :mod:`~clankers.envs.tasks.terminations`       |
    | `success`           | the success condition, see :mod:`~clankers.envs.tasks.conditions`     |
    | `actuators`         | actuator per joint name or glob: a preset name or a table, see :mod:`clankers.sim.actuators` (joints not listed keep the ideal URDF-effort motor) |

    | `randomization`     | per-episode domain randomization, see :mod:`clankers.sim.randomization` (link masses, friction, damping, actuators, gravity, pushes, actuation noise) |
    | `action`            | action semantics, see :mod:`clankers.sim.actions`: `kind` = `torque` (normalized, default), `position` (PD to home + scale * a) or `velocity`; `kp`, `kd`, `scale`, `armature`, `damping` per joint |
    | `locomotion`        | feet, velocity commands and a gait clock, see :mod:`clankers.envs.tasks.locomotion` |
    | `batched`           | evaluate every term once over all environments of a vector env, see :mod:`clankers.envs.tasks.batch` (default: when the task needs it) |

    Sensor noise is declared per observation term (``noise = ...``, see :mod:`clankers.sim.noise`).
    """

    name: str
    description: str = ""
    max_episode_steps: int = Field(ge=1)
    sim: SimConfig = SimConfig()
    robots: list[RobotConfig] = Field(min_length=1)
    points: list[PointConfig] = Field(default_factory=list)
    start: StartConfig = StartConfig()
    targets: list[TargetConfig] = Field(default_factory=list)
    observations: list[Observation] = Field(min_length=1)
    rewards: list[RewardTerm] = Field(min_length=1)
    terminations: list[TerminationTerm] = Field(default_factory=list)
    success: Condition | None = None
    actuators: dict[str, Any] = Field(default_factory=dict)
    randomization: dict[str, Any] | None = None
    action: ActionConfig = ActionConfig()
    locomotion: LocomotionConfig | None = None
    batched: bool | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> TaskConfig:
        for what, names in (
            ("robot", [r.name for r in self.robots]),
            ("point/target", [p.name for p in self.points] + [t.name for t in self.targets]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"{what} names {duplicates} are used more than once; names must be unique")
        return self


def _read(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}; fix the syntax") from exc
    if path.suffix != ".toml":
        raise ConfigError(f"task config {path} must be a .toml or .json file")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError as exc:
            raise ConfigError(
                "reading TOML on Python 3.10 needs `pip install tomli`; or use a .json config"
            ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}; fix the syntax") from exc


PACKAGE_SCHEME = "package://"


def find_package_file(uri: str, base_dir: Path | None = None) -> Path | None:
    """The file a ``package://NAME/rest`` path names (see the module docstring), or None."""
    from clankers.sim.urdf import example_robot_data, resolve_resource

    name = uri[len(PACKAGE_SCHEME) :].lstrip("/").partition("/")[0]
    robots = example_robot_data()
    dirs = {name: robots / name} if robots is not None and (robots / name).is_dir() else {}
    anchor = (base_dir or Path.cwd()) / "task"  # the folders above the task file are searched too
    found, _ = resolve_resource(uri, anchor, dirs, None)
    return found


def resolve_urdf(urdf: str, base_dir: Path | None) -> Path | str:
    """Absolute path of a robot's URDF (see the module docstring for the search order); a package
    path not found on this machine is returned unchanged (:func:`require_urdf` raises later)."""
    if urdf.startswith(PACKAGE_SCHEME):
        found = find_package_file(urdf, base_dir)
        return found.resolve() if found is not None else urdf
    path = Path(urdf)
    if path.is_absolute():
        return path
    candidates = ([base_dir / path] if base_dir is not None else []) + [Path.cwd() / path, ASSETS_DIR / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(
        f"URDF {urdf!r} not found (looked in {[str(c.parent) for c in candidates]}); give an absolute path "
        "or one relative to the config file"
    )


def require_urdf(robot: RobotConfig) -> Path:
    """The robot's URDF file, or :class:`ConfigError` saying how to get a package path's file."""
    if robot.urdf.startswith(PACKAGE_SCHEME):
        raise ConfigError(
            f"robot {robot.name!r}: {robot.urdf} is not installed on this machine",
            hint="pip install 'clankers[robots]' (example-robot-data), or add the package's parent folder "
            "to ROS_PACKAGE_PATH",
        )
    return Path(robot.urdf)


def load_task_config(source: TaskConfig | Mapping[str, Any] | str | Path) -> TaskConfig:
    """A validated :class:`TaskConfig` from a config object, a plain mapping, or a .toml/.json file.

    Raises:
        ConfigError: unreadable file, syntax error, or any invalid value (the message has the location).
    """
    if isinstance(source, TaskConfig):
        return source
    if isinstance(source, Mapping):
        data, origin = dict(source), "task config"
        base_dir = None
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(
                f"task config file {path} does not exist; pass the path of a .toml or .json file"
            )
        data, origin, base_dir = _read(path), str(path), path.parent
    robots = data.get("robots")
    if isinstance(robots, list):  # make URDF paths absolute now, while the file's folder is known
        data["robots"] = [
            {**r, "urdf": str(resolve_urdf(r["urdf"], base_dir))}
            if isinstance(r, dict) and "urdf" in r
            else r
            for r in robots
        ]
    try:
        # base_dir: a `kind = "python"` term may name a module that sits next to the file.
        return TaskConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(f"invalid task config ({origin}): {exc}") from exc
    except ConfigError as exc:  # raised by nested models such as SimConfig
        raise ConfigError(f"invalid task config ({origin}): {exc}") from exc


def shipped_task_config(name: str) -> Path:
    """Path of a task config shipped in ``assets/tasks/`` (``"pendulum"`` -> ``pendulum.toml``)."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ConfigError(f"task name {name!r} may contain only letters, digits and underscores")
    path = ASSETS_DIR / "tasks" / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in (ASSETS_DIR / "tasks").glob("*.toml"))
        raise ConfigError(f"no shipped task config {name!r}; shipped: {known}")
    return path
