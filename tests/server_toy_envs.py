"""Small deterministic environments for the wire-protocol tests (not a test file itself).

They exercise every space kind the wire knows, and the failure modes the server must survive (an env
that raises, an env that produces NaN), without MuJoCo's cost.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from clankers.server import EnvSource

CLOSED: list[int] = []  # ids of toy envs closed so far (tests check that disconnects free envs)


class ToyEnv(gym.Env):
    """Counts steps; observation = [step count, last action sum, ...]; terminates after ``horizon`` steps."""

    _next_id = 0

    def __init__(
        self,
        action_space: spaces.Space | None = None,
        observation_space: spaces.Space | None = None,
        horizon: int = 5,
        fail_at: int | None = None,
        nan_at: int | None = None,
        truncate: bool = False,
    ) -> None:
        self.action_space = action_space or spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = observation_space or spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.horizon, self.fail_at, self.nan_at, self.truncate = horizon, fail_at, nan_at, truncate
        self.t = 0
        self.last_action: Any = None
        self.id = ToyEnv._next_id
        ToyEnv._next_id += 1

    def _obs(self) -> Any:
        base = float(self.t) + float(self.np_random.uniform(0, 0.001))
        if self.nan_at is not None and self.t >= self.nan_at:
            base = float("nan")
        return _fill(self.observation_space, base)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {"reset_marker": 7, "array": np.arange(3)}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.t += 1
        if self.fail_at is not None and self.t >= self.fail_at:
            raise RuntimeError("toy physics exploded")
        assert self.action_space.contains(action), f"server passed an invalid action {action!r}"
        self.last_action = action
        done = self.t >= self.horizon
        return self._obs(), 1.0, done and not self.truncate, done and self.truncate, {"t": self.t}

    def close(self) -> None:
        CLOSED.append(self.id)


def _fill(space: spaces.Space, value: float) -> Any:
    if isinstance(space, spaces.Dict):
        return {k: _fill(s, value) for k, s in space.spaces.items()}
    if isinstance(space, spaces.Discrete):
        return np.int64(int(value) % int(space.n) + int(space.start))
    if isinstance(space, (spaces.MultiDiscrete, spaces.MultiBinary)):
        return np.zeros(space.shape, dtype=space.dtype)
    if space.dtype == np.uint8:
        rng = np.random.default_rng(int(value) if np.isfinite(value) else 0)
        return rng.integers(0, 256, size=space.shape, dtype=np.uint8)
    return np.full(space.shape, value, dtype=space.dtype)


def toy_source(**kwargs: Any) -> EnvSource:
    return EnvSource(name="toy/Toy-v0", version="1.0.0", make=lambda: ToyEnv(**kwargs))


IMAGE_SPACE = spaces.Box(0, 255, (4, 5, 3), np.uint8)


class RawClient:
    """Speaks the wire format by hand, the way the earlier system's Python scripts did."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=10)

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, payload: bytes) -> None:
        """One length-prefixed frame with any payload (valid JSON or not)."""
        self.sock.sendall(struct.pack("<I", len(payload)) + payload)

    def send(self, message: dict[str, Any]) -> None:
        self.send_frame(json.dumps(message).encode("utf-8"))

    def recv(self) -> dict[str, Any]:
        return json.loads(self.recv_frame())

    def recv_frame(self) -> bytes:
        (n,) = struct.unpack("<I", self._exact(4))
        return self._exact(n)

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def closed_by_server(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionError:
            return True

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        self.send(message)
        return self.recv()

    def close(self) -> None:
        self.sock.close()
