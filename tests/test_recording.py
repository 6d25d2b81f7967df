"""Recordings that replay: physics state per step in MCAP, Foxglove's schemas, replays equal to the run."""

from __future__ import annotations

import json
from pathlib import Path

import mujoco
import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_protobuf.decoder import DecoderFactory
from typer.testing import CliRunner

from clankers.cli import app
from clankers.envs import make_env
from clankers.envs.recording import (
    EPISODE_TOPIC,
    JOINTS_TOPIC,
    STATE_TOPIC,
    TF_TOPIC,
    StateRecorder,
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
        np.testing.assert_array_equal(recorded.observations, run.observations)  # exact: JSON round-trips
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
