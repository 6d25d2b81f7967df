"""A real Ray cluster: `ray start --head` plus a second node joining it, each with its own raylet, object
store and one CPU. Training, evaluation and a sweep run across both nodes; then a node is lost in the middle
of an evaluation. Runs inside the network sandbox, in `make test-cluster` (minutes on 2 cores)."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path

import pytest

pytest.importorskip("ray")
pytest.importorskip("stable_baselines3")

from typer.testing import CliRunner

from _ray_helpers import CLUSTER_SUITE, SANDBOXED, linear_cartpole_policy, processes_titled
from clankers.cli import app
from clankers.distributed.evaluation import evaluate_policy_file
from clankers.distributed.sandbox import LocalCluster
from clankers.distributed.sb3 import ray_vec_env

pytestmark = [SANDBOXED, pytest.mark.skipif(not CLUSTER_SUITE, reason="make test-cluster")]


@pytest.fixture(scope="module")
def cluster() -> str:
    import ray

    if ray.is_initialized():  # a local Ray of another module in this session
        ray.shutdown()
    local = LocalCluster(nodes=2, cpus_per_node=1)
    with local as address:
        ray.init(address=address, logging_level=logging.WARNING)
        local.wait_for_nodes()
        yield address


def _params(model_zip: Path) -> dict:
    from stable_baselines3 import PPO

    model = PPO.load(model_zip, device="cpu")
    return {k: v.numpy().tobytes() for k, v in model.policy.state_dict().items()}


def test_training_on_both_nodes_equals_local_training(cluster: str, tmp_path: Path) -> None:
    from clankers.train import recipe_for, train

    config = recipe_for("cartpole", total_timesteps=1024, num_envs=4, overrides={"n_steps": 128})
    made = []

    def on_ray(task: str, num_envs: int, seed: int) -> object:
        env = ray_vec_env(2)(task, num_envs, seed)
        made.append(env.venv)
        return env

    remote = train(config, tmp_path / "ray", vec_env=on_ray)
    assert len({info["node"] for info in made[0].worker_info}) == 2  # one worker per node
    local = train(config, tmp_path / "local")
    assert _params(remote.model_path) == _params(local.model_path)
    assert remote.history == local.history

    # The command line, with the cluster's address: the same run again.
    cli = CliRunner().invoke(
        app,
        [
            *("train", "cartpole", "--timesteps", "1024", "--num-envs", "4", "--set", "n_steps=128"),
            *("--ray-address", cluster, "--num-workers", "2", "--out", str(tmp_path / "cli")),
        ],
    )
    assert cli.exit_code == 0, cli.output
    assert _params(tmp_path / "cli" / "model.zip") == _params(local.model_path)
    assert (tmp_path / "cli" / "manifest.json").is_file()


def test_evaluation_on_both_nodes_equals_local(cluster: str, tmp_path: Path) -> None:
    policy = linear_cartpole_policy(tmp_path / "balance.onnx")
    report = evaluate_policy_file(policy, "cartpole", 8, seed=3, use_ray=True, chunk_size=1)
    assert len({w["node"] for w in report.workers}) == 2
    assert not any(w["torch_loaded"] for w in report.workers)
    assert report.results() == evaluate_policy_file(policy, "cartpole", 8, seed=3).results()


def test_sweep_on_both_nodes(cluster: str, tmp_path: Path) -> None:
    from clankers.policy import check_policy

    out = tmp_path / "sweep"
    result = CliRunner().invoke(
        app,
        [
            *("sweep", "cartpole", "--param", "learning_rate=loguniform(1e-4,1e-3)", "--param", "n_epochs=2"),
            *("--trials", "2", "--seeds", "2", "--timesteps", "1024", "--out", str(out), "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # --json: stdout holds the JSON object only
    assert len(data["nodes"]) == 2  # one trial per node (1 CPU each)
    assert len(data["trials"]) == 2 and all(t["status"] == "complete" for t in data["trials"])
    for trial in data["trials"]:
        assert 1e-4 <= trial["values"]["learning_rate"] <= 1e-3 and trial["values"]["n_epochs"] == 2
        for seed in (0, 1):  # every run is a normal training run with its manifest
            run = Path(trial["trial_dir"]) / f"seed-{seed}"
            manifest = json.loads((run / "manifest.json").read_text())
            assert manifest["config"]["seed"] == seed
            assert manifest["config"]["hyperparams"]["learning_rate"] == trial["values"]["learning_rate"]
    assert data["best"]["trial_id"] == data["trials"][0]["trial_id"]
    assert (out / "results.csv").read_text().count("\n") == 3  # header + 2 trials
    assert (out / "best_trials.png").stat().st_size > 10_000
    assert check_policy(out / "best" / "policy.onnx").conforms


def _worker_node_raylet() -> int:
    """Pid of the raylet of the node that is not the head."""
    import ray

    node = next(
        n["NodeID"] for n in ray.nodes() if n["Alive"] and "node:__internal_head__" not in n["Resources"]
    )
    pids = [
        pid
        for pid in processes_titled("")
        if Path(f"/proc/{pid}/comm").read_text().strip() == "raylet"
        and f"--node_id={node}" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    ]
    assert len(pids) == 1, pids
    return pids[0]


def test_a_node_lost_mid_evaluation_loses_no_episode(cluster: str, tmp_path: Path) -> None:
    """Last in the module: the cluster has one node left afterwards."""
    policy = linear_cartpole_policy(tmp_path / "balance.onnx")
    expected = evaluate_policy_file(policy, "cartpole", 8, seed=50).results()
    raylet = _worker_node_raylet()
    killed: list[int] = []

    def kill_node_when_both_run() -> None:
        import time

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(processes_titled("ray::_run_chunk")) >= 2:  # one chunk on each node
                os.kill(raylet, signal.SIGKILL)
                killed.append(raylet)
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_node_when_both_run)
    killer.start()
    report = evaluate_policy_file(
        policy, "cartpole", 8, seed=50, use_ray=True, chunk_size=2, stall_timeout_s=180
    )
    killer.join()
    assert killed, "the second node was never busy"
    assert report.failures, "the chunk lost with the node was not reported"
    assert report.results() == expected  # every episode once, the lost ones re-run on the head
