"""Episode recordings in MCAP that replay: physics state per step, Foxglove-ready, self-describing.

MCAP is the log container robotics tools read (Foxglove, ROS 2 bag tooling). A clankers recording holds:

| topic                 | encoding | schema                       | one message per                         |
|-----------------------|----------|------------------------------|-----------------------------------------|
| ``/clankers/state``   | protobuf | ``clankers.State``           | state: after reset, then after each step |
| ``/clankers/episode`` | json     | ``clankers.Episode``         | episode (seed, return, length, ending)  |
| ``/tf``               | protobuf | ``foxglove.FrameTransforms`` | state: every body's pose in its parent  |
| ``/joint_states``     | protobuf | ``foxglove.JointStates``     | state: joint positions, velocities      |
| ``/robot_description``| json     | ``clankers.RobotDescription``| robot, once: the URDF text (``data``)   |

A state message (``clankers.State``, its protobuf schema stored in the file) carries ``episode``,
``step`` (0 right after the reset), simulation ``time``, ``qpos``, ``qvel``, ``ctrl`` (MuJoCo's full
vectors), the ``observation``, and for every state after the first of an episode the ``action`` that led
to it and the ``reward`` it earned (step 0 has no action and a reward of 0). That is enough to put the
simulation back in each recorded state and render it again (:mod:`clankers.viz.replay`): the physics is
not re-run, so a replay shows exactly what happened.

Per-body transforms use MuJoCo body names, which are the URDF link names (prefixed ``"<robot>/"`` in a
multi-robot scene); the root of each robot hangs from the frame ``world``, links fused into their parent
by the import get their fixed transform. So Foxglove's 3D panel, given the URDF (from the
``/robot_description`` topic or the attachment), draws the robot moving; its Plot panel plots
``/joint_states`` and any field of ``/clankers/state``.

The file's ``clankers`` metadata names the task, the Gymnasium id, the policy, the control period and
the joint and observation names; ``clankers.sources`` lists the task file and robot descriptions with
their SHA-256, and each of those files is attached whole, so a recording can be replayed on another
machine (or checked against the files there).

Log time is simulated time, offset so that episodes follow one another.

Cost. Recording must not slow a run by more than 10%, writing the file included
(``benchmarks/bench_render.py``). So the run only copies numbers into preallocated rows
(:class:`StateRecorder`: seven array assignments per step), and the file is
written for all steps at once: body poses by MuJoCo's kinematics vectorized over the states
(:func:`_body_poses`), and every message encoded by :mod:`clankers.envs.mcap_batch` (templates filled
with numpy), rather than one Python call per message and per field (``mcap``'s ``Writer.add_message``
and protobuf's message classes), which cost more than the simulation step itself. Chunks are
uncompressed by default (the cheapest to write); ``write_recording(..., compression="lz4")`` or
``"zstd"`` makes smaller files. Format version 2 (JSON states) is still read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from mcap.reader import make_reader
from mcap.records import Message

from clankers.envs import mcap_batch as mb
from clankers.errors import ConfigError

FORMAT_VERSION = "3"
READABLE_VERSIONS = ("2", "3")  # 2: the same channels, states as JSON
STATE_TOPIC = "/clankers/state"
EPISODE_TOPIC = "/clankers/episode"
TF_TOPIC = "/tf"
JOINTS_TOPIC = "/joint_states"
DESCRIPTION_TOPIC = "/robot_description"
STEP_TOPIC = STATE_TOPIC  # the name of version 1, kept for readers

STATE_FIELDS = (  # clankers.State: (name, protobuf type, repeated, meaning)
    ("episode", "fixed32", False, "episode index in the file"),
    ("step", "fixed32", False, "0 = right after reset"),
    ("time", "double", False, "simulated seconds since reset"),
    ("qpos", "double", True, "MuJoCo qpos"),
    ("qvel", "double", True, "MuJoCo qvel"),
    ("ctrl", "double", True, "MuJoCo ctrl"),
    ("observation", "double", True, "the observation (flattened)"),
    ("action", "double", True, "the action that led here (empty at step 0)"),
    ("reward", "double", False, "the reward that action earned (0 at step 0)"),
)
EPISODE_SCHEMA = {
    "type": "object",
    "properties": {
        "episode": {"type": "integer"},
        "seed": {"type": ["integer", "null"]},
        "return": {"type": "number"},
        "length": {"type": "integer"},
        "terminated": {"type": "boolean"},
    },
}
DESCRIPTION_SCHEMA = {
    "type": "object",
    "properties": {"robot": {"type": "string"}, "path": {"type": "string"}, "data": {"type": "string"}},
}


@functools.cache
def state_message() -> tuple[Any, bytes]:
    """The ``clankers.State`` protobuf class and its schema (a serialized ``FileDescriptorSet``)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(
        name="clankers/state.proto", package="clankers", syntax="proto3"
    )
    message = proto.message_type.add(name="State")
    for number, (name, kind, repeated, _) in enumerate(STATE_FIELDS, start=1):
        message.field.add(
            name=name,
            number=number,
            type=getattr(descriptor_pb2.FieldDescriptorProto, f"TYPE_{kind.upper()}"),
            label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
            if repeated
            else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("clankers.State"))
    return cls, descriptor_pb2.FileDescriptorSet(file=[proto]).SerializeToString()


@dataclass
class RecordedEpisode:
    """One episode's states (``T + 1`` rows: after reset, then after each of ``T`` steps) and steps."""

    seed: int | None
    time: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    ctrl: np.ndarray
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool = False

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def episode_return(self) -> float:
        return float(np.sum(self.rewards))


def _action_dtype(space: Any) -> np.dtype:
    """The dtype to keep actions of ``space`` in: its own when floating (policies answer in it, so
    actions are copied without conversion), else float64."""
    dtype = np.dtype(getattr(space, "dtype", None) or np.float64)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _flat(value: Any) -> np.ndarray:
    if isinstance(value, dict):
        return np.concatenate([np.asarray(value[k], dtype=np.float64).ravel() for k in value])
    return np.asarray(value, dtype=np.float64).ravel()


class StateRecorder(gym.Wrapper):
    """Keep the physics state after every reset and step of a clankers environment.

    Per step, ``time``, ``qpos``, ``qvel``, ``ctrl``, the observation, the action and the reward are
    copied into the next row of preallocated arrays shared by all episodes: seven array assignments,
    about 1 µs each right after MuJoCo's step (cold caches; measured in the loop, one ``mj_getState``
    for the first four, or one copy of their span of MjData, saves nothing). Nothing is encoded until
    :func:`write_recording`. A finished episode, in :attr:`episodes`, holds views of its rows (rows are
    only ever appended, so they never change); an episode cut short by a new reset is kept too.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if not hasattr(env.unwrapped, "sim"):
            raise ConfigError(
                f"{env.unwrapped!r} has no MuJoCo simulation (`sim`) to record; record clankers tasks"
            )
        self.episodes: list[RecordedEpisode] = []
        self._recording = False  # an episode is in progress
        self._start = self._count = self._capacity = 0  # its first row; rows used; rows allocated
        self._data: Any = None
        self._width = -1
        self._seed: int | None = None
        self._terminated = False

    def _allocate(self, data: Any, obs: Any) -> None:
        """Rows for this simulation and observation size (a reset may rebuild either)."""
        self._data = data
        self._qpos_now, self._qvel_now, self._ctrl_now = data.qpos, data.qvel, data.ctrl  # live views
        self._fast_obs = isinstance(obs, np.ndarray) and obs.ndim == 1
        self._width = obs.size if self._fast_obs else _flat(obs).size
        n_act = int(gym.spaces.flatdim(self.action_space)) if self.action_space is not None else 0
        self._count = self._capacity = 0
        self._rows = {
            "time": np.zeros(0),
            "qpos": np.zeros((0, data.qpos.size)),
            "qvel": np.zeros((0, data.qvel.size)),
            "ctrl": np.zeros((0, data.ctrl.size)),
            # the observation's own dtype: copied without conversion (a writer converts it)
            "observations": np.zeros((0, self._width), obs.dtype if self._fast_obs else np.float64),
            "actions": np.zeros((0, n_act), _action_dtype(self.action_space)),
            "rewards": np.zeros(0),
        }
        self._grow()

    def _grow(self) -> None:
        """More rows (twice as many): the rows so far are copied; views of the old ones stay valid."""
        capacity = max(1024, 2 * self._capacity)
        for name, old in self._rows.items():
            new = np.zeros((capacity, *old.shape[1:]), old.dtype)
            new[: self._count] = old[: self._count]
            self._rows[name] = new
        self._capacity = capacity
        rows = self._rows
        self._time, self._qpos, self._qvel, self._ctrl = (
            rows["time"],
            rows["qpos"],
            rows["qvel"],
            rows["ctrl"],
        )
        self._obs, self._act, self._rew = rows["observations"], rows["actions"], rows["rewards"]

    def _close_episode(self) -> None:
        if not self._recording:
            return
        start, end = self._start, self._count
        rows = self._rows
        self.episodes.append(
            RecordedEpisode(
                seed=self._seed,
                time=rows["time"][start:end],
                qpos=rows["qpos"][start:end],
                qvel=rows["qvel"][start:end],
                ctrl=rows["ctrl"][start:end],
                observations=rows["observations"][start:end],
                actions=rows["actions"][start + 1 : end],
                rewards=rows["rewards"][start + 1 : end],
                terminated=bool(self._terminated),
            )
        )
        self._recording = False

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._close_episode()
        obs, info = self.env.reset(**kwargs)
        data = self.env.unwrapped.sim.data  # type: ignore[attr-defined]
        if data is not self._data or np.size(obs) != self._width:
            self._allocate(data, obs)
        self._seed = kwargs.get("seed")
        self._terminated = False
        self._start = row = self._count
        if row == self._capacity:
            self._grow()
        self._time[row] = data.time
        self._qpos[row] = self._qpos_now
        self._qvel[row] = self._qvel_now
        self._ctrl[row] = self._ctrl_now
        self._obs[row] = obs if self._fast_obs else _flat(obs)
        self._count = row + 1
        self._recording = True
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        result = self.env.step(action)
        if self._recording:
            row = self._count
            if row == self._capacity:
                self._grow()
            self._time[row] = self._data.time
            self._qpos[row] = self._qpos_now
            self._qvel[row] = self._qvel_now
            self._ctrl[row] = self._ctrl_now
            self._obs[row] = result[0] if self._fast_obs else _flat(result[0])
            try:
                if getattr(action, "dtype", None) is not self._act.dtype:
                    raise TypeError  # not the usual case: a copy without conversion
                self._act[row] = action
            except (TypeError, ValueError):  # another dtype, a list, a dict, another shape
                self._store_action(row, action)
            self._rew[row] = result[1]
            self._terminated = result[2]
            self._count = row + 1
        return result

    def _store_action(self, row: int, action: Any) -> None:
        """An action of another dtype than the rows' (or a list, a dict): stored exactly, the rows
        widened to float64 first if the action would not fit (earlier rows are copied, exactly)."""
        values = np.asarray(action)
        if values.dtype.kind not in "fiub" or values.size != self._act.shape[1]:
            values = _flat(action)
        if not np.can_cast(values.dtype, self._act.dtype, "safe"):
            self._rows["actions"] = self._rows["actions"].astype(np.float64)
            self._act = self._rows["actions"]
        self._act[row] = values.ravel()

    def finish(self) -> list[RecordedEpisode]:
        """Close the episode in progress and return every episode recorded."""
        self._close_episode()
        return self.episodes

    def close(self) -> None:
        self._close_episode()
        super().close()


# --- Foxglove frames --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StaticFrame:
    parent: str
    child: str
    translation: tuple[float, float, float]
    rotation: tuple[float, float, float, float]  # x, y, z, w (Foxglove's order)


def _rpy_quat(rpy: Sequence[float]) -> np.ndarray:
    """URDF roll-pitch-yaw (fixed axes X, Y, Z) as a MuJoCo quaternion (w, x, y, z)."""
    quat = np.zeros(4)
    mujoco.mju_euler2Quat(quat, np.asarray(rpy, dtype=np.float64), "XYZ")
    return quat


def _fused_frames(
    urdf_text: str, bodies: set[str], prefix: str, origin: Sequence[float]
) -> list[_StaticFrame]:
    """Frames of URDF links that are not MuJoCo bodies (fused into the world or their parent by the
    import): the root link at the robot's position in ``world``, others by their fixed joint's origin."""
    root = ET.fromstring(urdf_text)
    links = [link.get("name", "") for link in root.iter("link")]
    children = {}
    frames: list[_StaticFrame] = []
    for joint in root.iter("joint"):
        parent, child = joint.find("parent"), joint.find("child")
        if parent is None or child is None:
            continue
        children[child.get("link", "")] = joint
    for link in links:
        if prefix + link in bodies:
            continue
        joint = children.get(link)
        if joint is None:  # the root link, welded to the world
            frames.append(
                _StaticFrame("world", prefix + link, tuple(map(float, origin)), (0.0, 0.0, 0.0, 1.0))
            )
            continue
        if joint.get("type") != "fixed":
            continue
        element = joint.find("origin")
        xyz = [float(v) for v in (element.get("xyz", "0 0 0") if element is not None else "0 0 0").split()]
        rpy = [float(v) for v in (element.get("rpy", "0 0 0") if element is not None else "0 0 0").split()]
        w, x, y, z = _rpy_quat(rpy)
        parent_link = joint.find("parent").get("link", "")  # type: ignore[union-attr]
        frames.append(
            _StaticFrame(prefix + parent_link, prefix + link, (xyz[0], xyz[1], xyz[2]), (x, y, z, w))
        )
    return frames


def _body_poses(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """Every body but the world in its parent's frame, for each row of ``qpos``: ``(T, nbody - 1, 7)``,
    translation ``x, y, z`` then rotation ``x, y, z, w`` (Foxglove's order).

    MuJoCo's forward kinematics (``mj_kinematics``) restricted to one body's own joints, done for all
    rows at once: a body sits at ``body_pos``/``body_quat`` in its parent, then each of its joints
    moves it (a slide along its axis, a hinge about its axis through its anchor, a ball by its
    quaternion; a free joint places a child of the world directly). One ``mj_kinematics`` call per row
    costs more than recording the step did (the Python call, not the arithmetic), so this runs a few
    numpy operations per joint instead, on components (rows of ``(4, T)`` arrays);
    ``tests/test_recording.py`` checks it against ``mj_kinematics`` on every registered task."""
    rows = len(qpos)
    q = np.ascontiguousarray(np.asarray(qpos, dtype=np.float64).T)  # (nq, T): one row per coordinate
    out = np.empty((model.nbody - 1, 7, rows))
    for body in range(1, model.nbody):
        pos = [np.full(rows, v) for v in model.body_pos[body]]
        quat = [np.full(rows, v) for v in model.body_quat[body]]
        first = model.body_jntadr[body]
        for joint in range(first, first + model.body_jntnum[body]):
            kind, adr = model.jnt_type[joint], model.jnt_qposadr[joint]
            axis, anchor = model.jnt_axis[joint], model.jnt_pos[joint]
            if kind == mujoco.mjtJoint.mjJNT_FREE:
                if model.body_parentid[body] != 0:  # a free joint in a nested body: world coordinates
                    return _body_poses_stepwise(model, qpos)
                pos, quat = list(q[adr : adr + 3]), list(q[adr + 3 : adr + 7])
            elif kind == mujoco.mjtJoint.mjJNT_SLIDE:
                shift = q[adr] - model.qpos0[adr]
                pos = [p + d * shift for p, d in zip(pos, _rotate(quat, axis), strict=True)]
            else:
                if kind == mujoco.mjtJoint.mjJNT_BALL:
                    local = list(q[adr : adr + 4] / np.sqrt((q[adr : adr + 4] ** 2).sum(axis=0)))
                else:  # hinge
                    half = 0.5 * (q[adr] - model.qpos0[adr])
                    sine = np.sin(half)
                    local = [np.cos(half), sine * axis[0], sine * axis[1], sine * axis[2]]
                moved = any(anchor)  # rotation about an anchor off the body's origin shifts it
                center = [p + d for p, d in zip(pos, _rotate(quat, anchor), strict=True)] if moved else pos
                quat = _quat_mul(quat, local)
                pos = [c - d for c, d in zip(center, _rotate(quat, anchor), strict=True)] if moved else pos
        norm = np.sqrt(quat[0] ** 2 + quat[1] ** 2 + quat[2] ** 2 + quat[3] ** 2)
        out[body - 1] = [*pos, quat[1] / norm, quat[2] / norm, quat[3] / norm, quat[0] / norm]
    return out.transpose(2, 0, 1)


def _quat_mul(a: Sequence[Any], b: Sequence[Any]) -> list[Any]:
    """Hamilton product of (w, x, y, z) quaternions given by components (arrays or numbers)."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return [
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ]


def _rotate(quat: Sequence[Any], vector: Sequence[Any]) -> list[Any]:
    """``vector`` rotated by the unit (w, x, y, z) quaternion ``quat``, by components:
    v + 2w (u x v) + 2 u x (u x v)."""
    w, x, y, z = quat
    vx, vy, vz = vector
    tx, ty, tz = 2 * (y * vz - z * vy), 2 * (z * vx - x * vz), 2 * (x * vy - y * vx)
    return [vx + w * tx + y * tz - z * ty, vy + w * ty + z * tx - x * tz, vz + w * tz + x * ty - y * tx]


def _body_poses_stepwise(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """:func:`_body_poses` through ``mj_kinematics``, row by row (slower; any model)."""
    data = mujoco.MjData(model)
    xpos = np.empty((len(qpos), model.nbody, 3))
    xquat = np.empty((len(qpos), model.nbody, 4))
    for row, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        xpos[row], xquat[row] = data.xpos, data.xquat
    bodies = np.arange(1, model.nbody)
    parents = model.body_parentid[bodies]
    inverse = np.moveaxis(xquat[:, parents] * np.array([1.0, -1.0, -1.0, -1.0]), -1, 0)  # conjugates
    rotation = _quat_mul(inverse, np.moveaxis(xquat[:, bodies], -1, 0))
    offset = np.moveaxis(xpos[:, bodies] - xpos[:, parents], -1, 0)
    local = _rotate(inverse, offset)  # p_local = R_parent^T (p - p_parent)
    return np.stack([*local, *rotation[1:], rotation[0]], axis=-1)


# --- sources ----------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def env_sources(env: gym.Env) -> dict[str, Any]:
    """The task file and robot descriptions an environment was built from, with their SHA-256."""
    base = env.unwrapped
    robots = []
    config = getattr(base, "config", None)
    for robot in getattr(config, "robots", []) or []:
        path = Path(robot.urdf)
        robots.append(
            {
                "name": robot.name,
                "urdf": str(path),
                "sha256": _sha256(path) if path.is_file() else None,
                "position": list(map(float, getattr(robot, "position", (0.0, 0.0, 0.0)))),
            }
        )
    task_file = None
    source = getattr(config, "source", None)
    if source is None:
        spec = getattr(base, "spec", None) or getattr(env, "spec", None)
        try:
            from clankers.envs import find_task

            entry = find_task(spec.id) if spec is not None else None
            source = getattr(entry, "source", None)
        except Exception:  # an env registered outside clankers
            source = None
    if source is not None and Path(source).is_file():
        task_file = {"path": str(source), "sha256": _sha256(Path(source))}
    return {"task_file": task_file, "robots": robots}


# --- writing ----------------------------------------------------------------------------------------


@functools.cache
def _foxglove_schemas() -> tuple[tuple[Any, bytes], tuple[Any, bytes]]:
    """``foxglove.FrameTransforms`` and ``foxglove.JointStates``: descriptors and schemas (serialized
    ``FileDescriptorSet`` messages, as ``mcap-protobuf-support`` registers them)."""
    try:
        from foxglove_schemas_protobuf.FrameTransforms_pb2 import FrameTransforms
        from foxglove_schemas_protobuf.JointStates_pb2 import JointStates
        from mcap_protobuf.schema import build_file_descriptor_set
    except ImportError as exc:
        raise ConfigError(
            "recordings use Foxglove's protobuf schemas; install the viz extra: pip install 'clankers[viz]'"
        ) from exc
    frames, joints = (
        (cls.DESCRIPTOR, build_file_descriptor_set(cls).SerializeToString())
        for cls in (FrameTransforms, JointStates)
    )
    return frames, joints


def write_recording(
    path: str | Path,
    episodes: Sequence[RecordedEpisode],
    env: gym.Env,
    metadata: Mapping[str, str] | None = None,
    foxglove: bool = True,
    compression: str = "",
    chunk_size: int = 1 << 20,
) -> Path:
    """Write ``episodes`` (from :class:`StateRecorder`) of ``env`` to ``path``, atomically.

    ``metadata`` is added to the ``clankers`` record (policy, seed, ...). ``foxglove=False`` leaves out
    the ``/tf`` and ``/joint_states`` channels (replay does not need them). ``chunk_size`` (bytes before
    compression) and ``compression`` shape the MCAP chunks: ``""`` (none, the default: about 600 bytes
    per cart-pole step, and the cheapest to write), ``"lz4"`` (40% of the size, about 1 µs more per
    step) or ``"zstd"`` (30%, a little slower still); Foxglove and ``mcap`` read all three.
    """
    base = env.unwrapped
    model: mujoco.MjModel = base.sim.model  # type: ignore[attr-defined]
    layout = base.layout  # type: ignore[attr-defined]
    dt = float(getattr(base, "dt", 0.0) or 1e-3)
    sources = env_sources(env)
    spec = getattr(env, "spec", None) or getattr(base, "spec", None)
    info = {
        "format": FORMAT_VERSION,
        "task": str((metadata or {}).get("task", getattr(spec, "id", "") or "")),
        "env_id": str(getattr(spec, "id", "") or ""),
        "control_dt": repr(dt),
        "joint_names": json.dumps(list(layout.names)),
        "observation_names": json.dumps(list(getattr(base, "observation_names", ()) or ())),
        "nq": str(model.nq),
        "nv": str(model.nv),
        "nu": str(model.nu),
        "mujoco": mujoco.__version__,
        **{k: str(v) for k, v in (metadata or {}).items()},
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as stream:
            writer = mb.BatchWriter(stream, compression=compression, chunk_size=chunk_size)
            writer.start(profile="", library="clankers")
            channels: dict[str, int] = {}

            def register(topic: str, name: str, encoding: str, schema: bytes) -> None:
                schema_encoding = "jsonschema" if encoding == "json" else encoding
                channels[topic] = writer.register_channel(
                    topic, encoding, writer.register_schema(name, schema_encoding, schema)
                )

            register(STATE_TOPIC, "clankers.State", "protobuf", state_message()[1])
            register(EPISODE_TOPIC, "clankers.Episode", "json", json.dumps(EPISODE_SCHEMA).encode())
            register(
                DESCRIPTION_TOPIC,
                "clankers.RobotDescription",
                "json",
                json.dumps(DESCRIPTION_SCHEMA).encode(),
            )
            messages = {STATE_TOPIC: None}
            if foxglove:
                for topic, (descriptor, schema) in zip(
                    (TF_TOPIC, JOINTS_TOPIC), _foxglove_schemas(), strict=True
                ):
                    register(topic, descriptor.full_name, "protobuf", schema)
                    messages[topic] = descriptor
            writer.add_metadata("clankers", info)
            writer.add_metadata("clankers.sources", {"sources": json.dumps(sources)})
            files = [sources["task_file"]["path"]] if sources["task_file"] else []
            files += [r["urdf"] for r in sources["robots"] if Path(r["urdf"]).is_file()]
            for file in dict.fromkeys(files):
                writer.add_attachment(name=file, media_type="text/plain", data=Path(file).read_bytes())
            writer.add_messages(
                Message(
                    channel_id=channels[DESCRIPTION_TOPIC],
                    log_time=0,
                    publish_time=0,
                    sequence=0,
                    data=json.dumps(
                        {
                            "robot": robot["name"],
                            "path": robot["urdf"],
                            "data": Path(robot["urdf"]).read_text(),
                        }
                    ).encode(),
                )
                for robot in sources["robots"]
                if Path(robot["urdf"]).is_file()
            )
            if episodes:
                steps = _StepWriter(episodes, round(dt * 1e9), model, layout, channels)
                if foxglove:
                    steps.add_foxglove(
                        messages[TF_TOPIC], messages[JOINTS_TOPIC], _static_frames(base, sources)
                    )
                steps.write(writer)
            writer.finish()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _static_frames(base: Any, sources: Mapping[str, Any]) -> list[_StaticFrame]:
    """The fixed frames of URDF links that the import fused away, for every robot of the scene."""
    model = base.sim.model
    bodies = {model.body(i).name for i in range(model.nbody)}
    prefixes = getattr(getattr(base, "scene", None), "prefixes", {})
    static: list[_StaticFrame] = []
    for robot in sources["robots"]:
        urdf = Path(robot["urdf"])
        if urdf.is_file():
            static += _fused_frames(
                urdf.read_text(), bodies, prefixes.get(robot["name"], ""), robot["position"]
            )
    return static


def _joined(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """``arrays`` one after another: a view when they already are, as consecutive rows of one array
    (the episodes of a :class:`StateRecorder`), else a copy."""
    first = arrays[0]
    base, stride = first.base, first.strides
    if base is not None and all(a.base is base and a.strides == stride for a in arrays):
        starts = [a.__array_interface__["data"][0] for a in arrays]
        if all(b == a + len(x) * stride[0] for a, b, x in zip(starts, starts[1:], arrays, strict=False)):
            rows = sum(len(a) for a in arrays)
            return np.lib.stride_tricks.as_strided(first, (rows, *first.shape[1:]), stride, writeable=False)
    return np.concatenate(arrays)


class _StepWriter:
    """Every state of every episode, written as MCAP chunks of state, ``/tf`` and ``/joint_states``
    messages (and each episode's summary after its last state), encoded a block of rows at a time.

    Row ``i`` of the arrays is the ``i``-th state of the file; its messages share the log time
    ``i * step_ns`` (simulated time, episodes one after another). One template covers every row
    (:mod:`clankers.envs.mcap_batch`); rows differ in two ways only, both regions of it: the first state
    of an episode has no action or reward (flag ``later``), and a timestamp's varints take 0 to 12 bytes
    (width ``ts``)."""

    def __init__(
        self,
        episodes: Sequence[RecordedEpisode],
        step_ns: int,
        model: mujoco.MjModel,
        layout: Any,
        channels: Mapping[str, int],
    ) -> None:
        lengths = np.array([len(e.time) for e in episodes])
        total = int(lengths.sum())
        self.episodes, self.model, self.layout, self.channels = episodes, model, layout, channels
        self.last = np.cumsum(lengths) - 1  # each episode's last row
        step = np.arange(total) - np.repeat(self.last + 1 - lengths, lengths)
        self.stamp = np.arange(total, dtype=np.int64) * step_ns
        later = step > 0
        self.qpos = _joined([e.qpos for e in episodes])
        self.qvel = _joined([e.qvel for e in episodes])
        n_act = max(e.actions.shape[1] if e.actions.ndim == 2 else 0 for e in episodes)
        n_obs = int(np.size(episodes[0].observations[0]))
        actions = np.zeros((total, n_act))  # the first state of an episode has no action nor reward
        rewards = np.zeros(total)
        if n_act:
            actions[later] = np.concatenate([e.actions.reshape(len(e.actions), n_act) for e in episodes])
        rewards[later] = np.concatenate([e.rewards for e in episodes])
        observations = [np.reshape(e.observations, (len(e.time), n_obs)) for e in episodes]
        self.columns: dict[str, tuple[Any, str]] = {
            "episode": (np.repeat(np.arange(len(episodes)), lengths), "<u4"),
            "step": (step, "<u4"),
            "stamp": (self.stamp, "<u8"),
            "time": (_joined([e.time for e in episodes]), "<f8"),
            "qpos": (self.qpos, "<f8"),
            "qvel": (self.qvel, "<f8"),
            "ctrl": (_joined([e.ctrl for e in episodes]), "<f8"),
            "observation": (_joined(observations), "<f8"),
            "action": (actions, "<f8"),
            "reward": (rewards, "<f8"),
        }
        self.widths = {"later": later.astype(np.int64)}
        sizes = {"qpos": model.nq, "qvel": model.nv, "ctrl": model.nu, "observation": n_obs}
        state: dict[str, Any] = {name: mb.Column(name) for name in ("episode", "step", "time")}
        state |= {name: mb.Column(name, count) for name, count in sizes.items()}
        state["action"] = mb.Present("later", mb.Column("action", n_act))
        state["reward"] = mb.Present("later", mb.Column("reward"))
        self.messages: list[tuple[str, Any, dict[str, Any]]] = [
            (STATE_TOPIC, state_message()[0].DESCRIPTOR, state)
        ]

    def add_foxglove(self, frames: Any, joints: Any, static: Sequence[_StaticFrame]) -> None:
        """The ``/tf`` and ``/joint_states`` messages of every row."""
        from google.protobuf.timestamp_pb2 import Timestamp

        model, layout = self.model, self.layout
        stamps, self.widths["ts"] = mb.timestamps(Timestamp.DESCRIPTOR, self.stamp)
        self.columns["ts"] = (stamps, "u1")
        self.columns["tf"] = (_body_poses(model, self.qpos), "<f8")
        joint_values = [self.qpos[:, layout.qpos_indices], self.qvel[:, layout.qvel_indices]]
        self.columns["joints"] = (np.concatenate(joint_values, axis=1), "<f8")
        names = [
            mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b) or f"body{b}" for b in range(model.nbody)
        ]
        names[0] = "world"
        ts = mb.Column("ts")
        transforms: list[dict[str, Any]] = []
        for i, body in enumerate(range(1, model.nbody)):
            at = 7 * i
            transforms.append(
                {
                    "timestamp": ts,
                    "parent_frame_id": names[model.body_parentid[body]],
                    "child_frame_id": names[body],
                    "translation": {k: mb.Column("tf", at=at + j) for j, k in enumerate("xyz")},
                    "rotation": {k: mb.Column("tf", at=at + 3 + j) for j, k in enumerate("xyzw")},
                }
            )
        for item in static:
            transforms.append(
                {
                    "timestamp": ts,
                    "parent_frame_id": item.parent,
                    "child_frame_id": item.child,
                    "translation": dict(zip("xyz", item.translation, strict=True)),
                    "rotation": dict(zip("xyzw", item.rotation, strict=True)),
                }
            )
        n = len(layout.names)
        joint_states = {
            "timestamp": ts,
            "joints": [
                {
                    "name": name,
                    "position": mb.Column("joints", at=k),
                    "velocity": mb.Column("joints", at=n + k),
                }
                for k, name in enumerate(layout.names)
            ],
        }
        self.messages.append((TF_TOPIC, frames, {"transforms": transforms}))
        self.messages.append((JOINTS_TOPIC, joints, joint_states))

    def _template(self) -> tuple[mb.Template, list[int]]:
        """A row's template (its messages one after another) and where each message record starts."""
        row, starts = mb.Template(), []
        widest = {"ts": 12}  # seconds and nanoseconds: a tag and up to 5 varint bytes each
        for topic, descriptor, spec in self.messages:
            starts.append(len(row))
            payload = mb.message_template(descriptor, spec, widest)
            row.extend(mb.message_record(self.channels[topic], payload, "step", "stamp"))
        return row, starts

    def _summaries(self) -> list[bytes]:
        """Each episode's ``/clankers/episode`` message record."""
        records = []
        channel = self.channels[EPISODE_TOPIC]
        for index, (episode, last) in enumerate(zip(self.episodes, self.last.tolist(), strict=True)):
            summary = {
                "episode": index,
                "seed": episode.seed,
                "return": float(episode.rewards.sum()),
                "length": len(episode.rewards),
                "terminated": episode.terminated,
            }
            stamp = int(self.stamp[last])
            records.append(mb.message_bytes(channel, index, stamp, json.dumps(summary).encode()))
        return records

    def write(self, writer: mb.BatchWriter, block_chunks: int = 8) -> None:
        """Encode rows in blocks of about ``block_chunks`` chunks (numpy work per block, not per row),
        and hand each block to ``writer`` cut into chunks of about ``writer.chunk_size`` bytes, each
        episode's summary record after its last row."""
        template, record_starts = self._template()
        columns = mb.Columns(self.columns)
        summaries = [np.frombuffer(record, np.uint8) for record in self._summaries()]
        total = len(self.stamp)
        per_block = max(1, int(block_chunks * writer.chunk_size // len(template)))
        channels = [self.channels[topic] for topic, _, _ in self.messages]
        for a in range(0, total, per_block):
            rows = slice(a, min(a + per_block, total))
            block = mb.fill(template, rows, columns, self.widths, marks=record_starts)
            encoded = block.data[block.keep]  # the rows' messages, one row after another
            sizes = block.sizes
            ended = np.flatnonzero((self.last >= rows.start) & (self.last < rows.stop))
            where = self.last[ended] - rows.start  # rows of the block that end an episode
            extra = np.zeros(len(sizes), dtype=np.int64)
            extra[where] = [len(summaries[e]) for e in ended.tolist()]
            ends = np.cumsum(sizes + extra)  # in the block's stream, summaries included
            starts = ends - sizes - extra
            encoded_ends = np.cumsum(sizes)  # in `encoded`
            stamps = self.stamp[rows]
            first = 0
            while first < len(sizes):  # chunks of whole rows, each at least one row
                last = max(first + 1, int(np.searchsorted(ends, starts[first] + writer.chunk_size, "right")))
                origin = starts[first]
                done = np.flatnonzero((where >= first) & (where < last))
                pieces, position = [], int(encoded_ends[first] - sizes[first])
                for k in done.tolist():  # rows up to an episode's end, then its summary
                    end = int(encoded_ends[where[k]])
                    pieces += [encoded[position:end], summaries[int(ended[k])]]
                    position = end
                pieces.append(encoded[position : int(encoded_ends[last - 1])])
                index = {
                    channel: (stamps[first:last], starts[first:last] + block.marks[k, first:last] - origin)
                    for k, channel in enumerate(channels)
                }
                if len(done):
                    rows_done = where[done]
                    index[self.channels[EPISODE_TOPIC]] = (
                        stamps[rows_done],
                        starts[rows_done] + sizes[rows_done] - origin,
                    )
                writer.add_chunk(pieces, index)
                first = last


# --- reading ----------------------------------------------------------------------------------------


@dataclass
class Recording:
    """A recording read back: its metadata, sources and episodes."""

    path: Path
    metadata: dict[str, str]
    sources: dict[str, Any] = field(default_factory=dict)
    episodes: list[RecordedEpisode] = field(default_factory=list)

    @property
    def task(self) -> str:
        return self.metadata.get("task") or self.metadata.get("env_id", "")

    @property
    def control_dt(self) -> float:
        return float(self.metadata.get("control_dt", "0") or 0.0)

    @property
    def joint_names(self) -> list[str]:
        return json.loads(self.metadata.get("joint_names", "[]"))


def _state_dict(data: bytes) -> dict[str, Any]:
    """A ``clankers.State`` message as the dict version 2 stored (``action``/``reward`` None at step 0)."""
    message = state_message()[0].FromString(data)
    out: dict[str, Any] = {"episode": message.episode, "step": message.step, "time": message.time}
    for name in ("qpos", "qvel", "ctrl", "observation"):
        out[name] = list(getattr(message, name))
    out["action"] = list(message.action) if message.step else None
    out["reward"] = message.reward if message.step else None
    return out


def read_mcap(path: str | Path, topics: Sequence[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(topic, message)`` of the JSON channels and the state channel (as dicts) of a recording,
    in log-time order."""
    with open(path, "rb") as stream:
        for schema, channel, message in make_reader(stream).iter_messages(topics=topics, log_time_order=True):
            if channel.message_encoding == "json":
                yield channel.topic, json.loads(message.data)
            elif schema is not None and schema.name == "clankers.State":
                yield channel.topic, _state_dict(message.data)


def read_metadata(path: str | Path, name: str = "clankers") -> dict[str, str]:
    """A metadata record of a recording (``clankers`` by default; empty when absent)."""
    with open(path, "rb") as stream:
        for record in make_reader(stream).iter_metadata():
            if record.name == name:
                return dict(record.metadata)
    return {}


def read_recording(path: str | Path) -> Recording:
    """Read a recording written by :func:`write_recording` (its states, grouped by episode)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"recording {path} does not exist; record one with `clankers run POLICY --record {path}`"
        )
    try:
        metadata = read_metadata(path)
    except Exception as exc:  # mcap raises its own errors on a file that is not MCAP
        raise ConfigError(
            f"{path} is not an MCAP recording ({exc}); pass a file written by `clankers run --record`"
        ) from exc
    if metadata.get("format") not in READABLE_VERSIONS:
        raise ConfigError(
            f"{path} has no replayable states (recording format {metadata.get('format', '1')!r}, need "
            f"one of {READABLE_VERSIONS}); record it again with this version of `clankers run --record`"
        )
    sources = json.loads(read_metadata(path, "clankers.sources").get("sources", "{}"))
    states: dict[int, list[dict[str, Any]]] = {}
    summaries: dict[int, dict[str, Any]] = {}
    for topic, message in read_mcap(path, topics=[STATE_TOPIC, EPISODE_TOPIC]):
        if topic == STATE_TOPIC:
            states.setdefault(message["episode"], []).append(message)
        else:
            summaries[message["episode"]] = message
    recording = Recording(path=path, metadata=metadata, sources=sources)
    n_act = next((len(r["action"]) for rows in states.values() for r in rows[1:2]), 0)
    for index in sorted(states):
        rows = states[index]
        summary = summaries.get(index, {})
        recording.episodes.append(
            RecordedEpisode(
                seed=summary.get("seed"),
                time=np.array([r["time"] for r in rows]),
                qpos=np.array([r["qpos"] for r in rows]),
                qvel=np.array([r["qvel"] for r in rows]),
                ctrl=np.array([r["ctrl"] for r in rows]),
                observations=np.array([r["observation"] for r in rows]),
                actions=np.array([r["action"] for r in rows[1:]], dtype=np.float64).reshape(
                    len(rows) - 1, n_act
                ),
                rewards=np.array([r["reward"] for r in rows[1:]], dtype=np.float64),
                terminated=bool(summary.get("terminated", False)),
            )
        )
    return recording
