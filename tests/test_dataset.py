"""LeRobotDataset v3.0 export, checked against LeRobot's published layout.

LeRobot itself (0.4.x) pins torch < 2.11 and so does not install beside this project's torch; these tests
check what its loader reads: ``meta/info.json`` (paths, features, fps), ``meta/episodes`` rows pointing at
frames and video spans, the data parquet's columns and types, ``meta/tasks.parquet`` indexed by the task
string, ``meta/stats.json``, and an MP4 with one frame per data row.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from clankers.cli import app
from clankers.envs import make_env
from clankers.envs.recording import StateRecorder, read_recording, write_recording
from clankers.envs.rollout import evaluate
from clankers.errors import ConfigError
from clankers.render.video import read_video
from clankers.viz.dataset import CAMERA


def _recording(path: Path, seed: int, episodes: int) -> Path:
    env = StateRecorder(make_env("arm_reach", max_episode_steps=10))
    rng = np.random.default_rng(seed)
    evaluate(
        lambda obs: rng.uniform(-1, 1, 2).astype(np.float32),
        "arm_reach",
        episodes,
        seed=seed,
        env_factory=lambda: env,
    )
    return write_recording(path, env.finish(), env, {"task": "arm_reach"}, foxglove=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    folder = tmp_path_factory.mktemp("lerobot")
    recordings = [_recording(folder / "a.mcap", 0, 2), _recording(folder / "b.mcap", 5, 1)]
    result = CliRunner().invoke(
        app,
        [
            "dataset",
            "export",
            *map(str, recordings),
            str(folder / "out"),
            "--format",
            "lerobot",
            "--video-size",
            "64x48",
        ],
    )
    assert result.exit_code == 0, result.output
    return folder / "out", recordings


def test_info_json_follows_lerobot_v3(exported: tuple[Path, list[Path]]) -> None:
    out, _ = exported
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    assert info["fps"] == 25 and info["total_episodes"] == 3 and info["total_frames"] == 30
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    features = info["features"]
    for key in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        assert features[key]["shape"] == [1]
    assert (
        features["observation.state"]["shape"] == [15] and len(features["observation.state"]["names"]) == 15
    )
    assert features["action"]["names"] == ["j1_shoulder", "j2_elbow"]
    assert features[CAMERA]["dtype"] == "video" and features[CAMERA]["shape"] == [48, 64, 3]
    assert features[CAMERA]["info"]["video.fps"] == 25


def test_data_episodes_tasks_and_stats_agree(exported: tuple[Path, list[Path]]) -> None:
    out, recordings = exported
    data = pq.read_table(out / "data" / "chunk-000" / "file-000.parquet").to_pandas()
    assert list(data["index"]) == list(range(30))
    assert data.groupby("episode_index")["frame_index"].apply(list).tolist() == [list(range(10))] * 3
    np.testing.assert_allclose(data["timestamp"].iloc[:10], np.arange(10) / 25, atol=1e-6)
    episodes = pq.read_table(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    assert [e["dataset_from_index"] for e in episodes] == [0, 10, 20]
    assert [e["dataset_to_index"] for e in episodes] == [10, 20, 30]
    assert episodes[1][f"videos/{CAMERA}/from_timestamp"] == pytest.approx(10 / 25)
    assert episodes[0]["tasks"] == ["Two-link arm in a vertical plane reaching a random target under gravity"]
    first = read_recording(recordings[0]).episodes[0]
    np.testing.assert_array_equal(
        np.stack(data["observation.state"].iloc[:10]), first.observations[:10].astype(np.float32)
    )
    np.testing.assert_array_equal(np.stack(data["action"].iloc[:10]), first.actions.astype(np.float32))
    assert data["next.done"].tolist().count(True) == 3
    tasks = pd.read_parquet(out / "meta" / "tasks.parquet")
    assert int(tasks.loc[episodes[0]["tasks"][0]].task_index) == 0  # LeRobot's lookup
    stats = json.loads((out / "meta" / "stats.json").read_text())
    actions = np.stack(data["action"])
    np.testing.assert_allclose(stats["action"]["mean"], actions.mean(axis=0), rtol=1e-6)
    assert np.array(stats[CAMERA]["mean"]).shape == (3, 1, 1)


def test_video_has_a_frame_per_row(exported: tuple[Path, list[Path]]) -> None:
    out, _ = exported
    frames = read_video(out / "videos" / CAMERA / "chunk-000" / "file-000.mp4")
    assert frames.shape == (30, 48, 64, 3) and frames.std() > 5


def test_export_refuses_mixed_tasks_and_existing_folders(
    exported: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    from clankers.viz.dataset import export_lerobot

    out, recordings = exported
    with pytest.raises(ConfigError, match="not empty"):
        export_lerobot(recordings, out)
    other = StateRecorder(make_env("pendulum", max_episode_steps=3))
    evaluate(lambda obs: np.zeros(1, np.float32), "pendulum", 1, env_factory=lambda: other)
    pendulum = write_recording(
        tmp_path / "p.mcap", other.finish(), other, {"task": "pendulum"}, foxglove=False
    )
    with pytest.raises(ConfigError, match="one task"):
        export_lerobot([recordings[0], pendulum], tmp_path / "mixed")
