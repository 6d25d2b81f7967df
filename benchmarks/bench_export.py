"""Export time per algorithm: torch -> ONNX alone, and the whole verified export.

The whole export is what ``clankers export`` costs a user: load the zip, trace, write the candidate, ONNX
full check, onnxruntime at batch 1 and 5, per-sample parity with ``predict`` on 1000 observations (and
over 125 steps x 8 rows with random resets for the recurrent policy), runtime and conformance checks.
Models have SB3's default network sizes (untrained: weights do not change the cost) on Gymnasium's
Pendulum-v1 (Box actions) and CartPole-v1 (Discrete actions). Medians of ``REPEATS`` exports.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym

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


def _model(name: str, package: str, env_id: str) -> Any:
    import importlib

    cls = getattr(importlib.import_module(package), name)
    policy = "MlpLstmPolicy" if name == "RecurrentPPO" else "MlpPolicy"
    return cls(policy, gym.make(env_id), device="cpu", seed=0)


def _row(name: str, package: str, env_id: str, workdir: Path) -> str:
    from clankers.export import export_sb3

    model = _model(name, package, env_id)
    zip_path = workdir / f"{name}.zip"
    model.save(zip_path)
    torch_times, totals = [], []
    report = None
    for i in range(REPEATS):
        out = workdir / f"{name}-{i}.onnx"
        start = time.perf_counter()
        report = export_sb3(zip_path, out, n_samples=1000)
        totals.append(time.perf_counter() - start)
        torch_times.append(report.torch_export_seconds)
    assert report is not None
    size_kib = report.path.stat().st_size / 1024
    kind = "discrete" if report.parity.discrete else "continuous"
    return (
        f"| {name} | {env_id} ({kind}) | {statistics.median(torch_times) * 1e3:.0f} ms | "
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
            rows.append(_row(name, package, env_id, Path(tmp)))
    return "\n".join(rows)


if __name__ == "__main__":
    print(main())
