"""`clankers train`: recipe + overrides, `--num-envs` (and the deprecated `--n-envs`), `--resume`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from clankers.cli import app

runner = CliRunner()

# 2 envs x 64-step rollouts, 2 evaluation episodes after each: a run of a few hundred steps in seconds.
SMALL = ["--set", "n_steps=64", "--set", "eval_episodes=2", "--set", "checkpoint_every=128"]


def test_train_then_resume_to_a_larger_budget(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "cartpole", "--out", str(out), "--timesteps", "256", "--n-envs", "2", "--seed", "3"]
    first = runner.invoke(app, [*args, *SMALL])
    assert first.exit_code == 0, first.output
    assert "--n-envs is deprecated; use --num-envs" in first.stderr
    assert "after 256 env steps" in " ".join(first.stdout.split())
    config = json.loads((out / "training.json").read_text())["config"]
    assert (config["num_envs"], config["seed"], config["hyperparams"]["n_steps"]) == (2, 3, 64)

    refused = runner.invoke(app, ["train", "--out", str(out), "--resume", "--seed", "4"])
    assert refused.exit_code == 2 and "--seed cannot change a resumed run" in refused.stderr

    resumed = runner.invoke(app, ["train", "--out", str(out), "--resume", "--timesteps", "384"])
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads((out / "training.json").read_text())
    assert summary["env_steps"] == 384 and summary["config"]["seed"] == 3  # the run's own config
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["resumed"] for s in manifest["sessions"]] == [False, True]
    invocation = manifest["sessions"][1]["invocation"]
    assert invocation["command"] == "train" and invocation["options"]["resume"] is True
    assert invocation["options"]["timesteps"] == 384


def test_train_option_errors_go_through_the_one_path(tmp_path: Path) -> None:
    bad = runner.invoke(app, ["train", "cartpole", "--out", str(tmp_path), "--set", "nope=1"])
    assert bad.exit_code == 2
    flat = " ".join(bad.stderr.split())
    assert "error: ConfigError: unknown setting(s) ['nope'] for PPO" in flat and "hint: settable" in flat
    missing = runner.invoke(app, ["train", "cartpole", "--out", str(tmp_path / "x"), "--resume"])
    assert missing.exit_code == 2 and "no checkpoint in" in " ".join(missing.stderr.split())
    clash = runner.invoke(app, ["train", "cartpole", "--n-envs", "2", "--num-envs", "4"])
    assert clash.exit_code == 2 and "disagree" in clash.stderr
