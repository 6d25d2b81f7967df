"""The rollout worker: a slice of the environments as one clankers vector env, inside a Ray actor.

Kept apart from :mod:`clankers.distributed.sb3` so a worker process imports neither Stable-Baselines3
nor torch (~3 s and ~250 MB per worker): it needs only gymnasium, MuJoCo and the task.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clankers.distributed.cluster import where

Info = dict[str, Any]


class EnvSliceWorker:
    """A Ray actor's state: ``num_envs`` envs of one task as a same-step clankers vector env.

    Plain class; :class:`RaySB3VecEnv` turns it into an actor. Imports neither SB3 nor torch.
    """

    def __init__(
        self, env_id: str, num_envs: int, env_kwargs: dict[str, Any], num_threads: int | None
    ) -> None:
        import gymnasium as gym
        from gymnasium.vector import AutoresetMode

        import clankers.envs  # noqa: F401  (registers the clankers/ tasks in this process)
        from clankers.envs.sb3_steps import check_same_step

        venv = gym.make_vec(
            env_id,
            num_envs=num_envs,
            vectorization_mode="vector_entry_point",
            autoreset_mode=AutoresetMode.SAME_STEP,
            num_threads=num_threads,
            **env_kwargs,
        ).unwrapped
        check_same_step(venv)  # type: ignore[arg-type]
        self.venv = venv

    def describe(self) -> dict[str, Any]:
        """Spaces, render mode and where this worker runs (pid, host, Ray node id)."""
        return {
            "observation_space": self.venv.single_observation_space,
            "action_space": self.venv.single_action_space,
            "render_mode": self.venv.render_mode,
            "num_threads": self.venv.num_threads,
            **where(),
        }

    def reset(self, seeds: list[int | None], options: list[Info]) -> tuple[np.ndarray, list[Info]]:
        from clankers.envs.sb3_steps import reset_envs

        return reset_envs(self.venv, seeds, options)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Info], dict]:
        from clankers.envs.sb3_steps import step_envs

        return step_envs(self.venv, actions)

    def step_sequence(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[Info]], dict]:
        """``T`` steps in one call (``actions``: ``[T, num_envs, *action_shape]``), results stacked."""
        from clankers.envs.sb3_steps import step_envs

        obs, rewards, dones, infos, resets = [], [], [], [], {}
        for batch in actions:
            o, r, d, i, reset_infos = step_envs(self.venv, batch)
            obs.append(o)
            rewards.append(r)
            dones.append(d)
            infos.append(i)
            resets.update(reset_infos)
        return np.stack(obs), np.stack(rewards), np.stack(dones), infos, resets

    def get_attr(self, name: str, indices: list[int]) -> list[Any]:
        return [getattr(self.venv.envs[i], name) for i in indices]

    def set_attr(self, name: str, value: Any, indices: list[int]) -> None:
        for i in indices:
            setattr(self.venv.envs[i], name, value)

    def env_method(self, name: str, args: tuple, kwargs: dict[str, Any], indices: list[int]) -> list[Any]:
        return [getattr(self.venv.envs[i], name)(*args, **kwargs) for i in indices]

    def render(self) -> list[Any]:
        return [env.render() for env in self.venv.envs]

    def close(self) -> None:
        self.venv.close()


def slice_bounds(num_envs: int, num_workers: int) -> list[tuple[int, int]]:
    """Contiguous env slices, one per worker, sizes differing by at most one (env order preserved)."""
    bounds = np.linspace(0, num_envs, num_workers + 1).round().astype(int)
    return [(int(bounds[k]), int(bounds[k + 1])) for k in range(num_workers)]


__all__ = ["EnvSliceWorker", "slice_bounds"]
