"""Baseline policies (zero, random, scripted) for `clankers run`: what a trained policy must beat."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from typer.testing import CliRunner

from clankers.cli import app
from clankers.envs import make_env
from clankers.envs.baselines import baseline_policy, is_baseline, zero_action
from clankers.envs.rollout import evaluate
from clankers.errors import ConfigError

runner = CliRunner()

RESETS: list[int] = []


def push_right(obs: np.ndarray) -> np.ndarray:
    """A scripted policy for the CLI test: full force to +x, whatever the observation."""
    return np.ones(make_env("cartpole").action_space.shape, dtype=np.float32)


class _Counting:
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.zeros(1, dtype=np.float32)

    def reset(self) -> None:
        RESETS.append(1)


counting = _Counting()


def test_zero_action_is_zero_inside_the_bounds() -> None:
    box = gym.spaces.Box(np.array([-1.0, 0.5], np.float32), np.array([1.0, 2.0], np.float32))
    assert zero_action(box).tolist() == [0.0, 0.5] and zero_action(box).dtype == np.float32
    assert zero_action(gym.spaces.Discrete(3, start=2)) == 2
    assert zero_action(gym.spaces.MultiDiscrete([3, 4])).tolist() == [0, 0]
    nested = zero_action(gym.spaces.Dict({"a": gym.spaces.Discrete(2), "b": box}))
    assert nested["a"] == 0 and nested["b"].tolist() == [0.0, 0.5]


def test_random_is_seeded_and_inside_the_space() -> None:
    space = make_env("pendulum").action_space
    a = [baseline_policy("random", space, seed=3).act(None) for _ in range(1)]
    first, second = baseline_policy("random", space, seed=3), baseline_policy("random", space, seed=3)
    xs, ys = [first.act(None) for _ in range(20)], [second.act(None) for _ in range(20)]
    assert all(np.array_equal(x, y) for x, y in zip(xs, ys, strict=True)) and np.array_equal(a[0], xs[0])
    assert all(space.contains(x) for x in xs) and len({float(x[0]) for x in xs}) == 20
    other = baseline_policy("random", space, seed=4)
    assert not np.array_equal(other.act(None), xs[0])


def test_baselines_run_the_pendulum_and_scripted_reset_is_called() -> None:
    space = make_env("pendulum").action_space
    zero = evaluate(baseline_policy("zero", space).act, "pendulum", 2, seed=0)
    again = evaluate(baseline_policy("zero", space).act, "pendulum", 2, seed=0)
    assert zero.returns.tolist() == again.returns.tolist()  # deterministic: same seeds, same episodes
    assert np.all(zero.returns < 0)  # hanging down scores badly: the floor a policy must beat
    RESETS.clear()
    scripted = baseline_policy("scripted:test_baselines:counting", space)
    evaluate(scripted.act, "pendulum", 3, seed=0, on_reset=scripted.reset)
    assert len(RESETS) == 3


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("scripted:no_such_module_xyz:act", "cannot import"),
        ("scripted:test_baselines:nothing_here", "has no"),
        ("scripted:test_baselines", "module:attr"),
        ("scripted:test_baselines:RESETS", "not callable"),
        ("zeros", "unknown policy"),
    ],
)
def test_bad_specs_are_config_errors_with_a_hint(spec: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        baseline_policy(spec, gym.spaces.Discrete(2))
    assert info.value.hint


def test_is_baseline() -> None:
    assert is_baseline("zero") and is_baseline("random") and is_baseline("scripted:m:a")
    assert not is_baseline("policy.onnx") and not is_baseline("zero.onnx")


def test_cli_runs_baselines_and_reports_the_gain(tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    args = ["run", "--policy", "scripted:test_baselines:push_right", "--episodes", "2"]
    result = runner.invoke(app, [*args, "--baseline", "zero", "--baseline", "random", "--json-out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["policy"] == "scripted:test_baselines:push_right"
    direct = evaluate(push_right, "cartpole", 2, seed=0)
    assert [e["return"] for e in data["episodes"]] == direct.returns.tolist()
    zero = evaluate(baseline_policy("zero", make_env("cartpole").action_space).act, "cartpole", 2, seed=0)
    assert data["baselines"]["zero"]["returns"] == zero.returns.tolist()
    assert data["baselines"]["zero"]["gain"] == pytest.approx(direct.mean_return - zero.mean_return)
    assert set(data["baselines"]) == {"zero", "random"}
    assert "baseline zero: mean return" in result.stdout
