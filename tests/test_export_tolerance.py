"""The parity check means something for every model: observations from the model's operating region, a
float32-aware tolerance relative to the action scale (reported absolute and relative, set with
``--tolerance``), and graphs that are really wrong still fail."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from typer.testing import CliRunner

from clankers.errors import ParityError
from clankers.export import ExportOptions, export_sb3
from clankers.export.observations import OUTLIER_FRACTION, STATS_SPAN, UNBOUNDED_WINDOW, observation_inputs
from clankers.export.vecnormalize import load_vecnormalize
from clankers.policy import check_policy
from export_helpers import corrupt_graph, drop_normalization, perturb_weight
from export_toy_envs import env_id

SMALL = {"net_arch": [16]}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """PPO, SAC and TD3 on the toy Box task, and VecNormalize statistics with some history."""
    import stable_baselines3
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    root = tmp_path_factory.mktemp("tolerance")
    venv = VecNormalize(DummyVecEnv([lambda: gym.make(env_id("vector", "box"))]), norm_reward=False)
    venv.reset()
    for _ in range(50):
        venv.step(np.array([venv.action_space.sample()]))
    venv.save(root / "vecnormalize.pkl")
    paths = {"stats": root / "vecnormalize.pkl"}
    for algo in ("PPO", "SAC", "TD3"):
        extra = {} if algo == "PPO" else {"buffer_size": 10}
        model = getattr(stable_baselines3, algo)(
            "MlpPolicy", venv, policy_kwargs=dict(SMALL), device="cpu", seed=0, **extra
        )
        model.save(root / f"{algo}.zip")
        paths[algo] = root / f"{algo}.zip"
    return paths


# --- wrong graphs fail --------------------------------------------------------------------------------

WRONG: list[tuple[str, str, Callable[[Any], None], bool]] = [
    ("PPO", "last-layer weight +1e-3", perturb_weight(1e-3, "last"), False),
    ("SAC", "last-layer weight +1e-3", perturb_weight(1e-3, "last"), False),
    ("SAC", "first-layer weight +1e-3", perturb_weight(1e-3, "first"), False),
    ("TD3", "first-layer weight +1e-3", perturb_weight(1e-3, "first"), False),
    ("PPO", "normalization left out", drop_normalization("all"), True),
    ("PPO", "clip_obs clip left out", drop_normalization("clip"), True),
    ("SAC", "clip_obs clip left out", drop_normalization("clip"), True),
]


@pytest.mark.parametrize(
    ("algo", "what", "change", "normalized"), WRONG, ids=[f"{w[0]}-{w[1]}" for w in WRONG]
)
def test_wrong_graph_fails(
    algo: str,
    what: str,
    change: Callable[[Any], None],
    normalized: bool,
    models: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stats = models["stats"] if normalized else None
    right = export_sb3(models[algo], tmp_path / "right.onnx", vecnormalize=stats, n_samples=1000)
    assert right.parity.passed  # the same model, exported faithfully, passes
    corrupt_graph(monkeypatch, change)
    with pytest.raises(ParityError, match="of the action scale") as err:
        export_sb3(models[algo], tmp_path / "wrong.onnx", vecnormalize=stats, n_samples=1000)
    assert "--tolerance" in (err.value.hint or "")
    assert not (tmp_path / "wrong.onnx").exists()


# --- the tolerance --------------------------------------------------------------------------------------


def test_tolerance_is_relative_to_the_action_scale_and_reported(
    models: dict[str, Path], tmp_path: Path
) -> None:
    report = export_sb3(models["SAC"], tmp_path / "p.onnx", n_samples=1000, tolerance=3e-4)
    parity = report.parity
    # Toy action space: low (-1, 0), high (2, 0.5): half ranges 1.5 and 0.25, or |action| where larger.
    assert parity.action_scale is not None
    assert 1.5 <= parity.action_scale[0] <= 2.0 and 0.25 <= parity.action_scale[1] <= 0.5
    assert parity.abs_tolerance == pytest.approx(3e-4 * parity.action_scale[0])
    assert parity.max_rel_diff <= 3e-4 and parity.max_abs_diff <= parity.abs_tolerance
    record = json.loads(report.metadata["parity"])
    assert record["relative_tolerance"] == 3e-4 and record["tolerance"] == parity.abs_tolerance
    assert record["max_rel_diff"] == parity.max_rel_diff and record["action_scale"] == parity.action_scale
    assert "relative_tolerance * action_scale" in record["comparison"]
    assert check_policy(tmp_path / "p.onnx").level == "verified"  # the checker reads the absolute bound
    assert any("of the action scale" in line and "relative" in line for line in report.checks)


class _WideEnv(gym.Env):
    """Actions in the hundreds (torques in N·m, say): float32 rounding of such outputs exceeds 1e-5."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (6,), np.float32)
    action_space = gym.spaces.Box(-800.0, 800.0, (3,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        return np.zeros(6, np.float32), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        return np.zeros(6, np.float32), 0.0, True, False, {}


def test_large_actions_pass_with_a_scaled_tolerance(tmp_path: Path) -> None:
    import torch
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", _WideEnv(), policy_kwargs={"net_arch": [64, 64]}, device="cpu", seed=0)
    with torch.no_grad():
        model.policy.action_net.weight.mul_(2e4)  # outputs spread over the action range
        model.policy.action_net.bias.uniform_(-400.0, 400.0)
    model.save(tmp_path / "wide.zip")
    report = export_sb3(tmp_path / "wide.zip", tmp_path / "wide.onnx", n_samples=1000)
    assert report.parity.passed and report.parity.abs_tolerance == pytest.approx(1e-4 * 800)
    assert report.parity.max_abs_diff > 1e-5  # what a fixed absolute 1e-5 would have refused


# --- parity observations -----------------------------------------------------------------------------


def test_samples_come_from_the_statistics_with_outliers_past_the_clip(models: dict[str, Path]) -> None:
    stats = load_vecnormalize(models["stats"])
    assert stats is not None
    (spec,) = observation_inputs(gym.spaces.Box(-np.inf, np.inf, (4,), np.float32), None, stats)
    assert spec.normalization is not None
    mean, std, clip = spec.normalization
    x = spec.sample(4000, np.random.default_rng(0)).astype(np.float64)
    z = (x - mean) / std
    inside = np.abs(z) <= STATS_SPAN + 1e-6
    assert inside.mean() > 0.9
    rows_past_clip = np.any(np.abs(z) > clip, axis=1).mean()
    assert abs(rows_past_clip - OUTLIER_FRACTION) < 0.05  # the clip is exercised, the rest is in range
    assert np.all(np.abs(z) <= 1.5 * clip + 1.0 + 1e-6)


@pytest.mark.parametrize(
    ("low", "high", "expect_low", "expect_high"),
    [
        (-np.inf, np.inf, -UNBOUNDED_WINDOW, UNBOUNDED_WINDOW),
        (-3.4e38, 3.4e38, -UNBOUNDED_WINDOW, UNBOUNDED_WINDOW),  # float32-max "unbounded" markers
        (-1e9, 1e9, -UNBOUNDED_WINDOW, UNBOUNDED_WINDOW),  # not a sane sampling range
        (-2.0, 0.5, -2.0, 0.5),  # finite and sane: the bounds themselves
        (0.0, np.inf, 0.0, 2 * UNBOUNDED_WINDOW),  # one sane bound: a window anchored at it
    ],
)
def test_samples_without_statistics_use_sane_bounds(
    low: float, high: float, expect_low: float, expect_high: float
) -> None:
    space = gym.spaces.Box(np.float32(low), np.float32(high), (3,), np.float32)
    (spec,) = observation_inputs(space)
    x = spec.sample(2000, np.random.default_rng(1))
    assert x.min() >= expect_low - 1e-3 and x.max() <= expect_high + 1e-3
    assert x.min() < expect_low + 0.1 * (expect_high - expect_low)  # the range is covered
    assert x.max() > expect_high - 0.1 * (expect_high - expect_low)


# --- the options, for the API and the CLI alike --------------------------------------------------------


def test_cli_export_flags_are_the_options(models: dict[str, Path], tmp_path: Path) -> None:
    """Every ExportOptions field is a flag of ``clankers export`` with the same name and default."""
    import typer

    from clankers.cli import app

    command = typer.main.get_command(app).commands["export"]  # type: ignore[attr-defined]
    params = {p.name: p for p in command.params if p.param_type_name == "option"}
    api_only = {"exporters"}
    for name, field in ExportOptions.model_fields.items():
        if name in api_only:
            continue
        assert name in params, f"ExportOptions.{name} has no CLI flag"
        assert params[name].default == field.default, name
        assert f"--{name.replace('_', '-')}" in params[name].opts, name
    assert set(params) - {"output", "help"} <= set(ExportOptions.model_fields)

    out = tmp_path / "cli.onnx"
    result = CliRunner().invoke(
        app, ["export", str(models["SAC"]), "-o", str(out), "--tolerance", "2e-4", "--n-samples", "1000"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads({p.key: p.value for p in __import__("onnx").load(out).metadata_props}["parity"])
    assert record["relative_tolerance"] == 2e-4
    bad = CliRunner().invoke(app, ["export", str(models["SAC"]), "-o", str(out), "--tolerance", "-1"])
    assert bad.exit_code == 2 and "tolerance" in bad.output


def test_options_object_and_keywords_agree(models: dict[str, Path], tmp_path: Path) -> None:
    options = ExportOptions(n_samples=1000, seed=3, tolerance=2e-4)
    a = export_sb3(models["TD3"], tmp_path / "a.onnx", options)
    b = export_sb3(models["TD3"], tmp_path / "b.onnx", n_samples=1000, seed=3, tolerance=2e-4)
    c = export_sb3(models["TD3"], tmp_path / "c.onnx", options, seed=4)  # keywords override the object
    assert a.parity.to_dict()["probe"] == b.parity.to_dict()["probe"] != c.parity.to_dict()["probe"]
    assert options.seed == 3  # the object is frozen; overrides make a new one
