"""Episode recordings in MCAP, the log container robotics tools (Foxglove, ROS 2 bag tooling) read.

A recording holds one ``/clankers/step`` message per control step (observation, action, reward, episode
and step index) and one ``/clankers/episode`` message per episode (seed, return, length, how it ended),
all JSON-encoded with a JSON Schema, plus the run's metadata (policy file, task, versions). Log time is
simulated time (``step * control_dt``) offset per episode, so a viewer shows episodes one after another.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mcap.reader import make_reader
from mcap.writer import Writer

from clankers.envs.rollout import Evaluation

STEP_TOPIC = "/clankers/step"
EPISODE_TOPIC = "/clankers/episode"
_NUMBERS = {"type": "array", "items": {"type": "number"}}
STEP_SCHEMA = {
    "type": "object",
    "properties": {
        "episode": {"type": "integer"},
        "step": {"type": "integer"},
        "observation": _NUMBERS,
        "action": _NUMBERS,
        "reward": {"type": "number"},
    },
}
EPISODE_SCHEMA = {
    "type": "object",
    "properties": {
        "episode": {"type": "integer"},
        "seed": {"type": "integer"},
        "return": {"type": "number"},
        "length": {"type": "integer"},
        "terminated": {"type": "boolean"},
    },
}


def write_mcap(evaluation: Evaluation, path: str | Path, metadata: Mapping[str, str] | None = None) -> Path:
    """Write a recorded evaluation (``evaluate(..., record=True)``) to ``path``, atomically.

    Log times advance by the env's control period (1 ms per step if the env does not declare ``dt``).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    step_ns = round((evaluation.control_dt or 1e-3) * 1e9)
    try:
        with open(tmp, "wb") as stream:
            writer = Writer(stream)
            writer.start(profile="", library="clankers")
            step_schema = writer.register_schema(
                "clankers.Step", "jsonschema", json.dumps(STEP_SCHEMA).encode()
            )
            episode_schema = writer.register_schema(
                "clankers.Episode", "jsonschema", json.dumps(EPISODE_SCHEMA).encode()
            )
            step_channel = writer.register_channel(STEP_TOPIC, "json", step_schema)
            episode_channel = writer.register_channel(EPISODE_TOPIC, "json", episode_schema)
            writer.add_metadata("clankers", {"task": evaluation.task, **dict(metadata or {})})
            clock = 0
            for index, episode in enumerate(evaluation.episodes):
                if episode.observations is None or episode.actions is None or episode.rewards is None:
                    raise ValueError("write_mcap needs an evaluation run with record=True")
                for step, (obs, action, reward) in enumerate(
                    zip(episode.observations, episode.actions, episode.rewards, strict=False)
                ):
                    payload = {
                        "episode": index,
                        "step": step,
                        "observation": obs.tolist(),
                        "action": action.tolist(),
                        "reward": float(reward),
                    }
                    writer.add_message(
                        step_channel,
                        log_time=clock,
                        publish_time=clock,
                        sequence=step,
                        data=json.dumps(payload).encode(),
                    )
                    clock += step_ns
                summary = {"episode": index, **episode.to_dict()}
                writer.add_message(
                    episode_channel,
                    log_time=clock,
                    publish_time=clock,
                    sequence=index,
                    data=json.dumps(summary).encode(),
                )
                clock += step_ns
            writer.finish()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def read_mcap(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(topic, message)`` pairs of a clankers recording in log-time order."""
    with open(path, "rb") as stream:
        for _, channel, message in make_reader(stream).iter_messages(log_time_order=True):
            yield channel.topic, json.loads(message.data)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``clankers`` metadata record of a recording."""
    with open(path, "rb") as stream:
        for record in make_reader(stream).iter_metadata():
            if record.name == "clankers":
                return dict(record.metadata)
    return {}
