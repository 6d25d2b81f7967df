"""Robots from URDF: MuJoCo model, joint layout and one actuator per actuated joint.

MuJoCo imports URDF through :class:`mujoco.MjSpec` but adds no actuators and uses its own default
timestep. :func:`load_robot` fixes both and pins down the **joint layout**: the order in which joints
appear in every observation and action vector. The layout is alphabetical by joint name, so it does not
depend on how the URDF happens to list its links, and two tools that read the same URDF agree on it.

The URDF ``effort`` limit is the joint's maximum force (prismatic, N) or torque (revolute, N m). Each
actuated joint gets a MuJoCo motor with ``gear = effort`` and ``ctrlrange = [-1, 1]``: a normalized
command of 1.0 is full effort. ``effort = 0`` makes the joint passive: its command is accepted and has no
effect (gear 0), which keeps action vectors one-entry-per-joint for every robot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mujoco
import numpy as np

from clankers.errors import RobotDescriptionError
from clankers.sim.config import SimConfig

JointKind = Literal["prismatic", "revolute", "continuous"]

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
    """

    name: str
    kind: JointKind
    effort_limit: float
    lower: float
    upper: float
    qpos_index: int
    qvel_index: int
    actuator_index: int

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

    def describe(self) -> list[dict[str, object]]:
        """Plain-data view (for logs, metadata and the CLI)."""
        return [
            {
                "name": j.name,
                "kind": j.kind,
                "effort_limit": j.effort_limit,
                "lower": j.lower,
                "upper": j.upper,
            }
            for j in self.joints
        ]


@dataclass(frozen=True)
class Robot:
    """A compiled robot: the MuJoCo model plus the joint layout that gives its vectors meaning."""

    name: str
    model: mujoco.MjModel
    layout: JointLayout
    config: SimConfig
    source: Path


INTEGRATORS = {
    "euler": mujoco.mjtIntegrator.mjINT_EULER,
    "implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST,
    "rk4": mujoco.mjtIntegrator.mjINT_RK4,
}


def _urdf_efforts_and_kinds(urdf_path: Path) -> dict[str, tuple[str, float]]:
    """Joint type and effort limit per joint, read from the URDF itself.

    MuJoCo keeps the effort as ``actfrcrange`` but loses the URDF joint type (continuous vs revolute
    both become hinges), so read both from the XML.
    """
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(urdf_path).getroot()
    except ET.ParseError as exc:
        raise RobotDescriptionError(f"{urdf_path} is not valid XML: {exc}; fix the URDF syntax") from exc
    result: dict[str, tuple[str, float]] = {}
    for joint in root.iter("joint"):
        name, kind = joint.get("name"), joint.get("type")
        if name is None or kind is None:
            raise RobotDescriptionError(f"{urdf_path}: every <joint> needs a name and a type")
        limit = joint.find("limit")
        effort = float(limit.get("effort", "0")) if limit is not None else 0.0
        if not np.isfinite(effort) or effort < 0:
            raise RobotDescriptionError(f"{urdf_path}: joint {name!r} has effort {effort}; use a value >= 0")
        result[name] = (kind, effort)
    return result


def load_robot(urdf: str | Path, config: SimConfig | None = None) -> Robot:
    """Load a URDF into MuJoCo with one normalized motor per 1-DoF joint.

    Args:
        urdf: path to the URDF file.
        config: timing, gravity and integrator; :class:`SimConfig` defaults when omitted.

    Raises:
        RobotDescriptionError: missing file, invalid XML, or joint types clankers cannot actuate
            (``floating`` and ``planar`` joints are rejected: their commands would not be one number).
    """
    config = config or SimConfig()
    path = Path(urdf)
    if not path.is_file():
        raise RobotDescriptionError(f"URDF file {path} does not exist; pass the path of a .urdf file")
    urdf_joints = _urdf_efforts_and_kinds(path)
    unsupported = {n: k for n, (k, _) in urdf_joints.items() if k in ("floating", "planar")}
    if unsupported:
        raise RobotDescriptionError(
            f"{path}: joints {unsupported} are not supported; clankers actuates 1-DoF joints "
            "(revolute, continuous, prismatic) and fixed joints"
        )
    try:
        spec = mujoco.MjSpec.from_file(str(path))
    except Exception as exc:  # mujoco raises ValueError with its parser's message
        raise RobotDescriptionError(f"MuJoCo cannot load {path}: {exc}") from exc

    spec.option.timestep = config.physics_dt
    spec.option.gravity = list(config.gravity)
    spec.option.integrator = INTEGRATORS[config.integrator]

    joint_names = sorted(j.name for j in spec.joints)
    for name in joint_names:
        _, effort = urdf_joints[name]
        actuator = spec.add_actuator()
        actuator.name = f"{name}_motor"
        actuator.trntype = mujoco.mjtTrn.mjTRN_JOINT
        actuator.target = name
        actuator.gear[0] = effort
        actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.ctrlrange = [-1.0, 1.0]
    try:
        model = spec.compile()
    except Exception as exc:
        raise RobotDescriptionError(f"MuJoCo cannot compile {path}: {exc}") from exc

    joints = []
    for name in joint_names:
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
        kind, effort = urdf_joints[name]
        limited = bool(model.jnt_limited[jid])
        lower, upper = model.jnt_range[jid] if limited else (-np.inf, np.inf)
        joints.append(
            JointInfo(
                name=name,
                kind="continuous"
                if kind == "continuous"
                else ("prismatic" if kind == "prismatic" else "revolute"),
                effort_limit=effort,
                lower=float(lower),
                upper=float(upper),
                qpos_index=int(model.jnt_qposadr[jid]),
                qvel_index=int(model.jnt_dofadr[jid]),
                actuator_index=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, f"{name}_motor"),
            )
        )
    return Robot(
        name=spec.modelname or path.stem,
        model=model,
        layout=JointLayout(tuple(joints)),
        config=config,
        source=path,
    )
