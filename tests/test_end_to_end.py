"""The whole path through the CLI with a tiny budget: train -> export -> check -> run."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from clankers.cli import app

runner = CliRunner()


def test_train_export_check_run(tmp_path: Path) -> None:
    trained = runner.invoke(app, ["train", "cartpole", "--out", str(tmp_path), "--timesteps", "2048"])
    assert trained.exit_code == 0, trained.output
    assert (tmp_path / "model.zip").exists() and (tmp_path / "training_curve.png").exists()
    summary = json.loads((tmp_path / "training.json").read_text())
    assert summary["env_steps"] >= 2048 and summary["config"]["hyperparams"]["n_epochs"] == 10

    policy = tmp_path / "policy.onnx"
    exported = runner.invoke(
        app, ["export", str(tmp_path / "model.zip"), "-o", str(policy), "--env", "cartpole"]
    )
    assert exported.exit_code == 0, exported.output
    assert "parity with SB3 predict" in exported.output

    checked = runner.invoke(app, ["check", str(policy)])
    assert checked.exit_code == 0, checked.output

    ran = runner.invoke(
        app,
        [
            "run",
            str(policy),
            "--episodes",
            "2",
            "--compare",
            str(tmp_path / "model.zip"),
            "--json-out",
            str(tmp_path / "eval.json"),
        ],
    )
    assert ran.exit_code == 0, ran.output
    evaluation = json.loads((tmp_path / "eval.json").read_text())
    assert len(evaluation["episodes"]) == 2 and evaluation["comparison"]["returns_equal"]


def test_demo_writes_every_artifact(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo", "--name", "tiny", "--timesteps", "2048", "--episodes", "2"])
    run_dir = tmp_path / "runs" / "tiny"
    for name in (
        "model.zip",
        "policy.onnx",
        "check.txt",
        "check.json",
        "evaluation.json",
        "training_curve.png",
        "evaluation_returns.png",
        "summary.json",
        "manifest.json",
    ):
        assert (run_dir / name).exists(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["check"]["conforms"] is True
    assert summary["export"]["parity_passed"] is True
    assert result.exit_code == 0, result.output
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["kind"] == "demo" and manifest["status"] == "finished"
    assert manifest["stages"] == summary and manifest["demo"]["timesteps"] == 2048
    assert manifest["config"]["task"] == "cartpole" and manifest["task"]["sha256"]
