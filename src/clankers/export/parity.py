"""Evidence that an exported graph computes what the source model computes.

Observations come from two places: uniform samples over the observation space (infinite bounds clipped
to ±10, which covers what normalized or physical observations reach) and states visited by the model
itself in real episodes of a task, where deployment actually happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

UNBOUNDED_CLIP = 10.0


def uniform_observations(space: gym.spaces.Box, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` observations drawn uniformly within the space's bounds (clipped to ±10 where infinite)."""
    low = np.clip(np.broadcast_to(space.low, space.shape), -UNBOUNDED_CLIP, UNBOUNDED_CLIP)
    high = np.clip(np.broadcast_to(space.high, space.shape), -UNBOUNDED_CLIP, UNBOUNDED_CLIP)
    return rng.uniform(low, high, size=(n, *space.shape)).astype(np.float32)


def episode_observations(
    env: gym.Env, act: Callable[[np.ndarray], np.ndarray], n: int, seed: int
) -> np.ndarray:
    """The first ``n`` observations visited when ``act`` drives ``env`` from seeds ``seed, seed+1, ...``."""
    observations: list[np.ndarray] = []
    episode = 0
    while len(observations) < n:
        obs, _ = env.reset(seed=seed + episode)
        episode += 1
        done = False
        while not done and len(observations) < n:
            observations.append(np.asarray(obs, dtype=np.float32))
            obs, _, terminated, truncated, _ = env.step(act(obs))
            done = terminated or truncated
    return np.stack(observations)


@dataclass
class ParityResult:
    """Comparison of the ONNX graph with the source model on the same observations."""

    n_samples: int
    n_episode_states: int
    max_abs_diff: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.max_abs_diff < self.tolerance

    def to_dict(self) -> dict[str, float | int | bool]:
        return {
            "n_samples": self.n_samples,
            "n_episode_states": self.n_episode_states,
            "max_abs_diff": self.max_abs_diff,
            "tolerance": self.tolerance,
            "passed": self.passed,
        }


def compare(
    expected: np.ndarray, actual: np.ndarray, n_episode_states: int, tolerance: float
) -> ParityResult:
    if expected.shape != actual.shape:
        return ParityResult(len(expected), n_episode_states, float("inf"), tolerance)
    diff = np.abs(expected.astype(np.float64) - actual.astype(np.float64))
    return ParityResult(len(expected), n_episode_states, float(diff.max(initial=0.0)), tolerance)
