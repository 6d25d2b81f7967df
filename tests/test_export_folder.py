"""``clankers export DIR``: RL Zoo and Hugging Face experiment folders, pieces found and reported."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from clankers.errors import ExportError
from clankers.export import export_sb3
from export_legacy_fixtures import gym_era_zip, old_vecnormalize
from export_toy_envs import env_id

# A zoo config.yml as rl-baselines3-zoo writes it (an OrderedDict dumped with Python tags).
CONFIG = """!!python/object/apply:collections.OrderedDict
- - - n_envs
    - 1
  - - normalize
    - '{''norm_obs'': True, ''norm_reward'': False}'
  - - policy
    - MlpPolicy
  - - policy_kwargs
    - dict(net_arch=[16])
"""
ARGS = """!!python/object/apply:collections.OrderedDict
- - - algo
    - ppo
  - - env
    - Toy-v0
  - - seed
    - 0
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A gym-era PPO zip, another one (a 'best model'), and SB3 1.x statistics."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    root = tmp_path_factory.mktemp("zoo-models")
    venv = VecNormalize(DummyVecEnv([lambda: gym.make(env_id("vector", "box"))]), norm_reward=False)
    venv.reset()
    for _ in range(40):
        venv.step(np.array([venv.action_space.sample()]))
    for name, seed in (("final", 0), ("best", 1)):
        PPO("MlpPolicy", venv, policy_kwargs={"net_arch": [16]}, device="cpu", seed=seed).save(root / "m.zip")
        gym_era_zip(root / "m.zip", root / f"{name}.zip", "0.21")
    old_vecnormalize(venv, root / "stats.pkl", gym_style="0.21")
    return {"final": root / "final.zip", "best": root / "best.zip", "stats": root / "stats.pkl", "venv": venv}


def _zoo_folder(root: Path, trained: dict[str, Any], stats: bool = True) -> Path:
    run = root / "ppo" / "Toy-v0_1"
    sub = run / "Toy-v0"
    sub.mkdir(parents=True)
    shutil.copy(trained["final"], run / "Toy-v0.zip")
    shutil.copy(trained["best"], run / "best_model.zip")
    shutil.copy(trained["best"], run / "rl_model_1000_steps.zip")
    (sub / "config.yml").write_text(CONFIG)
    (sub / "args.yml").write_text(ARGS)
    if stats:
        shutil.copy(trained["stats"], sub / "vecnormalize.pkl")
    return run


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_zoo_folder_exports_with_the_pieces_it_found(trained: dict[str, Any], tmp_path: Path) -> None:
    from clankers.cli import app

    run = _zoo_folder(tmp_path, trained)
    out = tmp_path / "policy.onnx"
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "model Toy-v0.zip" in text and "statistics Toy-v0/vecnormalize.pkl" in text
    assert "trained on Toy-v0 (args.yml)" in text and "level verified" in text
    props = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert props["source_model_sha256"] == _sha(run / "Toy-v0.zip")  # the final model, not best/checkpoint
    normalization = json.loads(props["observation_normalization"])
    assert normalization["source_sha256"] == _sha(run / "Toy-v0" / "vecnormalize.pkl")

    report = export_sb3(run, tmp_path / "api.onnx")
    assert report.files["model"] == str(run / "Toy-v0.zip")
    assert report.files["vecnormalize"] == str(run / "Toy-v0" / "vecnormalize.pkl")
    assert report.files["config"] == str(run / "Toy-v0" / "config.yml")


def test_hub_folder(trained: dict[str, Any], tmp_path: Path) -> None:
    """A Hugging Face copy: ppo-<env>.zip, vec_normalize.pkl and config.yml side by side."""
    repo = tmp_path / "ppo-Toy-v0"
    repo.mkdir()
    shutil.copy(trained["final"], repo / "ppo-Toy-v0.zip")
    shutil.copy(trained["stats"], repo / "vec_normalize.pkl")
    (repo / "config.yml").write_text(CONFIG)
    (repo / "train_eval_metrics.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip, not a model
    report = export_sb3(repo, tmp_path / "p.onnx")
    assert report.files["model"] == str(repo / "ppo-Toy-v0.zip")
    assert report.files["vecnormalize"] == str(repo / "vec_normalize.pkl")
    assert report.level == "verified"


def test_explicit_statistics_win(trained: dict[str, Any], tmp_path: Path) -> None:
    run = _zoo_folder(tmp_path, trained)
    other = tmp_path / "other.pkl"
    shutil.copy(trained["stats"], other)
    report = export_sb3(run, tmp_path / "p.onnx", vecnormalize=other)
    assert report.files["vecnormalize"] == str(other)


def test_missing_statistics_the_config_asks_for(trained: dict[str, Any], tmp_path: Path) -> None:
    run = _zoo_folder(tmp_path, trained, stats=False)
    with pytest.raises(ExportError, match="trained behind VecNormalize") as err:
        export_sb3(run, tmp_path / "p.onnx")
    assert "--vecnormalize" in (err.value.hint or "")
    assert not (tmp_path / "p.onnx").exists()


def test_ambiguous_or_empty_folders(trained: dict[str, Any], tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(trained["final"], mixed / "a.zip")
    shutil.copy(trained["best"], mixed / "b.zip")
    with pytest.raises(ExportError, match="several model zips") as err:
        export_sb3(mixed, tmp_path / "p.onnx")
    assert "a.zip" in str(err.value) and "b.zip" in str(err.value) and err.value.hint
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ExportError, match="holds no model zip"):
        export_sb3(empty, tmp_path / "p.onnx")
    only_best = tmp_path / "only_best"
    only_best.mkdir()
    shutil.copy(trained["best"], only_best / "best_model.zip")
    assert export_sb3(only_best, tmp_path / "p.onnx").files["model"].endswith("best_model.zip")
