"""The server's settings: network, security and fair-use limits, validated in one place.

Every limit that decides who gets served is here and documented (docs/protocol.md §9 and §12), so an
operator can read what the server will do without reading the server. The defaults suit a simulator or
robot bridge with a handful of trainers; tests shrink the timeouts to fractions of a second.

Two rules are enforced at construction, not at bind time, so a bad configuration never opens a port:

- binding to anything but loopback needs a token (``token``), unless ``insecure`` says the exposure is
  deliberate;
- a TLS key needs its certificate.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import ConfigDict, Field, SecretStr, model_validator

from clankers.sim.model import ConfigModel

DEFAULT_PORT = 9877

#: Shortest token accepted: 16 characters is 96 bits or more from ``secrets.token_urlsafe``.
MIN_TOKEN_LENGTH = 16

MAKE_TOKEN = "python -c 'import secrets; print(secrets.token_urlsafe(32))' > token && chmod 600 token"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals; any other name or address counts as exposed.

    Names are not resolved: a name that happens to resolve to 127.0.0.1 today may not tomorrow.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServerConfig(ConfigModel):
    """Network, security and capacity settings of a :class:`~clankers.server.ProtocolServer`.

    | field               | default     | meaning                                                                 |
    |---------------------|-------------|-------------------------------------------------------------------------|
    | host, port          | 127.0.0.1, 9877 | where to listen (port 0: any free port)                             |
    | num_envs            | 1           | envs per client session (``n_agents``)                                  |
    | token               | none        | shared secret every client must send in ``init``                       |
    | insecure            | false       | allow a non-loopback ``host`` without a token                          |
    | tls_cert, tls_key   | none        | PEM certificate chain and key: serve over TLS                          |
    | max_clients         | 64          | handshaken sessions at once                                            |
    | max_pending         | 64          | connections still handshaking; when full the oldest is dropped         |
    | max_per_address     | 32          | connections (handshaking or not) from one IP address                   |
    | handshake_timeout   | 5 s         | a connection must complete TLS and a successful ``init`` within it     |
    | max_handshake_frame | 64 KiB      | largest frame accepted before the handshake (an ``init`` is < 1 KiB)   |
    | reclaim_after       | 60 s        | when full, a session idle this long (no env request) may be reclaimed |
    | idle_timeout        | 600 s       | a silent client is disconnected (pings count as traffic)               |
    | io_timeout          | 30 s        | budget to finish reading a started frame, and to write a response      |
    """

    config_label = "server config"
    # Validation errors must not echo their input: it holds the token.
    model_config = ConfigDict(hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    num_envs: int = Field(default=1, ge=1)
    token: SecretStr | None = None
    insecure: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_clients: int = Field(default=64, ge=1)
    max_pending: int = Field(default=64, ge=1)
    max_per_address: int = Field(default=32, ge=1)
    handshake_timeout: float = Field(default=5.0, gt=0)
    max_handshake_frame: int = Field(default=64 * 1024, ge=1024)
    reclaim_after: float = Field(default=60.0, ge=0)
    idle_timeout: float = Field(default=600.0, gt=0)
    io_timeout: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _secure_by_default(self) -> ServerConfig:
        if self.token is not None and len(self.token.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"the token has {len(self.token.get_secret_value())} characters; use at least "
                f"{MIN_TOKEN_LENGTH} random ones, e.g. {MAKE_TOKEN}"
            )
        if not is_loopback(self.host) and self.token is None and not self.insecure:
            raise ValueError(
                f"refusing to bind {self.host!r} without a token: anyone who can reach the port could drive "
                f"the environments (and a robot behind them). Make a token ({MAKE_TOKEN}) and start with "
                "--token-file token (or the CLANKERS_TOKEN environment variable); add --tls-cert/--tls-key "
                "so it cannot be sniffed. --insecure overrides this check on a network you trust."
            )
        if self.tls_key is not None and self.tls_cert is None:
            raise ValueError("tls_key needs tls_cert (the certificate chain the key belongs to)")
        return self

    @property
    def exposed(self) -> bool:
        """Bound beyond loopback without a token (allowed only with ``insecure``)."""
        return not is_loopback(self.host) and self.token is None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None
