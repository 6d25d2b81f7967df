"""Recordings as a LeRobotDataset (format v3.0): the layout LeRobot's loader and the Hub read.

``clankers dataset export recordings/*.mcap --format lerobot OUT/`` writes::

    OUT/meta/info.json                              codebase_version "v3.0", fps, features, paths
    OUT/meta/stats.json                             min/max/mean/std/count per feature
    OUT/meta/tasks.parquet                          task strings (index) -> task_index
    OUT/meta/episodes/chunk-000/file-000.parquet    one row per episode: length, data/video locations
    OUT/data/chunk-000/file-000.parquet             one row per frame
    OUT/videos/observation.images.main/chunk-000/file-000.mp4   every episode's frames, one after another

A frame is a recorded state and the action taken in it: frame ``i`` of an episode holds
``observation.state`` (the policy's observation at state ``i``), ``action`` (the action then taken),
``next.reward`` and ``next.done`` (what that action led to), the standard ``timestamp``, ``frame_index``,
``episode_index``, ``index`` and ``task_index``, and ``observation.images.main``: the state rendered
again from the recording (:mod:`clankers.viz.replay`), at the control rate, H.264 in an MP4. Each
episode's rows in ``meta/episodes`` say where its frames are (``dataset_from_index``/``to_index``) and
where its video is (``videos/<key>/from_timestamp``/``to_timestamp``).

Everything goes in one chunk and one file per kind (LeRobot splits at 1000 files per chunk and
100/200 MB per file; a clankers export that large would need splitting, which this writer refuses).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clankers.envs.recording import Recording, read_recording
from clankers.errors import ConfigError

CODEBASE_VERSION = "v3.0"
CAMERA = "observation.images.main"
_FILE = "chunk-000/file-000"
_MAX_FRAMES = 500_000


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            "dataset export needs pyarrow; install the viz extra: pip install 'clankers[viz]'"
        ) from exc
    return pa, pq


def _stats(values: np.ndarray) -> dict[str, list[Any]]:
    values = values.reshape(len(values), -1).astype(np.float64)
    return {
        "min": values.min(axis=0).tolist(),
        "max": values.max(axis=0).tolist(),
        "mean": values.mean(axis=0).tolist(),
        "std": values.std(axis=0).tolist(),
        "count": [len(values)],
    }


def _image_stats(
    total: np.ndarray, total_sq: np.ndarray, low: np.ndarray, high: np.ndarray, count: int
) -> dict:
    """Per-channel statistics of pixels scaled to [0, 1], shaped (3, 1, 1) as LeRobot stores them."""
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    shape = lambda v: np.asarray(v).reshape(3, 1, 1).tolist()  # noqa: E731
    return {"min": shape(low), "max": shape(high), "mean": shape(mean), "std": shape(std), "count": [count]}


def export_lerobot(
    recordings: Sequence[str | Path],
    out: str | Path,
    *,
    width: int = 320,
    height: int = 240,
    task: str | None = None,
    robot_type: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write ``recordings`` (one task, one control rate) as a LeRobotDataset v3.0 in ``out``.

    ``task`` is the language instruction stored per episode (default: the task's description, else its
    name). Returns the ``info.json`` written. The folder is built under a temporary name and renamed.
    """
    from clankers.render.video import VideoWriter
    from clankers.viz.replay import make_replay_env

    pa, pq = _pyarrow()
    if not recordings:
        raise ConfigError(
            "no recordings to export", hint="pass .mcap files written by `clankers run --record`"
        )
    loaded: list[Recording] = [read_recording(r) for r in recordings]
    first = loaded[0]
    for other in loaded[1:]:
        if other.task != first.task or other.control_dt != first.control_dt:
            raise ConfigError(
                f"{other.path} records {other.task!r} at {other.control_dt} s, {first.path} records "
                f"{first.task!r} at {first.control_dt} s; a dataset holds one task at one rate",
                hint="export each task to its own folder",
            )
    target = Path(out)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise ConfigError(
            f"{target} exists and is not empty", hint="choose another folder or pass --overwrite"
        )
    frames_total = sum(e.length for r in loaded for e in r.episodes)
    if frames_total > _MAX_FRAMES:
        raise ConfigError(f"{frames_total} frames is more than this writer puts in one file ({_MAX_FRAMES})")
    fps = 1.0 / first.control_dt
    if abs(fps - round(fps)) > 1e-6:
        raise ConfigError(
            f"control rate {fps} Hz is not a whole number of frames per second, which LeRobot needs"
        )
    fps_int = round(fps)

    env = make_replay_env(first, render_mode="rgb_array", width=width, height=height)
    base = env.unwrapped
    data = base.sim.data
    description = task or getattr(getattr(base, "config", None), "description", "") or first.task
    obs_names = json.loads(first.metadata.get("observation_names", "[]"))
    joint_names = first.joint_names
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    video_path = tmp / "videos" / CAMERA / f"{_FILE}.mp4"
    rows: dict[str, list[Any]] = {k: [] for k in (
        "observation.state", "action", "next.reward", "next.done", "timestamp", "frame_index",
        "episode_index", "index", "task_index")}  # fmt: skip
    episodes: list[dict[str, Any]] = []
    pixel_sum, pixel_sq = np.zeros(3), np.zeros(3)
    pixel_low, pixel_high = np.ones(3), np.zeros(3)
    pixels = 0
    index = 0
    try:
        writer = VideoWriter(video_path, fps_int)
        for recording in loaded:
            for episode in recording.episodes:
                episode_index = len(episodes)
                env.reset(seed=episode.seed)
                start, length = index, episode.length
                for i in range(length):
                    data.qpos[:] = episode.qpos[i]
                    data.qvel[:] = episode.qvel[i]
                    frame = env.render()
                    writer.write(frame)
                    scaled = frame.reshape(-1, 3) / 255.0
                    pixel_sum += scaled.sum(axis=0)
                    pixel_sq += (scaled**2).sum(axis=0)
                    pixel_low = np.minimum(pixel_low, scaled.min(axis=0))
                    pixel_high = np.maximum(pixel_high, scaled.max(axis=0))
                    pixels += len(scaled)
                    rows["observation.state"].append(episode.observations[i].astype(np.float32))
                    rows["action"].append(episode.actions[i].astype(np.float32))
                    rows["next.reward"].append(np.float32(episode.rewards[i]))
                    rows["next.done"].append(bool(i == length - 1))
                    rows["timestamp"].append(np.float32(i / fps_int))
                    rows["frame_index"].append(i)
                    rows["episode_index"].append(episode_index)
                    rows["index"].append(index)
                    rows["task_index"].append(0)
                    index += 1
                from_ts = start / fps_int
                episodes.append(
                    {
                        "episode_index": episode_index,
                        "tasks": [description],
                        "length": length,
                        "data/chunk_index": 0,
                        "data/file_index": 0,
                        "dataset_from_index": start,
                        "dataset_to_index": index,
                        f"videos/{CAMERA}/chunk_index": 0,
                        f"videos/{CAMERA}/file_index": 0,
                        f"videos/{CAMERA}/from_timestamp": from_ts,
                        f"videos/{CAMERA}/to_timestamp": from_ts + length / fps_int,
                        "meta/episodes/chunk_index": 0,
                        "meta/episodes/file_index": 0,
                        "source": str(recording.path),
                        "seed": -1 if episode.seed is None else int(episode.seed),
                    }
                )
        writer.close()
        if index == 0:
            raise ConfigError(
                "the recordings hold no steps", hint="record episodes with `clankers run --record`"
            )

        states = np.stack(rows["observation.state"])
        actions = np.stack(rows["action"])
        table = pa.table(
            {
                "observation.state": pa.array(list(states), type=pa.list_(pa.float32(), states.shape[1])),
                "action": pa.array(list(actions), type=pa.list_(pa.float32(), actions.shape[1])),
                "next.reward": pa.array(rows["next.reward"], type=pa.float32()),
                "next.done": pa.array(rows["next.done"], type=pa.bool_()),
                "timestamp": pa.array(rows["timestamp"], type=pa.float32()),
                "frame_index": pa.array(rows["frame_index"], type=pa.int64()),
                "episode_index": pa.array(rows["episode_index"], type=pa.int64()),
                "index": pa.array(rows["index"], type=pa.int64()),
                "task_index": pa.array(rows["task_index"], type=pa.int64()),
            }
        )
        (tmp / "data" / "chunk-000").mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp / "data" / f"{_FILE}.parquet")

        stats: dict[str, Any] = {
            "observation.state": _stats(states),
            "action": _stats(actions),
            "next.reward": _stats(np.array(rows["next.reward"])),
            "next.done": _stats(np.array(rows["next.done"])),
            "timestamp": _stats(np.array(rows["timestamp"])),
            "frame_index": _stats(np.array(rows["frame_index"])),
            "episode_index": _stats(np.array(rows["episode_index"])),
            "index": _stats(np.array(rows["index"])),
            "task_index": _stats(np.array(rows["task_index"])),
            CAMERA: _image_stats(pixel_sum, pixel_sq, pixel_low, pixel_high, pixels),
        }
        for row in episodes:  # per-episode statistics, as LeRobot keeps them (flattened column names)
            lo, hi = row["dataset_from_index"], row["dataset_to_index"]
            for key, values in (("observation.state", states[lo:hi]), ("action", actions[lo:hi])):
                for stat, value in _stats(values).items():
                    row[f"stats/{key}/{stat}"] = value
        (tmp / "meta" / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(episodes), tmp / "meta" / "episodes" / f"{_FILE}.parquet")
        import pandas as pd  # LeRobot writes and reads its tasks table with pandas: task string -> index

        pd.DataFrame({"task_index": [0]}, index=[description]).to_parquet(tmp / "meta" / "tasks.parquet")
        (tmp / "meta" / "stats.json").write_text(json.dumps(stats, indent=2))

        features = {
            "observation.state": {"dtype": "float32", "shape": [states.shape[1]], "names": obs_names or None},
            "action": {"dtype": "float32", "shape": [actions.shape[1]], "names": joint_names or None},
            "next.reward": {"dtype": "float32", "shape": [1], "names": None},
            "next.done": {"dtype": "bool", "shape": [1], "names": None},
            CAMERA: {
                "dtype": "video",
                "shape": [height, width, 3],
                "names": ["height", "width", "channels"],
                "info": {
                    "video.height": height,
                    "video.width": width,
                    "video.codec": "h264",
                    "video.pix_fmt": "yuv420p",
                    "video.is_depth_map": False,
                    "video.fps": fps_int,
                    "video.channels": 3,
                    "has_audio": False,
                },
            },
            "timestamp": {"dtype": "float32", "shape": [1], "names": None},
            "frame_index": {"dtype": "int64", "shape": [1], "names": None},
            "episode_index": {"dtype": "int64", "shape": [1], "names": None},
            "index": {"dtype": "int64", "shape": [1], "names": None},
            "task_index": {"dtype": "int64", "shape": [1], "names": None},
        }
        info = {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": robot_type or first.task,
            "total_episodes": len(episodes),
            "total_frames": index,
            "total_tasks": 1,
            "chunks_size": 1000,
            "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200,
            "fps": fps_int,
            "splits": {"train": f"0:{len(episodes)}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
            "features": features,
        }
        (tmp / "meta" / "info.json").write_text(json.dumps(info, indent=4))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return info
