"""Scenes: one or more URDF robots compiled into a single MuJoCo model.

A task's physics is one :class:`~clankers.sim.Robot` (one ``MjModel`` stepped by one
:class:`~clankers.sim.Simulation`), even when the task has several robots: MuJoCo then resolves contacts
between them and steps them together, so they share one clock. A single robot at the origin is loaded by
:func:`clankers.sim.load_robot` unchanged. Several robots (or one placed elsewhere) are composed with
``MjSpec.attach``: each URDF gets the same normalized motors as ``load_robot`` gives it, and every name
(joint, body, motor) is prefixed ``"<robot>/"``.

Layout of a multi-robot scene: robots in the order the task declares them, each robot's joints
alphabetical within it (that robot's own ``load_robot`` layout). So a robot's action and joint-state
slices are contiguous and identical to what the same robot has alone, which is what lets a policy
trained on one arm drive either arm of a two-arm scene.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mujoco
import numpy as np

from clankers.errors import ConfigError, RobotDescriptionError
from clankers.render.scene import decorate_spec, place_floor
from clankers.sim import JointInfo, JointLayout, Robot, SimConfig, load_robot
from clankers.sim.robot import INTEGRATORS, place_floating, robot_spec


@dataclass(frozen=True)
class PlacedRobot:
    """A robot of a scene: its name, URDF and where its base sits in the world."""

    name: str
    urdf: Path
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    base: Literal["fixed", "floating"] | None = None  # None: what the URDF declares
    home: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Scene:
    """The compiled scene plus the bookkeeping that maps robot-local names to scene indices.

    Attributes:
        robot: the whole scene as one :class:`~clankers.sim.Robot` (its layout covers every robot).
        robot_names: robots in declaration order.
        prefixes: name prefix of each robot's joints and bodies (``""`` for a lone robot at the origin).
        joint_slices: each robot's contiguous slice of the layout (and so of the action vector).
    """

    robot: Robot
    robot_names: tuple[str, ...]
    prefixes: dict[str, str]
    joint_slices: dict[str, slice]

    def resolve_robot(self, robot: str | None) -> str:
        """``robot`` checked against the scene; ``None`` means the only robot (an error if there are several)."""
        if robot is None:
            if len(self.robot_names) != 1:
                raise ConfigError(
                    f"the scene has robots {list(self.robot_names)}; name one with `robot = ...`"
                )
            return self.robot_names[0]
        if robot not in self.prefixes:
            raise ConfigError(f"no robot named {robot!r}; the scene has {list(self.robot_names)}")
        return robot

    def joint_indices(self, robot: str | None, joints: Sequence[str] | None) -> np.ndarray:
        """Layout indices of ``joints`` (robot-local or full names); all of ``robot``'s joints if None.

        With ``robot=None`` and ``joints=None`` every joint of the scene is selected.
        """
        names = self.robot.layout.names
        if joints is None:
            if robot is None:
                return np.arange(len(names), dtype=np.intp)
            block = self.joint_slices[self.resolve_robot(robot)]
            return np.arange(block.start, block.stop, dtype=np.intp)
        indices = []
        for joint in joints:
            candidates = [joint]
            if robot is not None:
                candidates.insert(0, self.prefixes[self.resolve_robot(robot)] + joint)
            found = next((names.index(c) for c in candidates if c in names), None)
            if found is None:
                raise ConfigError(
                    f"no joint named {joint!r} (robot {robot!r}); the scene's joints are {list(names)}"
                )
            indices.append(found)
        return np.array(indices, dtype=np.intp)

    def body_id(self, robot: str | None, body: str) -> int:
        """MuJoCo id of a robot's body (URDF link) by its robot-local name."""
        full = self.prefixes[self.resolve_robot(robot)] + body
        body_id = mujoco.mj_name2id(self.robot.model, mujoco.mjtObj.mjOBJ_BODY, full)
        if body_id < 0:
            model = self.robot.model
            bodies = [model.body(i).name for i in range(1, model.nbody)]
            raise ConfigError(
                f"no body {full!r} in the scene (links fixed to the world are merged into it); bodies: {bodies}"
            )
        return body_id


_CACHE_SIZE = 8
_SCENES: OrderedDict[tuple[object, ...], Scene] = OrderedDict()


def _scene_key(
    robots: Sequence[PlacedRobot], config: SimConfig, name: str, visual: bool
) -> tuple[object, ...] | None:
    parts: list[object] = [name, config.model_dump_json(), visual]
    for r in robots:
        try:
            stat = Path(r.urdf).stat()
        except OSError:
            return None
        home = tuple(sorted((r.home or {}).items()))
        parts.append((r.name, str(r.urdf), stat.st_mtime_ns, stat.st_size, tuple(r.position), r.base, home))
    return tuple(parts)


def build_scene(
    robots: Sequence[PlacedRobot], config: SimConfig, name: str = "scene", *, visual: bool = True
) -> Scene:
    """Compile ``robots`` into one scene (see the module docstring for names and layout).

    ``visual=False`` leaves out the robots' visual geometry (what only rendering needs; the physics is
    the same, bit for bit): a vendor's robot with detailed meshes (the Go1: a million mesh vertices,
    ~200 MB per model copy) then costs a few hundred kilobytes per environment.

    A process keeps the last few scenes it compiled (keyed by the URDF files' paths, sizes and
    modification times and every argument): the N environments of a vector env compile their robot
    once, and each gets its own copy of the MuJoCo model (copying a model is a memcpy, compiling a
    robot with meshes a good fraction of a second).

    Raises:
        ConfigError: no robots, or two robots with the same name.
        RobotDescriptionError: a URDF that :func:`clankers.sim.load_robot` rejects.
    """
    if not robots:
        raise ConfigError("a task needs at least one robot; add a [[robots]] entry with a urdf")
    names = [r.name for r in robots]
    if len(set(names)) != len(names):
        raise ConfigError(f"robot names must be unique, got {names}; rename one of them")
    key = _scene_key(robots, config, name, visual)
    scene = _SCENES.get(key) if key is not None else None
    if scene is None:
        scene = _compile_scene(robots, config, name, visual)
        if key is not None:
            _SCENES[key] = scene
            while len(_SCENES) > _CACHE_SIZE:
                _SCENES.popitem(last=False)
    else:
        _SCENES.move_to_end(key)
    return dataclasses.replace(
        scene, robot=dataclasses.replace(scene.robot, model=copy.copy(scene.robot.model))
    )


def _compile_scene(robots: Sequence[PlacedRobot], config: SimConfig, name: str, visual: bool) -> Scene:
    names = [r.name for r in robots]
    # A lone floating robot stays alone wherever it starts: its position offsets the free joint.
    alone = len(robots) == 1 and (
        tuple(robots[0].position) == (0.0, 0.0, 0.0) or robots[0].base == "floating"
    )
    # Floor, sky and lights (clankers.render.scene): visual only, so the physics is the same without them.
    singles = [
        load_robot(
            r.urdf, config, base=r.base, home=r.home, visual=visual, scenery=decorate_spec if alone else None
        )
        for r in robots
    ]
    if alone:
        only = singles[0]
        place_floor(only.model)
        if only.base == "floating" and any(robots[0].position):
            only = place_floating(only, tuple(robots[0].position))  # type: ignore[arg-type]
        return Scene(
            only, (robots[0].name,), {robots[0].name: ""}, {robots[0].name: slice(0, len(only.layout))}
        )

    floating = [r.name for r, s in zip(robots, singles, strict=True) if s.base == "floating"]
    if floating:
        raise ConfigError(
            f"robots {floating} have floating bases; a scene of several robots supports fixed bases only",
            hint='simulate the floating robot alone, or give it base = "fixed"',
        )
    world = mujoco.MjSpec()
    world.modelname = name
    world.option.timestep = config.physics_dt
    world.option.gravity = list(config.gravity)
    world.option.integrator = INTEGRATORS[config.integrator]
    for placed, single in zip(robots, singles, strict=True):
        frame = world.worldbody.add_frame()
        frame.pos = list(placed.position)
        # robot_spec: the cleaned URDF the robot was loaded from (visual geometry included), same motors.
        world.attach(robot_spec(single), prefix=f"{placed.name}/", frame=frame)
    decorate_spec(world)
    try:
        model = world.compile()
    except Exception as exc:  # mujoco raises ValueError with its compiler's message
        raise RobotDescriptionError(f"MuJoCo cannot compile the scene {names}: {exc}") from exc
    place_floor(model)

    joints: list[JointInfo] = []
    slices: dict[str, slice] = {}
    for placed, single in zip(robots, singles, strict=True):
        start = len(joints)
        for joint in single.layout:
            full = f"{placed.name}/{joint.name}"
            jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, full)
            joints.append(
                JointInfo(
                    name=full,
                    kind=joint.kind,
                    effort_limit=joint.effort_limit,
                    lower=joint.lower,
                    upper=joint.upper,
                    qpos_index=int(model.jnt_qposadr[jid]),
                    qvel_index=int(model.jnt_dofadr[jid]),
                    actuator_index=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, f"{full}_motor"),
                    velocity_limit=joint.velocity_limit,
                )
            )
        slices[placed.name] = slice(start, len(joints))
    robot = Robot(
        name=name,
        model=model,
        layout=JointLayout(tuple(joints)),
        config=config,
        source=robots[0].urdf,
        home=np.concatenate([s.home_pose for s in singles]),
    )
    return Scene(robot, tuple(names), {n: f"{n}/" for n in names}, slices)
