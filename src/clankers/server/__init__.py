"""The clankers wire protocol: serve any task over TCP, train from another process or machine.

- :mod:`~clankers.server.framing`, :mod:`~clankers.server.protocol`, :mod:`~clankers.server.spaces`,
  :mod:`~clankers.server.binary`: the protocol itself (normative text: ``docs/protocol.md``);
- :mod:`~clankers.server.session` and :mod:`~clankers.server.server`: the server (``clankers serve``),
  with its settings in :mod:`~clankers.server.config`, tokens and TLS in :mod:`~clankers.server.auth`
  and fair-use limits in :mod:`~clankers.server.limits` (docs/protocol.md §9, §12);
- :mod:`~clankers.server.client`, :mod:`~clankers.server.remote_env`, :mod:`~clankers.server.sb3`: clients
  (a raw :class:`GymClient`, Gymnasium single/vector envs, an SB3 ``VecEnv``).

The SB3 adapter is not imported here so that serving and the Gymnasium clients need no torch. The
server's own names (``ServerConfig``, ``ProtocolServer``, ``serve``, ``DEFAULT_PORT``) load on first use:
the config builds on the project's pydantic base in :mod:`clankers.sim`, which imports MuJoCo, and a
client on a robot's computer should not pay a second of MuJoCo import to open a socket.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from clankers.server.auth import load_token
from clankers.server.client import GymClient
from clankers.server.protocol import PROTOCOL_VERSION, ErrorCode
from clankers.server.remote_env import RemoteEnv, RemoteVectorEnv
from clankers.server.session import EnvSource, Session
from clankers.server.tasks import env_source

if TYPE_CHECKING:
    from clankers.server.config import DEFAULT_PORT, ServerConfig
    from clankers.server.server import ProtocolServer, serve

_SERVER_SIDE = {
    "DEFAULT_PORT": "clankers.server.config",
    "ServerConfig": "clankers.server.config",
    "ProtocolServer": "clankers.server.server",
    "serve": "clankers.server.server",
}


def __getattr__(name: str) -> Any:
    if name in _SERVER_SIDE:
        return getattr(importlib.import_module(_SERVER_SIDE[name]), name)
    raise AttributeError(f"module 'clankers.server' has no attribute {name!r}")


__all__ = [
    "DEFAULT_PORT",
    "PROTOCOL_VERSION",
    "EnvSource",
    "ErrorCode",
    "GymClient",
    "ProtocolServer",
    "RemoteEnv",
    "RemoteVectorEnv",
    "ServerConfig",
    "Session",
    "env_source",
    "load_token",
    "serve",
]
