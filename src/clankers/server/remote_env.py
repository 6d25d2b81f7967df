"""Gymnasium environments over the wire: :class:`RemoteEnv` (one env) and :class:`RemoteVectorEnv` (a batch).

Both build their spaces from the server's handshake (see :mod:`clankers.server.spaces` for what survives
the trip: Box shapes arrive flattened, images keep HWC), so they work against any server that speaks the
protocol, including the earlier system's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate

from clankers.errors import ConfigError
from clankers.server.client import GymClient
from clankers.server.spaces import ActionCodec, array_to_obs, wire_to_space


def _connect(client: GymClient | None, host: str, port: int, seed: int | None, kwargs: dict) -> GymClient:
    client = client if client is not None else GymClient(host, port, **kwargs)
    if not client.connected:
        client.connect(seed=seed)
    return client


def _no_options(options: dict[str, Any] | None) -> None:
    if options:
        raise ConfigError(
            f"reset options {sorted(options)} cannot be sent: the wire protocol's reset carries only a seed; "
            "configure the task on the server instead"
        )


def _step_info(info: dict[str, Any]) -> dict[str, Any]:
    out = dict(info.get("custom") or {})
    if "episode_length" in info:
        out["episode_length"] = info["episode_length"]
    return out


class RemoteEnv(gym.Env):
    """A Gymnasium env whose episodes run on a protocol server (env 0 of the server's session).

    Args:
        host, port: the server.
        seed: optional handshake seed (the server seeds its envs' first resets with it).
        client: an existing :class:`GymClient` (connected or not) instead of host/port.
        **client_kwargs: passed to :class:`GymClient` (``token``, ``tls``, ``ca_file``, ``capabilities``,
            ``protocol_version``, ``timeout``).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - Gymnasium's class attribute

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9877,
        *,
        seed: int | None = None,
        client: GymClient | None = None,
        **client_kwargs: Any,
    ) -> None:
        self.client = _connect(client, host, port, seed, client_kwargs)
        info = self.client.env_info
        self.observation_space = wire_to_space(info["observation_space"])
        self.action_space = wire_to_space(info["action_space"])
        self._codec = ActionCodec(self.action_space)

    def _observation(self, response: dict[str, Any], key: str = "observation") -> Any:
        if "_obs" in response:
            return np.array(response["_obs"])  # writable copy of the binary frame
        data = np.asarray(response[key]["data"], dtype=np.float64)
        return array_to_obs(self.observation_space, data)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        _no_options(options)
        super().reset(seed=seed)
        response = self.client.request({"type": "reset", "seed": seed})
        info = dict(response["info"].get("custom") or {})
        info["seed"] = response["info"].get("seed")
        return self._observation(response), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        response = self.client.request({"type": "step", "action": self._codec.encode(action)})
        return (
            self._observation(response),
            float(response["reward"]),
            bool(response["terminated"]),
            bool(response["truncated"]),
            _step_info(response["info"]),
        )

    def close(self) -> None:
        self.client.close()
        super().close()


class BatchClient:
    """Batched requests on one connection, decoding JSON or binary observations into arrays.

    Shared by :class:`RemoteVectorEnv` and the SB3 adapter. A server running a single env is driven with
    ``reset``/``step`` (batch requests need ``n_agents > 1``), so both adapters work against any server.
    """

    def __init__(self, client: GymClient) -> None:
        self.client = client
        info = client.env_info
        self.num_envs = int(info["n_agents"])
        if self.num_envs < 1:
            raise ConfigError(f"server reports n_agents={self.num_envs}; expected at least 1")
        self.single_observation_space = wire_to_space(info["observation_space"])
        self.single_action_space = wire_to_space(info["action_space"])
        self.codec = ActionCodec(self.single_action_space)

    def _rows(self, response: dict[str, Any], n: int) -> list[Any]:
        space = self.single_observation_space
        if "_obs" in response:
            flat = response["_obs"]
            if isinstance(space, gym.spaces.Box):
                return list(np.array(flat, dtype=space.dtype).reshape(n, *space.shape))  # writable copy
            return [array_to_obs(space, row) for row in flat]
        return [
            array_to_obs(space, np.asarray(o["data"], dtype=np.float64)) for o in response["observations"]
        ]

    def reset(self, env_ids: Sequence[int], seeds: Sequence[int | None] | None = None) -> tuple[list, list]:
        """Reset ``env_ids``; returns per-env observations and the servers' reset infos."""
        ids = [int(i) for i in env_ids]
        if self.num_envs == 1:
            obs, infos = [], []
            for k, _ in enumerate(ids):
                seed = None if seeds is None else seeds[k]
                r = self.client.request({"type": "reset", "seed": seed})
                obs.append(self._single_obs(r))
                infos.append(r["info"])
            return obs, infos
        message: dict[str, Any] = {"type": "batch_reset", "env_ids": ids}
        if seeds is not None:
            message["seeds"] = [None if s is None else int(s) for s in seeds]
        response = self.client.request(message)
        return self._rows(response, len(ids)), response["infos"]

    def _single_obs(self, response: dict[str, Any]) -> Any:
        if "_obs" in response:
            return np.array(response["_obs"])
        return array_to_obs(self.single_observation_space, np.asarray(response["observation"]["data"]))

    def step(self, actions: Sequence[Any]) -> tuple[list, np.ndarray, np.ndarray, np.ndarray, list]:
        """Step every env; returns observations, rewards, terminated, truncated, infos (per env)."""
        wire = [self.codec.encode(a) for a in actions]
        if self.num_envs == 1:
            r = self.client.request({"type": "step", "action": wire[0]})
            return (
                [self._single_obs(r)],
                np.array([r["reward"]], dtype=np.float64),
                np.array([r["terminated"]], dtype=bool),
                np.array([r["truncated"]], dtype=bool),
                [r["info"]],
            )
        r = self.client.request({"type": "batch_step", "actions": wire})
        return (
            self._rows(r, self.num_envs),
            np.asarray(r["rewards"], dtype=np.float64),
            np.asarray(r["terminated"], dtype=bool),
            np.asarray(r["truncated"], dtype=bool),
            r["infos"],
        )

    def stack(self, rows: list[Any]) -> Any:
        """A fresh batched observation (never a shared buffer: callers keep earlier results)."""
        out = create_empty_array(self.single_observation_space, len(rows))
        return concatenate(self.single_observation_space, rows, out)


class RemoteVectorEnv(VectorEnv):
    """A Gymnasium vector env whose ``n_agents`` sub-envs run on a protocol server.

    Autoreset mode is ``SameStep``: an env that finishes is reset (with ``batch_reset``) within the same
    ``step`` call; its last observation and info are in ``infos["final_obs"]`` / ``infos["final_info"]``
    (masked by ``infos["_final_obs"]``), Gymnasium's convention for that mode.
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP}  # noqa: RUF012

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9877,
        *,
        seed: int | None = None,
        client: GymClient | None = None,
        **client_kwargs: Any,
    ) -> None:
        self.client = _connect(client, host, port, seed, client_kwargs)
        self._batch = BatchClient(self.client)
        self.num_envs = self._batch.num_envs
        self.single_observation_space = self._batch.single_observation_space
        self.single_action_space = self._batch.single_action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._last: list[Any] | None = None

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        _no_options(options)
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, int):
            seeds = [seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(f"reset got {len(seeds)} seeds for {self.num_envs} envs; give one per env")
        if mask is None:
            ids = list(range(self.num_envs))
        else:  # Gymnasium's partial reset: only the masked envs, the others keep their observation
            ids = np.flatnonzero(np.asarray(mask, dtype=bool)).tolist()
            if self._last is None or len(mask) != self.num_envs:
                raise ConfigError("reset_mask needs one entry per env and a full reset() before it")
        fresh, infos = self._batch.reset(ids, [seeds[i] for i in ids])
        rows = list(self._last) if mask is not None else fresh
        if mask is not None:
            for k, i in enumerate(ids):
                rows[i] = fresh[k]
        merged: dict[str, Any] = {}
        for k, info in enumerate(infos):
            merged = self._add_info(merged, dict(info.get("custom") or {}), ids[k])
        self._last = rows
        return self._batch.stack(rows), merged

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        rows, rewards, terminated, truncated, infos = self._batch.step(
            list(iterate(self.action_space, actions))
        )
        merged: dict[str, Any] = {}
        done = np.flatnonzero(terminated | truncated)
        if done.size:
            fresh, _ = self._batch.reset(done.tolist())
            for k, i in enumerate(done):
                merged = self._add_info(
                    merged, {"final_obs": rows[i], "final_info": _step_info(infos[i])}, int(i)
                )
                rows[i] = fresh[k]
        for i, info in enumerate(infos):
            merged = self._add_info(merged, _step_info(info), i)
        self._last = rows
        return self._batch.stack(rows), rewards, terminated, truncated, merged

    def close_extras(self, **kwargs: Any) -> None:
        self.client.close()
