"""Robots from URDF: MuJoCo model, joint layout, base and one actuator per actuated joint.

MuJoCo imports URDF through :class:`mujoco.MjSpec` but adds no actuators and uses its own default
timestep. :func:`load_robot` first cleans the URDF (:mod:`clankers.sim.urdf`: extension elements,
package paths, meshes, inertias), then fixes both and pins down the **joint layout**: the order in which
joints appear in every observation and action vector. The layout is alphabetical by joint name, so it
does not depend on how the URDF happens to list its links, and two tools that read the same URDF agree
on it. Mimic joints follow their leader through an equality constraint and are not in the layout.

**Bases.** ``base="fixed"`` welds the URDF's root link to the world (what MuJoCo does with a URDF).
``base="floating"`` gives the root link a free joint and the world a ground plane with friction; contacts
come from the collision geometry. The free joint's start pose (``Robot.base_position``) puts the
lowest collision geometry on the ground with the joints at the robot's ``home`` pose.

The URDF ``effort`` limit is the joint's maximum force (prismatic, N) or torque (revolute, N m). Each
actuated joint gets a MuJoCo motor with ``gear = effort`` and ``ctrlrange = [-1, 1]``: a normalized
command of 1.0 is full effort. ``effort = 0`` makes the joint passive: its command is accepted and has no
effect (gear 0), which keeps action vectors one-entry-per-joint for every robot.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

import mujoco
import numpy as np
from pydantic import field_validator

from clankers.errors import RobotDescriptionError
from clankers.sim.config import SimConfig
from clankers.sim.model import ConfigModel
from clankers.sim.urdf import RobotImportWarning, UrdfDescription, read_urdf

JointKind = Literal["prismatic", "revolute", "continuous"]
Base = Literal["fixed", "floating"]

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"


def asset_path(relative: str) -> Path:
    """Path of a file shipped in the project's ``assets/`` folder (e.g. ``"urdf/cartpole.urdf"``)."""
    path = ASSETS_DIR / relative
    if not path.exists():
        raise RobotDescriptionError(f"asset {relative!r} not found under {ASSETS_DIR}; check the name")
    return path


@dataclass(frozen=True)
class JointInfo:
    """One actuated (1-DoF) joint of the layout.

    Attributes:
        name: joint name from the URDF.
        kind: ``prismatic`` (metres), ``revolute`` (radians, limited) or ``continuous`` (radians, unlimited).
        effort_limit: maximum force/torque; 0 for a passive joint.
        lower, upper: position limits, ``-inf``/``inf`` when unlimited.
        qpos_index, qvel_index: addresses in MuJoCo's ``qpos``/``qvel``.
        actuator_index: the motor driving this joint (exists for passive joints too, with gear 0).
        velocity_limit: the URDF's ``<limit velocity>`` (``inf`` when absent). MuJoCo does not enforce
            it; velocity targets are clipped to it.
    """

    name: str
    kind: JointKind
    effort_limit: float
    lower: float
    upper: float
    qpos_index: int
    qvel_index: int
    actuator_index: int
    velocity_limit: float = float("inf")

    @property
    def passive(self) -> bool:
        return self.effort_limit == 0.0


@dataclass(frozen=True)
class JointLayout:
    """The ordered joints of a robot: the meaning of each entry of its observation and action vectors."""

    joints: tuple[JointInfo, ...]

    def __len__(self) -> int:
        return len(self.joints)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.joints)

    def __getitem__(self, key: int | str) -> JointInfo:
        if isinstance(key, str):
            for joint in self.joints:
                if joint.name == key:
                    return joint
            raise KeyError(f"no joint named {key!r}; the layout has {list(self.names)}")
        return self.joints[key]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def effort_limits(self) -> np.ndarray:
        return np.array([j.effort_limit for j in self.joints], dtype=np.float64)

    @property
    def qpos_indices(self) -> np.ndarray:
        return np.array([j.qpos_index for j in self.joints], dtype=np.intp)

    @property
    def qvel_indices(self) -> np.ndarray:
        return np.array([j.qvel_index for j in self.joints], dtype=np.intp)

    @property
    def actuator_indices(self) -> np.ndarray:
        return np.array([j.actuator_index for j in self.joints], dtype=np.intp)

    @property
    def lower(self) -> np.ndarray:
        return np.array([j.lower for j in self.joints], dtype=np.float64)

    @property
    def upper(self) -> np.ndarray:
        return np.array([j.upper for j in self.joints], dtype=np.float64)

    @property
    def velocity_limits(self) -> np.ndarray:
        return np.array([j.velocity_limit for j in self.joints], dtype=np.float64)

    def describe(self) -> list[dict[str, object]]:
        """Plain-data view (for logs, metadata and the CLI)."""
        return [
            {
                "name": j.name,
                "kind": j.kind,
                "effort_limit": j.effort_limit,
                "lower": j.lower,
                "upper": j.upper,
                "velocity_limit": j.velocity_limit,
            }
            for j in self.joints
        ]


@dataclass(frozen=True)
class Robot:
    """A compiled robot: the MuJoCo model plus the joint layout that gives its vectors meaning.

    Attributes:
        base: ``"fixed"`` (root welded to the world) or ``"floating"`` (free joint, ground plane).
        home: the named default pose, one value per layout joint (zeros clipped into the limits unless
            given); position actions are offsets from it and ``Simulation.reset()`` starts there.
        base_body: MuJoCo id of the body carrying the free joint (-1 for a fixed base).
        base_position: start position of the free joint (the home pose standing on the ground).
        description: what the URDF reader found and changed (warnings, mimic joints, meshes).
    """

    name: str
    model: mujoco.MjModel
    layout: JointLayout
    config: SimConfig
    source: Path
    base: Base = "fixed"
    home: np.ndarray | None = None
    base_body: int = -1
    base_position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    description: UrdfDescription | None = None

    @property
    def home_pose(self) -> np.ndarray:
        """The home pose in layout order (a copy)."""
        if self.home is None:
            return np.clip(np.zeros(len(self.layout)), self.layout.lower, self.layout.upper)
        return np.array(self.home, dtype=np.float64)

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(self.description.warnings) if self.description is not None else ()


INTEGRATORS = {
    "euler": mujoco.mjtIntegrator.mjINT_EULER,
    "implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST,
    "rk4": mujoco.mjtIntegrator.mjINT_RK4,
}


class Ground(ConfigModel):
    """The ground plane a floating robot stands on (a MuJoCo plane geom at z = 0).

    ``friction`` is MuJoCo's (sliding, torsional, rolling) coefficient triple; contacts take the
    larger of the two geoms' values.
    """

    friction: tuple[float, float, float] = (1.0, 0.005, 0.0001)

    @field_validator("friction")
    @classmethod
    def _non_negative(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(np.isfinite(v) and v >= 0 for v in value):
            raise ValueError(f"ground friction {list(value)} must be finite and >= 0")
        return value


def _add_motors(spec: mujoco.MjSpec, names: list[str], efforts: Mapping[str, float]) -> None:
    for name in names:
        actuator = spec.add_actuator()
        actuator.name = f"{name}_motor"
        actuator.trntype = mujoco.mjtTrn.mjTRN_JOINT
        actuator.target = name
        actuator.gear[0] = efforts[name]
        actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.ctrlrange = [-1.0, 1.0]


def _spec_from(description: UrdfDescription) -> mujoco.MjSpec:
    try:
        return mujoco.MjSpec.from_string(description.xml)
    except Exception as exc:  # mujoco raises ValueError with its parser's message
        raise RobotDescriptionError(
            f"MuJoCo cannot load {description.path}: {exc}", hint="fix the element the message names"
        ) from exc


def compile_spec(spec: mujoco.MjSpec, description: UrdfDescription) -> mujoco.MjModel:
    """Compile, switching meshes MuJoCo finds too thin for a volume (a flat cover plate) to shell
    inertia, with a warning each; any other failure is a :class:`RobotDescriptionError`."""
    for _ in range(len(spec.meshes) + 1):
        try:
            return spec.compile()
        except Exception as exc:  # mujoco raises ValueError with its compiler's message
            thin = re.search(r"mesh volume is too small: (\S+)", str(exc))
            mesh = spec.mesh(thin.group(1)) if thin else None
            if mesh is None or mesh.inertia == mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL:
                raise RobotDescriptionError(
                    f"MuJoCo cannot compile {description.path}: {exc}",
                    hint="fix the element the message names",
                ) from exc
            mesh.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL
            note = f"mesh {mesh.file}: volume too small for a solid; its inertia is computed as a shell"
            description.warnings.append(note)
            warnings.warn(f"{description.path.name}: {note}", RobotImportWarning, stacklevel=3)
    raise AssertionError("unreachable")


def robot_spec(robot: Robot) -> mujoco.MjSpec:
    """A fresh spec of ``robot`` (cleaned URDF, free joint when floating, the same normalized motors),
    without global options or ground: the unit a multi-robot scene attaches."""
    if robot.description is None:
        raise RobotDescriptionError(f"{robot.name} was not loaded from a URDF", hint="use load_robot")
    spec = _spec_from(robot.description)
    if robot.base == "floating":
        body = spec.worldbody.first_body()
        body.add_freejoint().name = f"{body.name}_free"
    _add_motors(spec, list(robot.layout.names), {j.name: j.effort_limit for j in robot.layout})
    for mesh in spec.meshes:  # the shell choices made when the robot was loaded
        if any(mesh.file in w and "as a shell" in w for w in robot.warnings):
            mesh.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL
    return spec


def resolve_pose(
    names: tuple[str, ...], pose: Mapping[str, float] | None, what: str = "home"
) -> dict[str, float]:
    """Per-joint values from a mapping of joint names or glob patterns (exact names win over patterns).

    Raises:
        ConfigError: a key that matches no joint.
    """
    from clankers.errors import ConfigError

    values: dict[str, float] = {}
    for key, value in (pose or {}).items():
        matched = [n for n in names if n == key] or [n for n in names if fnmatchcase(n, key)]
        if not matched:
            raise ConfigError(f"{what}: {key!r} matches no joint; the joints are {list(names)}")
        for name in matched:
            if name == key or name not in values:
                values[name] = float(value)
    return values


def load_robot(
    urdf: str | Path,
    config: SimConfig | None = None,
    *,
    base: Base | None = None,
    package_dirs: Mapping[str, str | Path] | None = None,
    visual: bool = True,
    home: Mapping[str, float] | None = None,
    ground: Ground | None = None,
    scenery: Callable[[mujoco.MjSpec], object] | None = None,
) -> Robot:
    """Load a URDF into MuJoCo with one normalized motor per actuated 1-DoF joint.

    Args:
        urdf: path to the URDF file.
        config: timing, gravity and integrator; :class:`SimConfig` defaults when omitted.
        base: ``"fixed"`` or ``"floating"``; ``None`` takes what the URDF declares (a ``floating`` joint
            from its root) and ``"fixed"`` otherwise.
        package_dirs: folders of ROS packages for ``package://`` mesh paths (see :mod:`clankers.sim.urdf`).
        visual: keep visual geometry (contype 0, group 1) for rendering; ``False`` skips it (faster).
        home: the default pose by joint name or glob pattern (``{"*_calf_joint": -1.8}``); other joints
            are 0 clipped into their limits.
        ground: the plane of a floating robot (default friction when omitted); ignored for fixed bases.
        scenery: called with the spec just before it is compiled, to add what has no physics (floor
            texture, lights, cameras: :func:`clankers.render.scene.decorate_spec`).
        scenery: called with the spec just before it is compiled, to add what only the eye needs (floor
            texture, lights: :func:`clankers.render.decorate_spec`); it must not change the physics.

    Raises:
        RobotDescriptionError: missing file, invalid XML, a URDF structure MuJoCo cannot simulate, a
            collision mesh that cannot be found; the message names the file and element, ``hint`` the fix.
        ConfigError: a ``home`` key that matches no joint.
    """
    config = config or SimConfig()
    description = read_urdf(urdf, package_dirs=package_dirs, visual=visual, base=base)
    path = description.path
    if base is None:
        base = "floating" if description.floating_root else "fixed"
    if base not in ("fixed", "floating"):
        from clankers.errors import ConfigError

        raise ConfigError(f"base must be 'fixed' or 'floating', got {base!r}")
    if base == "fixed" and description.floating_root:
        raise RobotDescriptionError(
            f"{path}: the URDF declares a floating root joint but base='fixed' was asked",
            hint="load it with base='floating' (or base=None)",
        )
    spec = _spec_from(description)
    spec.option.timestep = config.physics_dt
    spec.option.gravity = list(config.gravity)
    spec.option.integrator = INTEGRATORS[config.integrator]

    mimics = {n for n, j in description.joints.items() if j.mimic is not None}
    actuated = sorted(
        j.name
        for j in spec.joints
        if j.type in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE) and j.name not in mimics
    )
    if base == "floating":
        body = spec.worldbody.first_body()
        if body is None:
            raise RobotDescriptionError(f"{path}: no link to float", hint="add links to the URDF")
        body.add_freejoint().name = f"{body.name}_free"
        plane = spec.worldbody.add_geom()
        plane.name = "ground"
        plane.type = mujoco.mjtGeom.mjGEOM_PLANE
        plane.size = [0.0, 0.0, 0.05]  # infinite plane; 0.05 is the rendering grid spacing
        plane.friction = list((ground or Ground()).friction)
    efforts = {n: description.joints[n].effort for n in actuated}
    _add_motors(spec, actuated, efforts)
    if scenery is not None:
        scenery(spec)
    model = compile_spec(spec, description)

    joints = []
    for name in actuated:
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
        urdf_joint = description.joints[name]
        limited = bool(model.jnt_limited[jid])
        lower, upper = model.jnt_range[jid] if limited else (-np.inf, np.inf)
        kind: JointKind = (
            "prismatic" if urdf_joint.type == "prismatic" else ("revolute" if limited else "continuous")
        )
        joints.append(
            JointInfo(
                name=name,
                kind=kind,
                effort_limit=urdf_joint.effort,
                lower=float(lower),
                upper=float(upper),
                qpos_index=int(model.jnt_qposadr[jid]),
                qvel_index=int(model.jnt_dofadr[jid]),
                actuator_index=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, f"{name}_motor"),
                velocity_limit=urdf_joint.velocity,
            )
        )
    layout = JointLayout(tuple(joints))
    home_values = resolve_pose(layout.names, home)
    home_pose = np.clip(
        np.array([home_values.get(n, 0.0) for n in layout.names], dtype=np.float64),
        layout.lower,
        layout.upper,
    )
    base_body, base_position = -1, (0.0, 0.0, 0.0)
    if base == "floating":
        base_body = int(model.body_rootid[1]) if model.nbody > 1 else 1
        height = standing_height(model, layout, home_pose, base_body)
        base_position = (0.0, 0.0, height)
        adr = int(model.jnt_qposadr[model.body_jntadr[base_body]])
        model.qpos0[adr : adr + 3] = base_position
    return Robot(
        name=spec.modelname or path.stem,
        model=model,
        layout=layout,
        config=config,
        source=path,
        base=base,
        home=home_pose,
        base_body=base_body,
        base_position=base_position,
        description=description,
    )


def place_floating(robot: Robot, offset: tuple[float, float, float]) -> Robot:
    """``robot`` (floating) starting at ``base_position + offset``: a copy with its own model."""
    if robot.base != "floating":
        raise RobotDescriptionError(f"{robot.name} has a fixed base", hint="load it with base='floating'")
    model = copy.copy(robot.model)
    adr = int(model.jnt_qposadr[model.body_jntadr[robot.base_body]])
    position = tuple(float(p + o) for p, o in zip(robot.base_position, offset, strict=True))
    model.qpos0[adr : adr + 3] = position
    return dataclasses.replace(robot, model=model, base_position=position)  # type: ignore[arg-type]


def standing_height(model: mujoco.MjModel, layout: JointLayout, pose: np.ndarray, base_body: int) -> float:
    """Height of the free joint at which the lowest collision geometry touches z = 0, joints at ``pose``
    and the base level (exact for spheres, capsules, cylinders, ellipsoids, boxes and meshes)."""
    data = mujoco.MjData(model)
    data.qpos[layout.qpos_indices] = pose
    adr = int(model.jnt_qposadr[model.body_jntadr[base_body]])
    data.qpos[adr : adr + 7] = [0, 0, 0, 1, 0, 0, 0]
    mujoco.mj_kinematics(model, data)
    lowest = np.inf
    for g in range(model.ngeom):
        if model.geom_bodyid[g] == 0 or not (model.geom_contype[g] or model.geom_conaffinity[g]):
            continue
        lowest = min(lowest, _lowest_point(model, data, g))
    return 0.0 if not np.isfinite(lowest) else -lowest


def _lowest_point(model: mujoco.MjModel, data: mujoco.MjData, g: int) -> float:
    """World z of the lowest point of geom ``g`` (kinematics must be current)."""
    z = float(data.geom_xpos[g, 2])
    up = data.geom_xmat[g].reshape(3, 3)[2]  # world z of each geom axis
    size = model.geom_size[g]
    kind = model.geom_type[g]
    if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
        return z - size[0]
    if kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
        return z - abs(up[2]) * size[1] - size[0]
    if kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
        return z - abs(up[2]) * size[1] - size[0] * float(np.sqrt(max(0.0, 1.0 - up[2] ** 2)))
    if kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
        return z - float(np.sqrt(np.sum((up * size) ** 2)))
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        return z - float(np.abs(up) @ size)
    if kind == mujoco.mjtGeom.mjGEOM_MESH:
        mesh = model.geom_dataid[g]
        start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
        return z + float(np.min(model.mesh_vert[start : start + count] @ up))
    center, half = model.geom_aabb[g, :3], model.geom_aabb[g, 3:]
    return z + float(up @ center - np.abs(up) @ half)
