"""Stable-Baselines3 ``VecEnv`` over the wire: train with SB3 on a remote simulator.

:class:`RemoteSB3VecEnv` behaves like SB3's ``DummyVecEnv`` around the same environments: an env that
finishes is reset immediately (one ``batch_reset`` for all that finished), its last observation is kept
in ``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"]`` says whether the episode
was cut by time rather than failure, so value bootstrapping is right. Seeds set with ``seed()`` apply to
the next ``reset()`` exactly as in SB3, so a remote run with the same seeds reproduces an in-process one.

Importing this module imports SB3 (the ``train`` extra); the rest of :mod:`clankers.server` does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from clankers.errors import ConfigError
from clankers.server.client import GymClient
from clankers.server.remote_env import BatchClient


class RemoteSB3VecEnv(VecEnv):
    """An SB3 ``VecEnv`` whose ``n_agents`` envs run on a protocol server.

    Args:
        host, port: the server (``clankers serve --num-envs N``).
        client: an existing :class:`GymClient` instead of host/port.
        **client_kwargs: passed to :class:`GymClient` (``token``, ``tls``, ``ca_file``, ...).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9877,
        *,
        client: GymClient | None = None,
        **client_kwargs: Any,
    ) -> None:
        self.client = client if client is not None else GymClient(host, port, **client_kwargs)
        if not self.client.connected:
            self.client.connect()
        self._batch = BatchClient(self.client)
        super().__init__(
            self._batch.num_envs, self._batch.single_observation_space, self._batch.single_action_space
        )
        self._actions: np.ndarray | None = None
        self._closed = False

    def _stack(self, rows: list[Any]) -> Any:
        return self._batch.stack(rows)

    def reset(self) -> Any:
        if any(self._options):
            raise ConfigError(
                "reset options cannot be sent: the wire protocol's reset carries only a seed; "
                "configure the task on the server instead"
            )
        rows, infos = self._batch.reset(range(self.num_envs), list(self._seeds))
        self.reset_infos = [dict(info.get("custom") or {}) for info in infos]
        self._reset_seeds()
        self._reset_options()
        return self._stack(rows)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async must be called before step_wait"
        actions = [self._actions[i] for i in range(self.num_envs)]
        rows, rewards, terminated, truncated, infos = self._batch.step(actions)
        dones = terminated | truncated
        out_infos: list[dict[str, Any]] = []
        for i, info in enumerate(infos):
            item = dict(info.get("custom") or {})
            item["episode_length"] = info.get("episode_length")
            item["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            out_infos.append(item)
        done_ids = np.flatnonzero(dones)
        if done_ids.size:
            fresh, reset_infos = self._batch.reset(done_ids.tolist())
            for k, i in enumerate(done_ids):
                out_infos[i]["terminal_observation"] = rows[i]
                rows[i] = fresh[k]
                self.reset_infos[i] = dict(reset_infos[k].get("custom") or {})
        return self._stack(rows), rewards.astype(np.float32), dones, out_infos

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.client.close()

    # --- attribute access: the envs live in another process, so only what the handshake tells us -------

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        known = {
            "render_mode": None,
            "observation_space": self.observation_space,
            "action_space": self.action_space,
        }
        if attr_name not in known:
            raise AttributeError(f"remote envs expose only {sorted(known)}, not {attr_name!r}")
        return [known[attr_name] for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(f"cannot set {attr_name!r} on remote envs: configure the server instead")

    def env_method(self, method_name: str, *args: Any, indices: VecEnvIndices = None, **kwargs: Any) -> list:
        raise AttributeError(
            f"cannot call {method_name!r} on remote envs: the wire protocol has no such request"
        )

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]
