"""`clankers run`: closed-loop deployment with onnxruntime alone, and comparison with SB3."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from clankers.cli import app
from clankers.envs.rollout import evaluate
from clankers.policy import OnnxPolicy

runner = CliRunner()


def test_run_reports_each_episode_and_the_mean(tiny_cartpole_policy: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    result = runner.invoke(
        app,
        [
            "run",
            str(tiny_cartpole_policy),
            "--env",
            "cartpole",
            "--episodes",
            "3",
            "--seed",
            "5",
            "--json-out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert [e["seed"] for e in summary["episodes"]] == [5, 6, 7]
    assert f"mean return {summary['mean_return']:.2f}" in result.output
    # The CLI's numbers are the runner's numbers.
    direct = evaluate(OnnxPolicy(tiny_cartpole_policy).act, "cartpole", 3, seed=5)
    assert [e["return"] for e in summary["episodes"]] == direct.returns.tolist()


def test_run_compare_with_sb3_model(
    tiny_cartpole_policy: Path, tiny_cartpole_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval.json"
    result = runner.invoke(
        app,
        [
            "run",
            str(tiny_cartpole_policy),
            "--episodes",
            "4",
            "--compare",
            str(tiny_cartpole_model),
            "--json-out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    comparison = json.loads(out.read_text())["comparison"]
    assert comparison["returns_equal"] is True
    assert comparison["trajectories_match"] is True
    assert comparison["max_observation_diff"] < 1e-4


def test_run_imports_no_torch(tiny_cartpole_policy: Path) -> None:
    """Neither the ONNX runtime path nor the baselines (here: random) import torch or SB3."""
    args = ["run", str(tiny_cartpole_policy), "--episodes", "2", "--baseline", "random"]
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from clankers.cli import app\n"
        f"r = CliRunner().invoke(app, {args!r})\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'stable_baselines3'))\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout


def test_run_missing_policy_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(tmp_path / "nope.onnx")])
    assert result.exit_code == 2
    assert "PolicyFileNotFoundError" in result.output


def test_run_on_a_remote_server_matches_in_process(tiny_cartpole_policy: Path, tmp_path: Path) -> None:
    from clankers.server import ProtocolServer, ServerConfig
    from clankers.server.tasks import env_source

    with ProtocolServer(env_source("cartpole"), ServerConfig(port=0)) as server:
        host, port = server.address
        out = tmp_path / "remote.json"
        result = runner.invoke(
            app,
            [
                "run",
                str(tiny_cartpole_policy),
                "--episodes",
                "3",
                "--seed",
                "2",
                "--remote",
                f"{host}:{port}",
                "--json-out",
                str(out),
            ],
        )
    assert result.exit_code == 0, result.output
    remote = json.loads(out.read_text())
    local = evaluate(OnnxPolicy(tiny_cartpole_policy).act, "cartpole", 3, seed=2)
    assert [e["return"] for e in remote["episodes"]] == local.returns.tolist()
    assert [e["length"] for e in remote["episodes"]] == local.lengths.tolist()


def test_run_on_an_unreachable_remote_is_a_clear_error(tiny_cartpole_policy: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = runner.invoke(app, ["run", str(tiny_cartpole_policy), "--remote", f"127.0.0.1:{port}"])
    assert result.exit_code == 2
    flat = " ".join(result.stderr.split())
    assert f"error: RemoteConnectionError: nothing accepts connections at 127.0.0.1:{port}" in flat
    assert f"hint: start one there (clankers serve --task cartpole --port {port})" in flat


def test_json_prints_only_the_object_and_json_out_writes_the_same(
    tiny_cartpole_policy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval.json"
    args = ["run", str(tiny_cartpole_policy), "--episodes", "2", "--seed", "1"]
    printed = runner.invoke(app, [*args, "--json"])
    assert printed.exit_code == 0, printed.output
    data = json.loads(printed.stdout)  # nothing but the JSON object on stdout
    assert data["policy"] == str(tiny_cartpole_policy) and [e["seed"] for e in data["episodes"]] == [1, 2]
    written = runner.invoke(app, [*args, "--json-out", str(out)])
    assert "mean return" in written.stdout  # the human output stays
    assert json.loads(out.read_text()) == data


def test_a_policy_for_another_task_names_both_layouts(tiny_cartpole_policy: Path) -> None:
    result = runner.invoke(app, ["run", str(tiny_cartpole_policy), "--env", "pendulum", "--episodes", "1"])
    assert result.exit_code == 2
    flat = " ".join(result.stderr.split())
    assert "ObservationLayoutError" in flat and "was trained for another task" in flat
    cartpole = OnnxPolicy(tiny_cartpole_policy).metadata.observation_layout
    assert cartpole is not None and all(name in flat for name in cartpole)
    assert "hinge.cos" in flat  # the pendulum's own layout
    assert "exactly one observation" not in flat


def test_policy_file_and_policy_option_are_exclusive(tiny_cartpole_policy: Path) -> None:
    both = runner.invoke(app, ["run", str(tiny_cartpole_policy), "--policy", "zero"])
    neither = runner.invoke(app, ["run"])
    assert both.exit_code == neither.exit_code == 2
    assert "two policies given" in both.stderr and "no policy given" in neither.stderr
    assert "--policy zero|random|scripted" in " ".join(neither.stderr.split())
