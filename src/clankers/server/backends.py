"""How a session runs its ``n_agents`` environments: a list of single envs, or one in-process vector env.

The protocol needs per-env control (reset only the envs that finished, with their own seeds), which
Gymnasium's ``Disabled`` auto-reset mode with a ``reset_mask`` gives. clankers tasks register the threaded
:class:`~clankers.envs.vector.ClankersVectorEnv`, whose threads step the physics of a batch in parallel
(``mj_step`` releases the GIL); :class:`VectorBackend` uses it for batches. Any other Gymnasium env is
served by :class:`EnvListBackend`, one env at a time. Both give the same numbers as single envs (the
vector env's contract), so a client cannot tell which one served it except by speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

StepResult = tuple[Any, float, bool, bool, dict[str, Any]]
BatchResult = tuple[Sequence[Any], list[float], list[bool], list[bool], list[dict[str, Any]]]


class EnvBackend(Protocol):
    """What a session needs from its environments."""

    num_envs: int
    observation_space: gym.Space
    action_space: gym.Space

    def reset(self, ids: list[int], seeds: list[int | None]) -> tuple[Sequence[Any], list[dict[str, Any]]]:
        """Reset envs ``ids`` (``seeds[k]`` for ``ids[k]``); observations and infos in ``ids`` order."""

    def step_one(self, i: int, action: Any) -> StepResult:
        """Step env ``i`` alone."""

    def step_all(self, actions: Sequence[Any]) -> BatchResult:
        """Step every env with its action; results in env order."""

    def close(self) -> None: ...


class EnvListBackend:
    """``num_envs`` independent Gymnasium envs, stepped one after the other."""

    def __init__(self, envs: list[gym.Env]) -> None:
        self.envs = envs
        self.num_envs = len(envs)
        self.observation_space = envs[0].observation_space
        self.action_space = envs[0].action_space

    def reset(self, ids: list[int], seeds: list[int | None]) -> tuple[list[Any], list[dict[str, Any]]]:
        observations, infos = [], []
        for i, seed in zip(ids, seeds, strict=True):
            obs, info = self.envs[i].reset(seed=seed)
            observations.append(obs)
            infos.append(info)
        return observations, infos

    def step_one(self, i: int, action: Any) -> StepResult:
        obs, reward, terminated, truncated, info = self.envs[i].step(action)
        return obs, float(reward), bool(terminated), bool(truncated), info

    def step_all(self, actions: Sequence[Any]) -> BatchResult:
        observations, rewards, terms, truncs, infos = [], [], [], [], []
        for env, action in zip(self.envs, actions, strict=True):
            obs, reward, terminated, truncated, info = env.step(action)
            observations.append(obs)
            rewards.append(float(reward))
            terms.append(bool(terminated))
            truncs.append(bool(truncated))
            infos.append(info)
        return observations, rewards, terms, truncs, infos

    def close(self) -> None:
        for env in self.envs:
            env.close()


def split_infos(infos: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """Gymnasium's batched infos (``key`` array plus ``_key`` mask) -> one dict per env."""
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        values = split_infos(value, n) if isinstance(value, dict) else value
        for i in range(n):
            if mask is None or mask[i]:
                out[i][key] = values[i]
    return out


class VectorBackend:
    """A Gymnasium vector env in ``Disabled`` auto-reset mode (resets go through ``reset_mask``)."""

    def __init__(self, venv: VectorEnv) -> None:
        self.venv = venv
        self.num_envs = venv.num_envs
        self.observation_space = venv.single_observation_space
        self.action_space = venv.single_action_space
        self._envs = venv.envs  # for single-env steps (the protocol's ``step`` addresses env 0)

    def reset(self, ids: list[int], seeds: list[int | None]) -> tuple[Sequence[Any], list[dict[str, Any]]]:
        if not ids:
            return [], []
        mask = np.zeros(self.num_envs, dtype=np.bool_)
        mask[ids] = True
        full: list[int | None] = [None] * self.num_envs
        for i, seed in zip(ids, seeds, strict=True):
            full[i] = seed
        obs, infos = self.venv.reset(seed=full, options={"reset_mask": mask})
        per_env = split_infos(infos, self.num_envs) if infos else [{} for _ in range(self.num_envs)]
        return obs[ids], [per_env[i] for i in ids]

    def step_one(self, i: int, action: Any) -> StepResult:
        obs, reward, terminated, truncated, info = self._envs[i].step(action)
        return obs, float(reward), bool(terminated), bool(truncated), info

    def step_all(self, actions: Sequence[Any]) -> BatchResult:
        obs, rewards, terms, truncs, infos = self.venv.step(
            np.asarray(actions) if isinstance(actions, np.ndarray) else np.stack(actions)
        )
        per_env = split_infos(infos, self.num_envs) if infos else [{} for _ in range(self.num_envs)]
        return obs, rewards.tolist(), terms.tolist(), truncs.tolist(), per_env

    def close(self) -> None:
        self.venv.close()
