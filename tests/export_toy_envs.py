"""Toy Gymnasium environments for the export matrix: every observation kind and action space SB3 handles.

The clankers tasks observe Box vectors and act with Box commands; these cover the rest (discrete,
multi-discrete and multi-binary actions; uint8 images HWC and CHW; Dict observations, with and without an
image). Dynamics are trivial but deterministic given the reset seed, and the observation depends on the
actions taken, so closed-loop runs of two policies that disagree produce different trajectories.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

EPISODE_STEPS = 25
SMALL_IMAGE = (8, 8, 3)  # flattened by an MLP policy (fast)
CNN_IMAGE = (36, 36, 1)  # the smallest NatureCNN accepts

ACTION_SPACES: dict[str, gym.spaces.Space] = {
    "box": gym.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([2.0, 0.5], np.float32)),
    "discrete": gym.spaces.Discrete(3),
    "multidiscrete": gym.spaces.MultiDiscrete([3, 2]),
    "multibinary": gym.spaces.MultiBinary(3),
    "box2d": gym.spaces.Box(-1.0, 1.0, (2, 2), np.float32),  # a matrix of commands: shape kept in the graph
}


def _observation_space(kind: str) -> gym.spaces.Space:
    vector = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    if kind == "vector":
        return vector
    if kind == "matrix":  # a non-image 2-D float observation (e.g. per-joint feature rows)
        return gym.spaces.Box(-5.0, 5.0, (2, 3), np.float32)
    if kind == "image":
        return gym.spaces.Box(0, 255, SMALL_IMAGE, np.uint8)
    if kind == "image_chw":
        return gym.spaces.Box(0, 255, (SMALL_IMAGE[2], *SMALL_IMAGE[:2]), np.uint8)
    if kind == "cnn":
        return gym.spaces.Box(0, 255, CNN_IMAGE, np.uint8)
    if kind == "dict":
        return gym.spaces.Dict({"state": vector, "goal": gym.spaces.Box(-1.0, 1.0, (2,), np.float32)})
    if kind == "dict_image":
        return gym.spaces.Dict({"state": vector, "camera": gym.spaces.Box(0, 255, CNN_IMAGE, np.uint8)})
    raise ValueError(kind)


class ToyEnv(gym.Env):
    """A 4-D state pushed by the action; observed as a vector, an image, or a Dict of those."""

    def __init__(self, obs_kind: str = "vector", act_kind: str = "box") -> None:
        self.obs_kind = obs_kind
        self.observation_space = _observation_space(obs_kind)
        self.action_space = ACTION_SPACES[act_kind]
        self._state = np.zeros(4)
        self._texture = np.zeros(1)
        self._goal = np.zeros(2, np.float32)
        self._t = 0

    def _push(self, action: Any) -> np.ndarray:
        a = np.asarray(action, dtype=np.float64).ravel()
        return np.resize(a, 4) * np.array([0.3, -0.2, 0.1, 0.25])

    def _image(self, shape: tuple[int, ...]) -> np.ndarray:
        level = 128 + 60 * np.tanh(self._state)
        h, w = (shape[0], shape[1]) if shape[-1] in (1, 3) else (shape[1], shape[2])
        channels = shape[-1] if shape[-1] in (1, 3) else shape[0]
        rows = np.linspace(0, 1, h)[:, None, None]
        cols = np.linspace(0, 1, w)[None, :, None]
        picture = level[0] * rows + level[1] * cols + np.resize(level[2:], channels)[None, None, :]
        picture = np.broadcast_to(picture, (h, w, channels)) * 0.6 + self._texture[:h, :w, :channels]
        image = np.clip(picture, 0, 255).astype(np.uint8)
        return image if shape[-1] in (1, 3) else np.ascontiguousarray(np.transpose(image, (2, 0, 1)))

    def _observe(self) -> Any:
        vector = self._state.astype(np.float32)
        if self.obs_kind == "vector":
            return vector
        if self.obs_kind == "matrix":
            return np.clip(np.concatenate([vector, vector[:2] * 0.5]), -5, 5).reshape(2, 3)
        if self.obs_kind in ("image", "image_chw", "cnn"):
            return self._image(self.observation_space.shape)
        if self.obs_kind == "dict":
            return {"state": vector, "goal": self._goal.copy()}
        return {"state": vector, "camera": self._image(CNN_IMAGE)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self._state = self.np_random.normal(0.0, 1.0, 4)
        self._texture = self.np_random.uniform(0, 80, (36, 36, 3))
        self._goal = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        self._t = 0
        return self._observe(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self._state = 0.9 * self._state + self._push(action) + self.np_random.normal(0.0, 0.05, 4)
        self._t += 1
        reward = float(-np.abs(self._state).sum())
        return self._observe(), reward, False, self._t >= EPISODE_STEPS, {}


def env_id(obs_kind: str, act_kind: str) -> str:
    """Register (once) and return the Gymnasium id of a toy env."""
    name = f"clankers_test/Toy-{obs_kind}-{act_kind}-v0"
    if name not in gym.registry:
        gym.register(
            id=name,
            entry_point=ToyEnv,
            kwargs={"obs_kind": obs_kind, "act_kind": act_kind},
            max_episode_steps=EPISODE_STEPS,
        )
    return name
