"""SB3's vector-step semantics on a same-step :class:`~clankers.envs.vector.ClankersVectorEnv`, without SB3.

Stable-Baselines3 wants ``dones = terminated | truncated``, one info dict per env, the last observation
of a finished env in ``info["terminal_observation"]`` (the env itself already reset in the same step) and
``info["TimeLimit.truncated"]`` telling a time-out from a failure. These two functions turn the vector
env's batched results into exactly that.

Why a module of its own, free of SB3 imports: the same conversion runs in two places that must agree bit
for bit, :class:`clankers.envs.sb3.ClankersSB3VecEnv` (in the learner's process) and the Ray rollout
workers of :mod:`clankers.distributed` (which hold a slice of the envs and must stay light: importing
SB3 pulls in torch, ~3 s and ~250 MB per worker).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from clankers.envs.vector import ClankersVectorEnv
from clankers.errors import ConfigError

Info = dict[str, Any]


def check_same_step(venv: ClankersVectorEnv) -> None:
    """Raise :class:`ConfigError` unless ``venv`` is a clankers vector env in same-step auto-reset mode."""
    if not isinstance(venv, ClankersVectorEnv):
        raise ConfigError(
            f"SB3 stepping wraps a ClankersVectorEnv, got {type(venv).__name__}; "
            "use make_sb3_vec_env(task, num_envs) or SB3's DummyVecEnv for other envs"
        )
    if venv.autoreset_mode is not AutoresetMode.SAME_STEP:
        raise ConfigError(
            f"SB3 needs same-step auto-reset, the vector env uses {venv.autoreset_mode.value}; "
            "create it with autoreset_mode='SameStep'"
        )


def reset_envs(
    venv: ClankersVectorEnv, seeds: list[int | None], options: list[Info]
) -> tuple[np.ndarray, list[Info]]:
    """Reset every env with its seed and options (SB3's ``reset``); returns observations and reset infos.

    Envs whose options are equal are reset together (one masked reset per distinct options dict), so
    the common case, no options, is one batched reset.
    """
    n = venv.num_envs
    first = options[0]
    if all(o == first for o in options):
        obs, _ = venv.reset(seed=seeds, options=dict(first) if first else None)
    else:
        obs = None
        done = np.zeros(n, dtype=np.bool_)
        for i in range(n):
            if done[i]:
                continue
            mask = np.array([not done[j] and options[j] == options[i] for j in range(n)])
            obs, _ = venv.reset(seed=seeds, options={**options[i], "reset_mask": mask})
            done |= mask
    reset_infos = [dict(info) if info else {} for info in venv._env_infos]
    return np.array(obs, copy=True), reset_infos


def step_envs(
    venv: ClankersVectorEnv, actions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Info], dict[int, Info]]:
    """One SB3 step: ``(obs, rewards as float32, dones, infos, new reset infos by env index)``.

    The last item holds, for every env that finished and was reset in this step, the info of its reset
    (SB3 keeps those in ``VecEnv.reset_infos``).
    """
    venv._step_batch(actions)
    terminated, truncated = venv._terminations, venv._truncations
    dones = terminated | truncated
    env_infos, final_obs, final_infos = venv._env_infos, venv._final_obs, venv._final_infos
    infos: list[Info] = []
    reset_infos: dict[int, Info] = {}
    for i in range(venv.num_envs):
        if dones[i]:
            info = dict(final_infos[i] or {})
            info["terminal_observation"] = final_obs[i]
            reset_infos[i] = dict(env_infos[i] or {})
        else:
            info = dict(env_infos[i] or {})
        info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        infos.append(info)
    return venv._observations.copy(), venv._rewards.astype(np.float32), dones, infos, reset_infos


__all__ = ["check_same_step", "reset_envs", "step_envs"]
