"""MCAP recordings of closed-loop runs: every step and episode, readable back, consistent with the run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from clankers.cli import app
from clankers.envs.recording import EPISODE_TOPIC, STEP_TOPIC, read_mcap, read_metadata, write_mcap
from clankers.envs.rollout import evaluate


def test_recording_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    evaluation = evaluate(
        lambda obs: rng.uniform(-1, 1, 2).astype(np.float32), "cartpole", 2, seed=3, record=True
    )
    path = write_mcap(evaluation, tmp_path / "run.mcap", {"policy": "random"})
    messages = list(read_mcap(path))
    steps = [m for topic, m in messages if topic == STEP_TOPIC]
    episodes = [m for topic, m in messages if topic == EPISODE_TOPIC]
    assert len(steps) == sum(e.length for e in evaluation.episodes)
    assert [e["seed"] for e in episodes] == [3, 4]
    assert [e["return"] for e in episodes] == evaluation.returns.tolist()
    first = evaluation.episodes[0]
    np.testing.assert_array_equal(np.array(steps[0]["observation"], dtype=np.float32), first.observations[0])
    np.testing.assert_array_equal(np.array(steps[1]["action"], dtype=np.float32), first.actions[1])
    assert read_metadata(path) == {"task": "cartpole", "policy": "random"}
    assert not list(tmp_path.glob(".*tmp"))


def test_run_command_records(tiny_cartpole_policy: Path, tmp_path: Path) -> None:
    out = tmp_path / "episodes.mcap"
    result = CliRunner().invoke(
        app, ["run", str(tiny_cartpole_policy), "--episodes", "2", "--record", str(out)]
    )
    assert result.exit_code == 0, result.output
    episodes = [m for topic, m in read_mcap(out) if topic == EPISODE_TOPIC]
    assert len(episodes) == 2
    assert read_metadata(out)["policy"] == str(tiny_cartpole_policy)
