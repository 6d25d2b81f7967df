"""The clankers wire protocol: serve any task over TCP, train from another process or machine.

- :mod:`~clankers.server.framing`, :mod:`~clankers.server.protocol`, :mod:`~clankers.server.spaces`,
  :mod:`~clankers.server.binary`: the protocol itself (normative text: ``docs/protocol.md``);
- :mod:`~clankers.server.session` and :mod:`~clankers.server.server`: the server (``clankers serve``),
  with its settings in :mod:`~clankers.server.config`, tokens and TLS in :mod:`~clankers.server.auth`
  and fair-use limits in :mod:`~clankers.server.limits` (docs/protocol.md §9, §12);
- :mod:`~clankers.server.client`, :mod:`~clankers.server.remote_env`, :mod:`~clankers.server.sb3`: clients
  (a raw :class:`GymClient`, Gymnasium single/vector envs, an SB3 ``VecEnv``).

The SB3 adapter is not imported here so that serving and the Gymnasium clients need no torch.
"""

from clankers.server.auth import load_token
from clankers.server.client import GymClient
from clankers.server.config import DEFAULT_PORT, ServerConfig
from clankers.server.protocol import PROTOCOL_VERSION, ErrorCode
from clankers.server.remote_env import RemoteEnv, RemoteVectorEnv
from clankers.server.server import ProtocolServer, serve
from clankers.server.session import EnvSource, Session
from clankers.server.tasks import env_source

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
