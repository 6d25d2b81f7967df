"""Stable-Baselines3 ``VecEnv`` adapter over :class:`~clankers.envs.vector.ClankersVectorEnv`.

SB3 wants its own vector API: ``step_async``/``step_wait``, ``dones = terminated | truncated``, a list
of per-env info dicts, finished envs reset in the same step with their last observation in
``infos[i]["terminal_observation"]``, and ``infos[i]["TimeLimit.truncated"]`` telling a time-out from a
failure (so the value of a truncated state is bootstrapped). :class:`ClankersSB3VecEnv` gives exactly
that, bit for bit what SB3's ``DummyVecEnv`` gives over the same single envs, while stepping through the
threaded vector env in ``SAME_STEP`` auto-reset mode.

This is the only module of :mod:`clankers.envs` that imports Stable-Baselines3 (the ``train`` extra), so
the rest of the package imports without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from clankers.envs import find_task
from clankers.envs.sb3_steps import check_same_step, reset_envs, step_envs
from clankers.envs.vector import ClankersVectorEnv
from clankers.errors import ConfigError


class ClankersSB3VecEnv(VecEnv):
    """An SB3 ``VecEnv`` backed by a :class:`ClankersVectorEnv` in ``SAME_STEP`` auto-reset mode.

    Args:
        venv: the vector env to drive; build one with :func:`make_sb3_vec_env` or
            ``ClankersVectorEnv(..., autoreset_mode="SameStep")``.

    Seeds set with :meth:`seed` apply at the next :meth:`reset` (env ``i`` gets ``seed + i``), as in SB3.
    """

    def __init__(self, venv: ClankersVectorEnv) -> None:
        check_same_step(venv)
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None

    # --- the SB3 vector API -----------------------------------------------------------------------------

    def reset(self) -> np.ndarray:
        """Reset every env with the seeds/options set since the last reset (then forget them, as SB3)."""
        obs, self.reset_infos = reset_envs(self.venv, list(self._seeds), list(self._options))
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise ConfigError("step_wait() called without step_async(actions); call step(actions) instead")
        actions, self._actions = self._actions, None
        obs, rewards, dones, infos, reset_infos = step_envs(self.venv, actions)
        for i, info in reset_infos.items():
            self.reset_infos[i] = info
        return obs, rewards, dones, infos

    def close(self) -> None:
        self.venv.close()

    # --- attribute access: the envs are in this process, so everything is reachable ---------------------

    def _targets(self, indices: VecEnvIndices) -> list[gym.Env]:
        return [self.venv.envs[i] for i in self._get_indices(indices)]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(env, attr_name) for env in self._targets(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for env in self._targets(indices):
            setattr(env, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: VecEnvIndices = None, **kwargs: Any) -> list:
        return [getattr(env, method_name)(*args, **kwargs) for env in self._targets(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]  # the single envs are never wrapped

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            return [None for _ in range(self.num_envs)]
        return [env.render() for env in self.venv.envs]  # type: ignore[misc]


def make_sb3_vec_env(
    task: str,
    num_envs: int,
    *,
    seed: int | None = None,
    num_threads: int | None = None,
    **env_kwargs: Any,
) -> VecEnv:
    """An SB3 ``VecEnv`` of ``num_envs`` copies of ``task`` (any form :func:`clankers.envs.resolve_task`
    accepts).

    A clankers task gets a :class:`ClankersSB3VecEnv`; any other Gymnasium env SB3's ``DummyVecEnv``,
    which this class equals step for step. ``seed`` seeds the first ``reset()`` (env ``i`` gets
    ``seed + i``); ``env_kwargs`` go to every env.
    """
    entry = find_task(task)
    if entry is None:  # a Gymnasium env registered outside clankers
        from stable_baselines3.common.vec_env import DummyVecEnv

        dummy = DummyVecEnv([lambda: gym.make(str(task), **env_kwargs) for _ in range(num_envs)])
        if seed is not None:
            dummy.seed(seed)
        return dummy
    venv = gym.make_vec(
        entry.env_id,
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        autoreset_mode=AutoresetMode.SAME_STEP,
        num_threads=num_threads,
        **env_kwargs,
    )
    vec_env = ClankersSB3VecEnv(venv.unwrapped)  # type: ignore[arg-type]
    if seed is not None:
        vec_env.seed(seed)
    return vec_env


__all__ = ["ClankersSB3VecEnv", "make_sb3_vec_env"]
