"""Checkpoints, resume and the run manifest: an interrupted run continues its step count and finishes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from clankers.errors import ConfigError
from clankers.train import TrainConfig, checkpoint_config, latest_checkpoint, recipe_for, train


class _Interrupt:
    """A progress callback that presses Ctrl-C once training reaches ``at`` env steps."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self, steps: int, total: int, status: str) -> None:
        if steps >= self.at:
            raise KeyboardInterrupt


def _ppo(total: int = 768) -> TrainConfig:
    # 2 envs x 64 steps = 128-step rollouts, an evaluation (2 episodes) after each, a checkpoint every 256.
    config = recipe_for("cartpole", total_timesteps=total, num_envs=2).replace(
        target_return=None, eval_every=128, eval_episodes=2, checkpoint_every=256
    )
    return config.with_hyperparams(n_steps=64, batch_size=64, n_epochs=2)


def test_interrupted_ppo_run_resumes_and_finishes(tmp_path: Path) -> None:
    config = _ppo()
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path, progress=_Interrupt(512))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["sessions"][0]["to_steps"] == 512
    assert not (tmp_path / "model.zip").exists()
    folder = latest_checkpoint(tmp_path)
    assert folder is not None and json.loads((folder / "progress.json").read_text())["steps"] == 256
    assert checkpoint_config(tmp_path) == config

    result = train(config, tmp_path, resume=True)
    assert result.env_steps == 768  # the step count continued from the checkpoint to the budget
    assert result.history["eval_steps"] == [128.0, 256.0, 384.0, 512.0, 640.0, 768.0]
    summary = json.loads(result.summary_path.read_text())
    assert summary["env_steps"] == 768 and result.model_path.is_file()

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["results"]["env_steps"] == 768
    first, second = manifest["sessions"]
    assert (first["resumed"], second["resumed"]) == (False, True)
    assert (second["from_steps"], second["to_steps"]) == (256, 768)
    assert manifest["wall_time_s"] == pytest.approx(first["wall_time_s"] + second["wall_time_s"], abs=2e-3)
    # The final state is a checkpoint too, so a finished run can be trained further.
    assert json.loads((latest_checkpoint(tmp_path) / "progress.json").read_text())["steps"] == 768
    with pytest.raises(ConfigError, match="already has 768"):
        train(config, tmp_path, resume=True)


def test_resuming_from_one_checkpoint_is_reproducible(tmp_path: Path) -> None:
    import torch
    from stable_baselines3 import PPO

    config = _ppo(total=512)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "a", progress=_Interrupt(384))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    params = []
    for run in ("a", "b"):
        result = train(config, tmp_path / run, resume=True)
        assert result.env_steps == 512
        params.append(PPO.load(result.model_path, device="cpu").policy.state_dict())
    assert all(torch.equal(params[0][k], params[1][k]) for k in params[0])


def test_sac_checkpoint_keeps_the_replay_buffer(tmp_path: Path) -> None:
    from stable_baselines3.common.save_util import load_from_pkl

    config = recipe_for("pendulum", total_timesteps=300).replace(
        eval_every=100, eval_episodes=1, checkpoint_every=100
    )
    config = config.with_hyperparams(learning_starts=50, buffer_size=1_000, batch_size=32)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path, progress=_Interrupt(200))
    folder = latest_checkpoint(tmp_path)
    assert folder is not None and load_from_pkl(folder / "replay_buffer.pkl").size() == 100
    result = train(config, tmp_path, resume=True)
    assert result.env_steps == 300 and result.history["eval_steps"] == [100.0, 200.0, 300.0]
    buffer = load_from_pkl(latest_checkpoint(tmp_path) / "replay_buffer.pkl")
    assert buffer.size() == 300  # the 100 transitions from before the interruption, and 200 after
    assert np.isfinite(result.eval_mean)


def test_resume_refuses_a_missing_checkpoint_and_a_changed_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(_ppo(), tmp_path, resume=True)
    config = _ppo(total=256)
    train(config, tmp_path)
    with pytest.raises(ConfigError, match="seed") as info:
        train(config.replace(seed=1, total_timesteps=512), tmp_path, resume=True)
    assert "total_timesteps" in (info.value.hint or "")


def test_manifest_says_what_went_in(tmp_path: Path) -> None:
    config = _ppo(total=128).replace(checkpoint_every=None)
    train(config, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["kind"] == "train" and manifest["status"] == "finished"
    assert TrainConfig.model_validate(manifest["config"]) == config
    assert manifest["seeds"]["seed"] == 0 and manifest["seeds"]["evaluation"] == 10_000
    assert {"python", "numpy", "mujoco", "gymnasium", "torch", "stable-baselines3"} <= set(
        manifest["packages"]
    )
    assert manifest["clankers_version"]
    task = manifest["task"]
    assert task["name"] == "cartpole" and task["file"].endswith("cartpole.toml")
    import hashlib

    assert task["sha256"] == hashlib.sha256(Path(task["file"]).read_bytes()).hexdigest()
    assert manifest["git"] is None or len(manifest["git"]["commit"]) == 40
    assert isinstance(manifest["sessions"][0]["command"], list)
    assert manifest["results"]["env_steps"] == 128 and manifest["wall_time_s"] > 0
    assert not (tmp_path / "checkpoints").exists()  # checkpoint_every=None: no checkpoints


def test_a_failed_run_says_so_in_its_manifest(tmp_path: Path) -> None:
    def explode(steps: int, total: int, status: str) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        train(_ppo(total=256).replace(checkpoint_every=None), tmp_path, progress=explode)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["error"] == "RuntimeError: boom"
    assert manifest["sessions"][0]["to_steps"] == 128
