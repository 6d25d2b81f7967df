"""Distributed evaluation: the local numbers episode for episode, torch-free workers, every episode exactly
once when a worker dies, the `clankers eval` command. Runs inside the network sandbox."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

pytest.importorskip("ray")

from typer.testing import CliRunner

from _ray_helpers import FULL_SUITE_ONLY, SANDBOXED, kill_first_titled, linear_cartpole_policy, shared_ray
from clankers.cli import app
from clankers.distributed.evaluation import evaluate_policy_file
from clankers.errors import PolicyError

pytestmark = SANDBOXED
EPISODES = 12


@pytest.fixture(scope="module", autouse=True)
def _ray() -> None:
    shared_ray()


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return linear_cartpole_policy(tmp_path_factory.mktemp("eval") / "balance.onnx")


@pytest.fixture(scope="module")
def local_report(policy: Path) -> dict:
    return evaluate_policy_file(policy, "cartpole", EPISODES, seed=100).results()


def test_same_results_as_local_on_torch_free_workers(policy: Path, local_report: dict) -> None:
    report = evaluate_policy_file(policy, "cartpole", EPISODES, seed=100, use_ray=True, chunk_size=5)
    assert report.results() == local_report  # every episode, every statistic
    assert [e["seed"] for e in report.episodes] == list(range(100, 100 + EPISODES))
    assert report.backend == "ray" and report.failures == []
    assert sum(w["episodes"] for w in report.workers) == EPISODES
    assert not any(w["torch_loaded"] for w in report.workers)


def test_a_killed_worker_loses_no_episode_and_counts_none_twice(policy: Path, local_report: dict) -> None:
    killed: list[int] = []
    killer = threading.Thread(target=lambda: killed.append(kill_first_titled("ray::_run_chunk")))
    killer.start()
    report = evaluate_policy_file(policy, "cartpole", EPISODES, seed=100, use_ray=True, chunk_size=6)
    killer.join()
    assert killed, "no evaluation worker was killed"
    assert report.failures, "the lost chunk was not reported"
    failure = report.failures[0]
    assert failure["attempt"] == 1 and failure["error"] in ("WorkerCrashedError", "NodeDiedError")
    assert report.results() == local_report  # re-run, counted exactly once
    assert sum(w["episodes"] for w in report.workers) == EPISODES


@FULL_SUITE_ONLY
def test_a_bad_policy_fails_before_any_worker_runs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(PolicyError):
        evaluate_policy_file(bad, "cartpole", 4, use_ray=True)


@FULL_SUITE_ONLY
def test_eval_command_reports_and_matches_local(policy: Path, local_report: dict, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["eval", str(policy), "--env", "cartpole", "--episodes", str(EPISODES), "--seed", "100"]
    remote = runner.invoke(app, [*args, "--ray", "--json"])
    assert remote.exit_code == 0, remote.output
    data = json.loads(remote.output)
    assert data["backend"] == "ray"
    assert data["episodes"] == local_report["episodes"]
    assert data["mean_return"] == local_report["mean_return"] and data["ci95"] == local_report["ci95"]
    text = runner.invoke(app, [*args, "--json-out", str(tmp_path / "eval.json")])
    assert text.exit_code == 0, text.output
    assert "95% CI" in text.output and "this process" in text.output
    assert json.loads((tmp_path / "eval.json").read_text())["episodes"] == local_report["episodes"]
