"""Replay a recording: rebuild its task, put the simulation in each recorded state, render it again.

Nothing is re-simulated: each frame is drawn from the recorded ``qpos``/``qvel``, after resetting the
task with the episode's seed (which restores what a reset decides besides the joint state: randomized
model parameters, targets). So a replay shows exactly what was recorded, and, drawn at the same size
with the same options, gives the same frames as the run's own ``--video`` (the tests check it).

The task comes from the recording's metadata (its short name, Gymnasium id or task file); when the
recorded task file or robot descriptions differ from the files found now (SHA-256), the replay warns:
the scene may not be the one that was recorded.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clankers.envs.recording import Recording, read_recording
from clankers.errors import ConfigError


@dataclass
class ReplayResult:
    path: Path
    frames: int
    episodes: list[int]
    kept: list[np.ndarray] = field(default_factory=list)


def make_replay_env(recording: Recording, **kwargs: object):  # type: ignore[no-untyped-def]
    """The recording's task, made again (``kwargs`` go to ``make_env``: render mode, size)."""
    from clankers.envs import make_env

    candidates = [recording.task, recording.metadata.get("env_id", "")]
    task_file = (recording.sources.get("task_file") or {}).get("path")
    if task_file:
        candidates.append(task_file)
    errors = []
    for task in dict.fromkeys(c for c in candidates if c):
        try:
            env = make_env(task, **kwargs)
        except ConfigError as err:
            errors.append(f"{task}: {err}")
            continue
        _check_sources(recording)
        model = env.unwrapped.sim.model
        if model.nq != int(recording.metadata.get("nq", model.nq)):
            env.close()
            raise ConfigError(
                f"{recording.path}: recorded with nq={recording.metadata['nq']}, but task {task!r} has "
                f"nq={model.nq} now; replay it with the task files it was recorded with"
            )
        return env
    raise ConfigError(
        f"cannot rebuild the task of {recording.path} ({'; '.join(errors) or 'no task in its metadata'}); "
        "replay it where its task is registered or its task file exists"
    )


def _check_sources(recording: Recording) -> None:
    files = [recording.sources.get("task_file"), *list(recording.sources.get("robots", []))]
    for item in files:
        if not item or not item.get("sha256"):
            continue
        path = Path(item.get("path") or item.get("urdf", ""))
        if not path.is_file():
            warnings.warn(f"{recording.path}: {path} is gone; replaying with the task as found", stacklevel=3)
        elif hashlib.sha256(path.read_bytes()).hexdigest() != item["sha256"]:
            warnings.warn(
                f"{recording.path}: {path} changed since the recording (SHA-256 differs); the replayed scene "
                "may differ from the recorded one",
                stacklevel=3,
            )


def replay_video(
    recording: str | Path | Recording,
    video: str | Path,
    *,
    episodes: Sequence[int] | None = None,
    fps: float | None = None,
    overlay: bool = False,
    width: int = 640,
    height: int = 480,
    keep: bool = False,
) -> ReplayResult:
    """Render the recorded ``episodes`` (all by default) into ``video`` (.mp4 or .gif)."""
    from clankers.render.video import Film

    rec = recording if isinstance(recording, Recording) else read_recording(recording)
    chosen = list(range(len(rec.episodes))) if episodes is None else list(episodes)
    for index in chosen:
        if not 0 <= index < len(rec.episodes):
            raise ConfigError(
                f"{rec.path} has episodes 0..{len(rec.episodes) - 1}; episode {index} does not exist"
            )
    env = make_replay_env(rec, render_mode="rgb_array", width=width, height=height)
    base = env.unwrapped
    data = base.sim.data
    film = Film(video, rec.control_dt or base.dt, fps, overlay)
    result = ReplayResult(path=Path(video), frames=0, episodes=chosen)
    try:
        for index in chosen:
            episode = rec.episodes[index]
            env.reset(seed=episode.seed)
            film.start_episode(index)
            total = 0.0
            for step in range(len(episode.time)):
                if step:
                    total += float(episode.rewards[step - 1])
                if not film.wants(step):
                    continue
                data.qpos[:] = episode.qpos[step]
                data.qvel[:] = episode.qvel[step]
                data.time = episode.time[step]
                action = episode.actions[step - 1] if step else None
                frame = film.capture(env.render, step, total, action)
                result.frames += 1
                if keep and frame is not None:
                    result.kept.append(frame)
    finally:
        film.close()
        env.close()
    return result
