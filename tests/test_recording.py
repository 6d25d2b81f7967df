"""Recordings that replay: physics state per step in MCAP, Foxglove's schemas, replays equal to the run."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import mujoco
import numpy as np
import pytest
from mcap.decoder import DecoderFactory as McapDecoderFactory
from mcap.reader import make_reader
from mcap_protobuf.decoder import DecoderFactory
from typer.testing import CliRunner

from clankers.cli import app
from clankers.envs import make_env, registered_tasks
from clankers.envs.recording import (
    EPISODE_TOPIC,
    JOINTS_TOPIC,
    STATE_TOPIC,
    TF_TOPIC,
    StateRecorder,
    _body_poses,
    _body_poses_stepwise,
    read_mcap,
    read_metadata,
    read_recording,
    write_recording,
)
from clankers.envs.rollout import evaluate
from clankers.errors import ConfigError
from clankers.render.video import VideoRecorder, read_video
from clankers.viz.replay import replay_video


def _record(tmp_path: Path, task: str = "arm_reach", episodes: int = 2, steps: int = 12, **video: object):
    env = make_env(task, render_mode="rgb_array", width=64, height=48, max_episode_steps=steps)
    recorder = StateRecorder(env)
    film = VideoRecorder(recorder, tmp_path / "run.mp4", keep=True, **video)
    rng = np.random.default_rng(0)
    evaluation = evaluate(
        lambda obs: rng.uniform(-1, 1, env.action_space.shape).astype(np.float32),
        task,
        episodes,
        seed=7,
        record=True,
        env_factory=lambda: film,
    )
    path = write_recording(tmp_path / "run.mcap", recorder.finish(), env, {"task": task, "policy": "random"})
    return path, evaluation, film.frames, env


def test_recording_round_trip(tmp_path: Path) -> None:
    path, evaluation, _, env = _record(tmp_path)
    recording = read_recording(path)
    assert [e.seed for e in recording.episodes] == [7, 8]
    assert [e.length for e in recording.episodes] == evaluation.lengths.tolist() == [12, 12]
    for recorded, run in zip(recording.episodes, evaluation.episodes, strict=True):
        assert recorded.qpos.shape == (13, env.unwrapped.sim.model.nq)  # after reset + after each step
        np.testing.assert_array_equal(recorded.observations, run.observations)  # exact: doubles as they are
        np.testing.assert_array_equal(recorded.actions, run.actions)
        np.testing.assert_array_equal(recorded.rewards, run.rewards)
        assert recorded.time[0] == 0.0 and recorded.time[-1] == pytest.approx(12 * env.unwrapped.dt)
    meta = read_metadata(path)
    assert meta["task"] == "arm_reach" and meta["policy"] == "random"
    assert json.loads(meta["joint_names"]) == list(env.unwrapped.layout.names)
    sources = json.loads(read_metadata(path, "clankers.sources")["sources"])
    assert (
        sources["robots"][0]["urdf"].endswith("two_link_arm.urdf")
        and len(sources["robots"][0]["sha256"]) == 64
    )
    assert sources["task_file"]["path"].endswith("arm_reach.toml")
    with open(path, "rb") as stream:
        attached = {a.name for a in make_reader(stream).iter_attachments()}
    assert {sources["task_file"]["path"], sources["robots"][0]["urdf"]} <= attached
    summaries = [m for topic, m in read_mcap(path) if topic == EPISODE_TOPIC]
    assert [s["return"] for s in summaries] == evaluation.returns.tolist()
    assert not list(tmp_path.glob(".*tmp"))


def test_replay_draws_the_frames_of_the_run(tmp_path: Path) -> None:
    path, _, frames, _ = _record(tmp_path, overlay=True)
    result = replay_video(path, tmp_path / "replay.mp4", overlay=True, width=64, height=48, keep=True)
    assert result.frames == len(frames) == 2 * 13
    for original, replayed in zip(frames, result.kept, strict=True):
        np.testing.assert_array_equal(original, replayed)
    only = replay_video(path, tmp_path / "second.gif", episodes=[1], fps=10, width=64, height=48, keep=True)
    assert only.episodes == [1] and 0 < only.frames < 13  # 25 Hz control filmed at 10 fps
    with pytest.raises(ConfigError, match=r"episodes 0\.\.1"):
        replay_video(path, tmp_path / "x.mp4", episodes=[5])


def test_foxglove_channels_decode_and_pose_the_robot(tmp_path: Path) -> None:
    path, _, _, env = _record(tmp_path, episodes=1, steps=5)
    decoded: dict[str, list] = {}
    schemas = {}
    with open(path, "rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for schema, channel, _, message in reader.iter_decoded_messages(topics=[TF_TOPIC, JOINTS_TOPIC]):
            decoded.setdefault(channel.topic, []).append(message)
            schemas[channel.topic] = (schema.name, schema.encoding, channel.message_encoding)
    assert schemas[TF_TOPIC] == ("foxglove.FrameTransforms", "protobuf", "protobuf")
    assert schemas[JOINTS_TOPIC] == ("foxglove.JointStates", "protobuf", "protobuf")
    assert len(decoded[TF_TOPIC]) == len(decoded[JOINTS_TOPIC]) == 6
    recording = read_recording(path)
    last = decoded[TF_TOPIC][-1]
    frames = {t.child_frame_id: t for t in last.transforms}
    assert frames["base"].parent_frame_id == "world"  # the URDF root, fused into the world by the import
    assert frames["forearm"].parent_frame_id == "upper_arm"

    def world_position(name: str) -> np.ndarray:  # compose the chain of transforms up to the world
        point = np.zeros(3)
        while name != "world":
            t = frames[name]
            q = [t.rotation.w, t.rotation.x, t.rotation.y, t.rotation.z]
            rotated = np.zeros(3)
            mujoco.mju_rotVecQuat(rotated, point, np.array(q))
            point = rotated + np.array([t.translation.x, t.translation.y, t.translation.z])
            name = t.parent_frame_id
        return point

    model = env.unwrapped.sim.model
    data = mujoco.MjData(model)
    data.qpos[:] = recording.episodes[0].qpos[-1]
    mujoco.mj_kinematics(model, data)
    forearm = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "forearm")
    np.testing.assert_allclose(world_position("forearm"), data.xpos[forearm], atol=1e-12)
    joints = decoded[JOINTS_TOPIC][-1].joints
    assert [j.name for j in joints] == list(env.unwrapped.layout.names)
    np.testing.assert_array_equal(
        [j.position for j in joints], recording.episodes[0].qpos[-1][env.unwrapped.layout.qpos_indices]
    )
    descriptions = [m for topic, m in read_mcap(path) if topic == "/robot_description"]
    assert descriptions[0]["data"].lstrip().startswith("<?xml") or "<robot" in descriptions[0]["data"]
    states = [m for topic, m in read_mcap(path) if topic == STATE_TOPIC]
    assert states[0]["action"] is None and states[1]["action"] is not None


def test_cli_run_video_record_then_replay(tiny_cartpole_policy: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    run = runner.invoke(
        app,
        [
            "run", str(tiny_cartpole_policy), "--episodes", "2", "--record", str(tmp_path / "ep.mcap"),
            "--video", str(tmp_path / "run.mp4"), "--video-size", "64x48",
        ],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    replay = runner.invoke(
        app,
        [
            "replay",
            str(tmp_path / "ep.mcap"),
            "--video",
            str(tmp_path / "replay.mp4"),
            "--video-size",
            "64x48",
        ],
    )
    assert replay.exit_code == 0, replay.output
    original, replayed = read_video(tmp_path / "run.mp4"), read_video(tmp_path / "replay.mp4")
    lengths = [e.length for e in read_recording(tmp_path / "ep.mcap").episodes]
    assert len(original) == sum(lengths) + 2
    np.testing.assert_array_equal(original, replayed)


def test_replay_refuses_a_recording_without_states(tmp_path: Path) -> None:
    from mcap.writer import Writer

    old = tmp_path / "old.mcap"
    with open(old, "wb") as stream:
        writer = Writer(stream)
        writer.start()
        writer.add_metadata("clankers", {"task": "cartpole"})
        writer.finish()
    with pytest.raises(ConfigError, match=r"no replayable states.*record it again"):
        read_recording(old)
    with pytest.raises(ConfigError, match="does not exist"):
        read_recording(tmp_path / "missing.mcap")


def _poses_agree(model: mujoco.MjModel, qpos: np.ndarray) -> None:
    fast, slow = _body_poses(model, qpos), _body_poses_stepwise(model, qpos)
    np.testing.assert_allclose(fast[..., :3], slow[..., :3], atol=1e-12)
    sign = np.sign(np.sum(fast[..., 3:] * slow[..., 3:], axis=-1, keepdims=True))  # q and -q: one turn
    np.testing.assert_allclose(fast[..., 3:], sign * slow[..., 3:], atol=1e-12)


def _random_qpos(model: mujoco.MjModel, rows: int, seed: int = 0) -> np.ndarray:
    qpos = model.qpos0 + np.random.default_rng(seed).normal(0.0, 1.0, (rows, model.nq))
    for joint in range(model.njnt):  # unit quaternions where the joint has one
        kind, adr = model.jnt_type[joint], model.jnt_qposadr[joint]
        start = adr + 3 if kind == mujoco.mjtJoint.mjJNT_FREE else adr
        if kind in (mujoco.mjtJoint.mjJNT_FREE, mujoco.mjtJoint.mjJNT_BALL):
            qpos[:, start : start + 4] /= np.linalg.norm(qpos[:, start : start + 4], axis=1)[:, None]
    return qpos


@pytest.mark.parametrize("task", registered_tasks())
def test_body_poses_are_mujocos_kinematics(task: str) -> None:
    """The /tf poses, computed for all states at once, are those mj_kinematics gives state by state."""
    model = make_env(task).unwrapped.sim.model
    _poses_agree(model, _random_qpos(model, 50))


def test_body_poses_of_every_joint_kind() -> None:
    model = mujoco.MjModel.from_xml_string(
        """<mujoco><worldbody>
          <body name="floating" pos="0 0 1"><freejoint/><geom size=".1"/>
            <body name="slider" pos=".2 0 0" quat="0.9 0.1 0.3 0.2">
              <joint type="slide" axis="0.3 1 0.2"/><geom size=".1"/>
              <body name="hinged" pos="0 .3 0"><joint type="hinge" axis="1 0.5 0" pos=".1 -.2 .05"/>
                <joint type="hinge" axis="0 0 1" pos="0 0.1 0"/><geom size=".1"/>
                <body name="ball" pos=".1 .1 .1" quat="0.5 0.5 0.5 0.5"><joint type="ball" pos="0 0 .2"/>
                  <geom size=".1"/><body name="welded" pos="0 0 .4" euler="10 20 30"><geom size=".1"/></body>
                </body>
              </body>
            </body>
          </body>
        </worldbody></mujoco>"""
    )
    _poses_agree(model, _random_qpos(model, 40, seed=3))


def test_states_round_trip_exactly(tmp_path: Path) -> None:
    """Every recorded number comes back bit for bit: a long episode (past the recorder's first rows), a
    short one and one cut short right after its reset."""
    env = make_env("pendulum", max_episode_steps=1500)
    recorder = StateRecorder(env)
    rng = np.random.default_rng(1)
    for seed, steps in ((3, 1200), (4, 7), (5, 0)):
        recorder.reset(seed=seed)
        for _ in range(steps):
            recorder.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
    episodes = recorder.finish()
    assert [e.length for e in episodes] == [1200, 7, 0]
    path = write_recording(tmp_path / "long.mcap", episodes, env, chunk_size=20_000)
    recording = read_recording(path)
    assert [e.seed for e in recording.episodes] == [3, 4, 5]
    for recorded, kept in zip(recording.episodes, episodes, strict=True):
        for name in ("time", "qpos", "qvel", "ctrl", "observations", "actions", "rewards"):
            np.testing.assert_array_equal(getattr(recorded, name), getattr(kept, name), err_msg=name)
        assert recorded.time[0] == 0.0 and np.all(np.diff(recorded.time) > 0)


@pytest.mark.parametrize("compression", ["", "lz4", "zstd"])
def test_file_is_an_indexed_mcap(tmp_path: Path, compression: str) -> None:
    """mcap's readers accept the file (CRCs checked), its statistics and indexes are right, messages come
    in time order, each episode's summary after its last state, and the state messages decode with the
    schema the file carries (as Foxglove decodes them)."""
    from mcap.stream_reader import StreamReader

    path, evaluation, _, _ = _record(tmp_path, episodes=3, steps=40)
    recording = read_recording(path)
    small = write_recording(
        tmp_path / "small.mcap",
        recording.episodes,
        make_env("arm_reach"),
        compression=compression,
        chunk_size=3000,
    )
    with open(small, "rb") as stream:
        reader = make_reader(stream, validate_crcs=True, decoder_factories=[DecoderFactory(), _Json()])
        summary = reader.get_summary()
        assert summary is not None and len(summary.chunk_indexes) > 3
        assert {c.compression for c in summary.chunk_indexes} == {compression}
        messages = list(reader.iter_decoded_messages(log_time_order=False))
    assert summary.statistics.message_count == len(messages)
    counts: dict[str, int] = {}
    for _, channel, _, _ in messages:
        counts[channel.topic] = counts.get(channel.topic, 0) + 1
    states = sum(len(e.time) for e in recording.episodes)
    assert counts == {
        "/robot_description": 1,
        STATE_TOPIC: states,
        TF_TOPIC: states,
        JOINTS_TOPIC: states,
        EPISODE_TOPIC: 3,
    }
    assert {
        summary.channels[c].topic: n for c, n in summary.statistics.channel_message_counts.items()
    } == counts
    times = [m.log_time for _, _, m, _ in messages]
    assert times == sorted(times)  # file order is time order
    topics = [c.topic for _, c, _, _ in messages]
    for episode in range(3):  # a summary follows the last state of its episode
        last = max(
            i for i, (_, c, _, d) in enumerate(messages) if c.topic == STATE_TOPIC and d.episode == episode
        )
        assert topics[last + 1 : last + 4] == [TF_TOPIC, JOINTS_TOPIC, EPISODE_TOPIC]
    decoded = [d for _, c, _, d in messages if c.topic == STATE_TOPIC]
    np.testing.assert_array_equal(
        [d.reward for d in decoded if d.step], np.concatenate([e.rewards for e in evaluation.episodes])
    )
    # every message index entry points at a message of its channel, with its log time
    with open(small, "rb") as stream:
        records = list(StreamReader(stream, skip_magic=False, emit_chunks=True).records)
    chunk = None
    checked = 0
    for record in records:
        if type(record).__name__ == "Chunk":
            chunk = _decompress(record)
        elif type(record).__name__ == "MessageIndex":
            for log_time, offset in record.records:
                opcode, _, channel, _, stamp = struct.unpack_from("<BQHIQ", chunk, offset)
                assert (opcode, channel, stamp) == (0x05, record.channel_id, log_time)
                checked += 1
    assert checked == len(messages)


class _Json(McapDecoderFactory):
    def decoder_for(self, message_encoding: str, schema: object) -> object:
        return json.loads if message_encoding == "json" else None


def _decompress(chunk: object) -> bytes:
    data, kind = chunk.data, chunk.compression  # type: ignore[attr-defined]
    if kind == "lz4":
        import lz4.frame

        return lz4.frame.decompress(data)
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompress(data, max_output_size=chunk.uncompressed_size)  # type: ignore[attr-defined]
    return data


def test_reads_format_2_recordings(tmp_path: Path) -> None:
    """Recordings of format 2 (states as JSON) still replay."""
    from mcap.writer import Writer

    old = tmp_path / "v2.mcap"
    rows = [
        {"episode": 0, "step": 0, "time": 0.0, "qpos": [0.1], "qvel": [0.0], "ctrl": [0.0],
         "observation": [1.0, 2.0], "action": None, "reward": None},
        {"episode": 0, "step": 1, "time": 0.04, "qpos": [0.2], "qvel": [2.5], "ctrl": [0.5],
         "observation": [1.5, 2.5], "action": [0.5], "reward": 0.25},
    ]  # fmt: skip
    with open(old, "wb") as stream:
        writer = Writer(stream)
        writer.start()
        writer.add_metadata("clankers", {"format": "2", "task": "pendulum", "control_dt": "0.04"})
        schema = writer.register_schema("clankers.State", "jsonschema", b"{}")
        channel = writer.register_channel(STATE_TOPIC, "json", schema)
        for i, row in enumerate(rows):
            writer.add_message(channel, log_time=i, publish_time=i, data=json.dumps(row).encode())
        writer.finish()
    (episode,) = read_recording(old).episodes
    np.testing.assert_array_equal(episode.qpos, [[0.1], [0.2]])
    np.testing.assert_array_equal(episode.actions, [[0.5]])
    np.testing.assert_array_equal(episode.rewards, [0.25])


def test_actions_are_kept_exactly_whatever_their_dtype() -> None:
    """Actions are kept in the action space's dtype (float32: a copy without conversion), and the
    rows widen to float64 the moment an action would not fit, earlier ones unchanged."""
    recorder = StateRecorder(make_env("cartpole"))
    recorder.reset(seed=0)
    passed = [
        np.array([0.25, -0.1], np.float32),
        [0.1, 1 / 3],  # a list (float64, not representable in float32): the rows widen
        np.array([0.5, 0.75]),  # float64
        np.array([-0.2, 0.3], np.float32),
    ]
    for action in passed:
        recorder.step(action)
    (episode,) = recorder.finish()
    assert episode.actions.dtype == np.float64
    np.testing.assert_array_equal(episode.actions, [np.asarray(a, np.float64) for a in passed])
