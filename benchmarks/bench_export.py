"""Export time per algorithm: torch -> ONNX alone, and the whole verified export.

The whole export is what ``clankers export`` costs a user: load the zip, trace, write the candidate, ONNX
full check, onnxruntime at batch 1 and 5, per-sample parity with ``predict`` on 1000 observations (and
over 125 steps x 8 rows with random resets for the recurrent policy), runtime and conformance checks.
Models have SB3's default network sizes (untrained: weights do not change the cost) on Gymnasium's
Pendulum-v1 (Box actions) and CartPole-v1 (Discrete actions), plus PPO on an 84x84 camera (NatureCNN) and
on a Dict of camera and state. Medians of ``REPEATS`` exports.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from benchmarks._timing import machine_line

REPEATS = 3
#: (algorithm class name, package, environment id).
CASES = [
    ("PPO", "stable_baselines3", "Pendulum-v1"),
    ("A2C", "stable_baselines3", "Pendulum-v1"),
    ("SAC", "stable_baselines3", "Pendulum-v1"),
    ("TD3", "stable_baselines3", "Pendulum-v1"),
    ("DDPG", "stable_baselines3", "Pendulum-v1"),
    ("DQN", "stable_baselines3", "CartPole-v1"),
    ("RecurrentPPO", "sb3_contrib", "Pendulum-v1"),
    ("TQC", "sb3_contrib", "Pendulum-v1"),
    ("QRDQN", "sb3_contrib", "CartPole-v1"),
    ("TRPO", "sb3_contrib", "Pendulum-v1"),
    ("ARS", "sb3_contrib", "Pendulum-v1"),
    ("CrossQ", "sb3_contrib", "Pendulum-v1"),
]


class _SpacesOnly(gym.Env):
    """An environment that only declares spaces: exporting without ``--env`` never steps it."""

    def __init__(self, observation_space: gym.spaces.Space, action_space: gym.spaces.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        return self.observation_space.sample(), 0.0, True, False, {}


CAMERA = gym.spaces.Box(0, 255, (84, 84, 3), np.uint8)
#: Observation kinds with PPO (name, policy, environment).
KIND_CASES = [
    (
        "PPO CnnPolicy",
        "CnnPolicy",
        lambda: _SpacesOnly(CAMERA, gym.spaces.Discrete(4)),
        "84x84 RGB camera",
    ),
    (
        "PPO MultiInputPolicy",
        "MultiInputPolicy",
        lambda: _SpacesOnly(
            gym.spaces.Dict({"camera": CAMERA, "state": gym.spaces.Box(-1, 1, (8,), np.float32)}),
            gym.spaces.Box(-1, 1, (2,), np.float32),
        ),
        "Dict: camera + state",
    ),
]


def _model(name: str, package: str, env_id: str) -> Any:
    import importlib

    cls = getattr(importlib.import_module(package), name)
    policy = "MlpLstmPolicy" if name == "RecurrentPPO" else "MlpPolicy"
    return cls(policy, gym.make(env_id), device="cpu", seed=0)


def _row(name: str, model: Any, env_label: str, workdir: Path) -> str:
    from clankers.export import export_sb3

    zip_path = workdir / f"{name.replace(' ', '_')}.zip"
    model.save(zip_path)
    torch_times, totals = [], []
    report = None
    for i in range(REPEATS):
        out = zip_path.with_name(f"{zip_path.stem}-{i}.onnx")
        start = time.perf_counter()
        report = export_sb3(zip_path, out, n_samples=1000)
        totals.append(time.perf_counter() - start)
        torch_times.append(report.torch_export_seconds)
    assert report is not None
    size_kib = report.path.stat().st_size / 1024
    kind = "discrete" if report.parity.discrete else "continuous"
    return (
        f"| {name} | {env_label} ({kind}) | {statistics.median(torch_times) * 1e3:.0f} ms | "
        f"{statistics.median(totals):.2f} s | {report.parity.n_samples} | {report.level} | {size_kib:.0f} KiB |"
    )


def main() -> str:
    import torch

    torch.set_num_threads(1)
    rows = [
        f"## Export time per algorithm\n\n{machine_line()}\n",
        "SB3 default network sizes, untrained; median of "
        f"{REPEATS} exports each (`python -m benchmarks.run export`).\n",
        "| algorithm | env (actions) | torch -> ONNX | whole verified export | parity samples | level | file |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, package, env_id in CASES:
            rows.append(_row(name, _model(name, package, env_id), env_id, Path(tmp)))
        from stable_baselines3 import PPO

        for name, policy, make, label in KIND_CASES:
            rows.append(_row(name, PPO(policy, make(), device="cpu", seed=0), label, Path(tmp)))
    return "\n".join(rows)


if __name__ == "__main__":
    print(main())
