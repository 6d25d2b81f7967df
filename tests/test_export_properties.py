"""Property test: for arbitrary Box spaces (asymmetric bounds, partly unbounded observations,
multi-dimensional shapes) the exported graph acts like ``predict(deterministic=True)``, clipping and
unscaling included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clankers.export import export_sb3
from clankers.policy import OnnxPolicy


class _BoxEnv(gym.Env):
    def __init__(self, obs_space: gym.spaces.Box, act_space: gym.spaces.Box) -> None:
        self.observation_space, self.action_space = obs_space, act_space

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        return self.observation_space.sample(), 0.0, True, False, {}


@st.composite
def box_spaces(draw: st.DrawFn, bounded: bool) -> gym.spaces.Box:
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    size = int(np.prod(shape))
    low = np.array(draw(st.lists(st.floats(-5, 2), min_size=size, max_size=size)), np.float32)
    width = np.array(draw(st.lists(st.floats(0.1, 6), min_size=size, max_size=size)), np.float32)
    high = low + width
    if not bounded:
        unbounded = np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size)))
        low = np.where(unbounded, -np.inf, low).astype(np.float32)
    return gym.spaces.Box(low.reshape(shape), high.reshape(shape), dtype=np.float32)


@pytest.mark.parametrize("algo", ["PPO", "SAC", "TD3"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_box_spaces_round_trip(algo: str, data: st.DataObject, tmp_path: Path) -> None:
    import stable_baselines3

    obs_space = data.draw(box_spaces(bounded=False), label="observation space")
    act_space = data.draw(box_spaces(bounded=True), label="action space")  # SB3 asserts finite bounds
    model = getattr(stable_baselines3, algo)(
        "MlpPolicy", _BoxEnv(obs_space, act_space), policy_kwargs={"net_arch": [8]}, device="cpu", seed=0
    )
    if algo == "PPO":  # push the mean past the bounds so the clip is exercised
        with torch.no_grad():
            model.policy.action_net.bias.uniform_(-4.0, 4.0)
    zip_path, out = tmp_path / f"{algo}.zip", tmp_path / f"{algo}.onnx"
    model.save(zip_path)
    report = export_sb3(zip_path, out, n_samples=1000)
    assert report.parity.passed and report.parity.max_abs_diff < 1e-5

    obs = np.random.default_rng(1).uniform(-3, 3, (32, *obs_space.shape)).astype(np.float32)
    expected = model.predict(obs, deterministic=True)[0]
    actions = OnnxPolicy(out).act_batch(obs)
    assert actions.shape == (32, *act_space.shape)
    assert np.max(np.abs(actions - expected)) < 1e-5
    low = np.broadcast_to(act_space.low, act_space.shape)
    high = np.broadcast_to(act_space.high, act_space.shape)
    assert np.all(actions >= low - 1e-6) and np.all(actions <= high + 1e-6)
