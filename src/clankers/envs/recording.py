"""Episode recordings in MCAP that replay: physics state per step, Foxglove-ready, self-describing.

MCAP is the log container robotics tools read (Foxglove, ROS 2 bag tooling). A clankers recording holds:

| topic                 | encoding | schema                       | one message per                         |
|-----------------------|----------|------------------------------|-----------------------------------------|
| ``/clankers/state``   | json     | ``clankers.State``           | state: after reset, then after each step |
| ``/clankers/episode`` | json     | ``clankers.Episode``         | episode (seed, return, length, ending)  |
| ``/tf``               | protobuf | ``foxglove.FrameTransforms`` | state: every body's pose in its parent  |
| ``/joint_states``     | protobuf | ``foxglove.JointStates``     | state: joint positions, velocities      |
| ``/robot_description``| json     | ``clankers.RobotDescription``| robot, once: the URDF text (``data``)   |

A state message carries simulation ``time``, ``qpos``, ``qvel``, ``ctrl`` (MuJoCo's full vectors), the
``observation``, and for every state after the first of an episode the ``action`` that led to it and the
``reward`` it earned. That is enough to put the simulation back in each recorded state and render it
again (:mod:`clankers.viz.replay`): the physics is not re-run, so a replay shows exactly what happened.

Per-body transforms use MuJoCo body names, which are the URDF link names (prefixed ``"<robot>/"`` in a
multi-robot scene); the root of each robot hangs from the frame ``world``, links fused into their parent
by the import get their fixed transform. So Foxglove's 3D panel, given the URDF (from the
``/robot_description`` topic or the attachment), draws the robot moving; its Plot panel plots
``/joint_states`` and any field of ``/clankers/state``.

The file's ``clankers`` metadata names the task, the Gymnasium id, the policy, the control period and
the joint and observation names; ``clankers.sources`` lists the task file and robot descriptions with
their SHA-256, and each of those files is attached whole, so a recording can be replayed on another
machine (or checked against the files there).

Log time is simulated time, offset so that episodes follow one another. Writing uses the ``viz`` extra
(protobuf schemas of Foxglove: ``foxglove-schemas-protobuf``, ``mcap-protobuf-support``).
"""

from __future__ import annotations

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
from mcap.writer import Writer

from clankers.errors import ConfigError

FORMAT_VERSION = "2"
STATE_TOPIC = "/clankers/state"
EPISODE_TOPIC = "/clankers/episode"
TF_TOPIC = "/tf"
JOINTS_TOPIC = "/joint_states"
DESCRIPTION_TOPIC = "/robot_description"
STEP_TOPIC = STATE_TOPIC  # the name of version 1, kept for readers

_NUMBERS = {"type": "array", "items": {"type": "number"}}
STATE_SCHEMA = {
    "type": "object",
    "properties": {
        "episode": {"type": "integer"},
        "step": {"type": "integer", "description": "0 = right after reset"},
        "time": {"type": "number", "description": "simulated seconds since reset"},
        "qpos": _NUMBERS,
        "qvel": _NUMBERS,
        "ctrl": _NUMBERS,
        "observation": _NUMBERS,
        "action": {"type": ["array", "null"], "items": {"type": "number"}},
        "reward": {"type": ["number", "null"]},
    },
}
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


def _flat(value: Any) -> np.ndarray:
    if isinstance(value, dict):
        return np.concatenate([np.asarray(value[k], dtype=np.float64).ravel() for k in value])
    return np.asarray(value, dtype=np.float64).ravel()


class StateRecorder(gym.Wrapper):
    """Keep the physics state after every reset and step of a clankers environment.

    The wrapped environment's ``unwrapped.sim.data`` is read (copies of ``time``, ``qpos``, ``qvel``,
    ``ctrl``): a few microseconds per step; nothing is encoded until :func:`write_recording`. Finished
    episodes are in :attr:`episodes`; an episode cut short by a new reset is kept too.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if not hasattr(env.unwrapped, "sim"):
            raise ConfigError(
                f"{env.unwrapped!r} has no MuJoCo simulation (`sim`) to record; record clankers tasks"
            )
        self.episodes: list[RecordedEpisode] = []
        self._rows: dict[str, list[Any]] | None = None
        self._seed: int | None = None
        self._terminated = False

    def _snapshot(self, obs: Any) -> None:
        data = self.env.unwrapped.sim.data  # type: ignore[attr-defined]
        rows = self._rows
        assert rows is not None
        rows["time"].append(data.time)
        rows["qpos"].append(data.qpos.copy())
        rows["qvel"].append(data.qvel.copy())
        rows["ctrl"].append(data.ctrl.copy())
        rows["observations"].append(_flat(obs))

    def _close_episode(self) -> None:
        rows = self._rows
        if rows is None:
            return
        self.episodes.append(
            RecordedEpisode(
                seed=self._seed,
                time=np.array(rows["time"]),
                qpos=np.array(rows["qpos"]),
                qvel=np.array(rows["qvel"]),
                ctrl=np.array(rows["ctrl"]),
                observations=np.array(rows["observations"]),
                actions=np.array(rows["actions"]).reshape(len(rows["actions"]), -1),
                rewards=np.array(rows["rewards"], dtype=np.float64),
                terminated=self._terminated,
            )
        )
        self._rows = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._close_episode()
        obs, info = self.env.reset(**kwargs)
        self._seed = kwargs.get("seed")
        self._terminated = False
        self._rows = {k: [] for k in ("time", "qpos", "qvel", "ctrl", "observations", "actions", "rewards")}
        self._snapshot(obs)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._rows is not None:
            self._rows["actions"].append(_flat(action))
            self._rows["rewards"].append(float(reward))
            self._snapshot(obs)
            self._terminated = bool(terminated)
        return obs, reward, terminated, truncated, info

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


class _FrameEncoder:
    """Per-body transforms (each body in its parent's frame) as ``foxglove.FrameTransforms`` bytes."""

    def __init__(self, model: mujoco.MjModel, static: Sequence[_StaticFrame]) -> None:
        from foxglove_schemas_protobuf.FrameTransforms_pb2 import FrameTransforms

        self.model = model
        self.data = mujoco.MjData(model)
        self.bodies = np.arange(1, model.nbody)
        self.parents = model.body_parentid[self.bodies]
        names = [model.body(int(b)).name or f"body{b}" for b in range(model.nbody)]
        names[0] = "world"
        self.message = FrameTransforms()
        self._moving = []
        for body, parent in zip(self.bodies, self.parents, strict=True):
            frame = self.message.transforms.add()
            frame.parent_frame_id, frame.child_frame_id = names[parent], names[body]
            self._moving.append(frame)
        for item in static:
            frame = self.message.transforms.add()
            frame.parent_frame_id, frame.child_frame_id = item.parent, item.child
            frame.translation.x, frame.translation.y, frame.translation.z = item.translation
            q = frame.rotation
            q.x, q.y, q.z, q.w = item.rotation
        self._frames = list(self.message.transforms)

    def poses(self, qpos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every body's translation and (w, x, y, z) rotation in its parent, for each row of ``qpos``:
        arrays ``(T, nbody - 1, 3)`` and ``(T, nbody - 1, 4)`` (one kinematics pass per row, the frame
        algebra done once for all rows)."""
        data, model = self.data, self.model
        xpos = np.empty((len(qpos), model.nbody, 3))
        xquat = np.empty((len(qpos), model.nbody, 4))
        for row, q in enumerate(qpos):
            data.qpos[:] = q
            mujoco.mj_kinematics(model, data)
            xpos[row], xquat[row] = data.xpos, data.xquat
        child_pos, parent_pos = xpos[:, self.bodies], xpos[:, self.parents]
        parent_quat, child_quat = xquat[:, self.parents], xquat[:, self.bodies]
        flat = parent_quat.reshape(-1, 4) * np.array([1.0, -1.0, -1.0, -1.0])  # conjugates: inverses
        rotation = _quat_mul(flat, child_quat.reshape(-1, 4)).reshape(child_quat.shape)
        offset = (child_pos - parent_pos).reshape(-1, 3)
        local = np.empty_like(offset)
        for i, (quat, vector) in enumerate(
            zip(flat, offset, strict=True)
        ):  # p_local = R_parent^T (p - p_parent)
            mujoco.mju_rotVecQuat(local[i], vector, quat)
        return local.reshape(child_pos.shape), rotation

    def encode(self, translation: np.ndarray, rotation: np.ndarray, stamp_ns: int) -> bytes:
        """One state's ``foxglove.FrameTransforms`` (rows of :meth:`poses`)."""
        seconds, nanos = divmod(stamp_ns, 1_000_000_000)
        for frame, (x, y, z), (qw, qx, qy, qz) in zip(
            self._moving, translation.tolist(), rotation.tolist(), strict=True
        ):
            t = frame.translation
            t.x, t.y, t.z = x, y, z
            r = frame.rotation
            r.x, r.y, r.z, r.w = qx, qy, qz, qw
        for frame in self._frames:
            frame.timestamp.seconds, frame.timestamp.nanos = seconds, nanos
        return self.message.SerializeToString()


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Hamilton products of (w, x, y, z) quaternions."""
    aw, ax, ay, az = a.T
    bw, bx, by, bz = b.T
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=1,
    )


class _JointEncoder:
    """Joint positions and velocities in layout order as ``foxglove.JointStates`` bytes."""

    def __init__(self, names: Sequence[str], qpos_index: np.ndarray, qvel_index: np.ndarray) -> None:
        from foxglove_schemas_protobuf.JointStates_pb2 import JointStates

        self.message = JointStates()
        self.joints = [self.message.joints.add(name=name) for name in names]
        self.qpos_index, self.qvel_index = qpos_index, qvel_index

    def encode(self, qpos: np.ndarray, qvel: np.ndarray, stamp_ns: int) -> bytes:
        self.message.timestamp.seconds, self.message.timestamp.nanos = divmod(stamp_ns, 1_000_000_000)
        for joint, position, velocity in zip(
            self.joints, qpos[self.qpos_index].tolist(), qvel[self.qvel_index].tolist(), strict=True
        ):
            joint.position, joint.velocity = position, velocity
        return self.message.SerializeToString()


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


def _protobuf() -> Any:
    try:
        from foxglove_schemas_protobuf.FrameTransforms_pb2 import FrameTransforms
        from foxglove_schemas_protobuf.JointStates_pb2 import JointStates
        from mcap_protobuf.schema import register_schema
    except ImportError as exc:
        raise ConfigError(
            "recordings use Foxglove's protobuf schemas; install the viz extra: pip install 'clankers[viz]'"
        ) from exc
    return FrameTransforms, JointStates, register_schema


def write_recording(
    path: str | Path,
    episodes: Sequence[RecordedEpisode],
    env: gym.Env,
    metadata: Mapping[str, str] | None = None,
    foxglove: bool = True,
) -> Path:
    """Write ``episodes`` (from :class:`StateRecorder`) of ``env`` to ``path``, atomically.

    ``metadata`` is added to the ``clankers`` record (policy, seed, ...). ``foxglove=False`` leaves out
    the ``/tf`` and ``/joint_states`` channels (half the writing time; replay does not need them).
    """
    base = env.unwrapped
    model: mujoco.MjModel = base.sim.model  # type: ignore[attr-defined]
    layout = base.layout  # type: ignore[attr-defined]
    dt = float(getattr(base, "dt", 0.0) or 1e-3)
    step_ns = round(dt * 1e9)
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
            writer = Writer(stream)
            writer.start(profile="", library="clankers")
            json_channel = {}
            for topic, name, schema in (
                (STATE_TOPIC, "clankers.State", STATE_SCHEMA),
                (EPISODE_TOPIC, "clankers.Episode", EPISODE_SCHEMA),
                (DESCRIPTION_TOPIC, "clankers.RobotDescription", DESCRIPTION_SCHEMA),
            ):
                schema_id = writer.register_schema(name, "jsonschema", json.dumps(schema).encode())
                json_channel[topic] = writer.register_channel(topic, "json", schema_id)
            frames = joints = None
            if foxglove:
                frame_cls, joint_cls, register_schema = _protobuf()
                tf_channel = writer.register_channel(TF_TOPIC, "protobuf", register_schema(writer, frame_cls))
                joint_channel = writer.register_channel(
                    JOINTS_TOPIC, "protobuf", register_schema(writer, joint_cls)
                )
                static: list[_StaticFrame] = []
                bodies = {model.body(i).name for i in range(model.nbody)}
                prefixes = getattr(getattr(base, "scene", None), "prefixes", {})
                for robot in sources["robots"]:
                    urdf = Path(robot["urdf"])
                    if urdf.is_file():
                        static += _fused_frames(
                            urdf.read_text(), bodies, prefixes.get(robot["name"], ""), robot["position"]
                        )
                frames = _FrameEncoder(model, static)
                joints = _JointEncoder(layout.names, layout.qpos_indices, layout.qvel_indices)
            writer.add_metadata("clankers", info)
            writer.add_metadata("clankers.sources", {"sources": json.dumps(sources)})
            files = [sources["task_file"]["path"]] if sources["task_file"] else []
            files += [r["urdf"] for r in sources["robots"] if Path(r["urdf"]).is_file()]
            for file in dict.fromkeys(files):
                writer.add_attachment(
                    create_time=0,
                    log_time=0,
                    name=file,
                    media_type="text/plain",
                    data=Path(file).read_bytes(),
                )
            for robot in sources["robots"]:
                if Path(robot["urdf"]).is_file():
                    payload = {
                        "robot": robot["name"],
                        "path": robot["urdf"],
                        "data": Path(robot["urdf"]).read_text(),
                    }
                    writer.add_message(
                        json_channel[DESCRIPTION_TOPIC],
                        log_time=0,
                        publish_time=0,
                        data=json.dumps(payload).encode(),
                    )
            clock = 0
            for index, episode in enumerate(episodes):
                n = len(episode.time)
                qpos, qvel, ctrl = episode.qpos.tolist(), episode.qvel.tolist(), episode.ctrl.tolist()
                observations, actions = episode.observations.tolist(), episode.actions.tolist()
                rewards, times = episode.rewards.tolist(), episode.time.tolist()
                start = clock
                if frames is not None:
                    translations, rotations = frames.poses(episode.qpos)
                for step in range(n):
                    stamp = start + step * step_ns
                    payload = {
                        "episode": index,
                        "step": step,
                        "time": times[step],
                        "qpos": qpos[step],
                        "qvel": qvel[step],
                        "ctrl": ctrl[step],
                        "observation": observations[step],
                        "action": actions[step - 1] if step else None,
                        "reward": rewards[step - 1] if step else None,
                    }
                    writer.add_message(
                        json_channel[STATE_TOPIC],
                        log_time=stamp,
                        publish_time=stamp,
                        sequence=step,
                        data=json.dumps(payload).encode(),
                    )
                    if frames is not None and joints is not None:
                        writer.add_message(
                            tf_channel,
                            log_time=stamp,
                            publish_time=stamp,
                            data=frames.encode(translations[step], rotations[step], stamp),
                        )
                        writer.add_message(
                            joint_channel,
                            log_time=stamp,
                            publish_time=stamp,
                            data=joints.encode(episode.qpos[step], episode.qvel[step], stamp),
                        )
                clock = start + n * step_ns
                summary = {
                    "episode": index,
                    "seed": episode.seed,
                    "return": episode.episode_return,
                    "length": episode.length,
                    "terminated": episode.terminated,
                }
                writer.add_message(
                    json_channel[EPISODE_TOPIC],
                    log_time=clock - step_ns,
                    publish_time=clock - step_ns,
                    sequence=index,
                    data=json.dumps(summary).encode(),
                )
            writer.finish()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


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


def read_mcap(path: str | Path, topics: Sequence[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(topic, message)`` of the JSON channels of a recording in log-time order."""
    with open(path, "rb") as stream:
        for _, channel, message in make_reader(stream).iter_messages(topics=topics, log_time_order=True):
            if channel.message_encoding == "json":
                yield channel.topic, json.loads(message.data)


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
    if metadata.get("format") != FORMAT_VERSION:
        raise ConfigError(
            f"{path} has no replayable states (recording format {metadata.get('format', '1')!r}, need "
            f"{FORMAT_VERSION!r}); record it again with this version of `clankers run --record`"
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
                actions=np.array([r["action"] for r in rows[1:]]).reshape(len(rows) - 1, -1),
                rewards=np.array([r["reward"] for r in rows[1:]], dtype=np.float64),
                terminated=bool(summary.get("terminated", False)),
            )
        )
    return recording
