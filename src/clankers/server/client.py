"""Client side of the clankers wire protocol: framing, handshake, requests, binary frames.

:class:`GymClient` is deliberately thin (one request, one response) so the Gymnasium and SB3 adapters in
:mod:`clankers.server.remote_env` and :mod:`clankers.server.sb3` stay small. Responses come back as the
JSON dict the server sent; when observations travelled in a binary frame, the decoded array is attached
under ``"_obs"`` (``[H, W, C]`` uint8 for one image, ``[num_envs, dim]`` for a batch).

Security (docs/protocol.md §12): ``token`` is sent in ``init`` (and the ``auth`` capability asked for, so
the answer says whether the server checked it); ``tls=True`` or ``ca_file`` wrap the connection in TLS
and verify the server's certificate and host name before the token leaves this process.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import numpy as np

from clankers.errors import ProtocolError, ServerError
from clankers.server import binary
from clankers.server.auth import client_tls_context
from clankers.server.framing import encode_message, read_frame, read_message
from clankers.server.protocol import PROTOCOL_VERSION

DEFAULT_CAPABILITIES = {"batch_step": True, "binary_obs": True, "binary_batch": True}


class GymClient:
    """A connection to a clankers (or earlier-system) protocol server.

    Args:
        host, port: where the server listens.
        client_name, client_version: sent in the handshake (informational).
        capabilities: requested capability flags (default: all this client implements).
        protocol_version: the version offered; lower it (e.g. ``"1.0.0"``) to talk like an earlier client.
        timeout: seconds to wait for connecting and for each response.
        token: the server's token (``clankers serve --token-file``), sent in ``init``.
        tls: connect over TLS, verifying the server against the system's CAs (or an ``ssl.SSLContext``).
        ca_file: PEM bundle to verify the server with instead (implies TLS), e.g. a self-signed certificate.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9877,
        *,
        client_name: str = "clankers-python",
        client_version: str = "0.1.0",
        capabilities: dict[str, bool] | None = None,
        protocol_version: str = PROTOCOL_VERSION,
        timeout: float = 60.0,
        token: str | None = None,
        tls: bool | ssl.SSLContext = False,
        ca_file: str | Path | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.client_name, self.client_version = client_name, client_version
        self.requested_capabilities = dict(DEFAULT_CAPABILITIES if capabilities is None else capabilities)
        if token is not None:
            self.requested_capabilities.setdefault("auth", True)
        self._token = token
        self._tls = client_tls_context(tls, ca_file)
        self.offered_version = protocol_version
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self.init_response: dict[str, Any] = {}

    # --- connection ------------------------------------------------------------------------------------

    def connect(self, seed: int | None = None) -> dict[str, Any]:
        """Open the socket and perform the ``init`` handshake; returns the ``init_response``."""
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:
            try:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self._sock = sock
        init: dict[str, Any] = {
            "type": "init",
            "protocol_version": self.offered_version,
            "client_name": self.client_name,
            "client_version": self.client_version,
            "capabilities": self.requested_capabilities,
        }
        if seed is not None:
            init["seed"] = seed
        if self._token is not None:
            init["token"] = self._token
        try:
            self.init_response = self.request(init)
        except Exception:
            self.disconnect()
            raise
        return self.init_response

    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def capabilities(self) -> dict[str, bool]:
        """The negotiated capabilities (each true only if both sides have it)."""
        return dict(self.init_response.get("capabilities", {}))

    @property
    def authenticated(self) -> bool:
        """True when the server said it checked our token (the ``auth`` capability, protocol >= 1.3)."""
        return bool(self.capabilities.get("auth", False))

    @property
    def tls(self) -> bool:
        return self._tls is not None

    @property
    def protocol_version(self) -> str:
        return str(self.init_response.get("protocol_version", ""))

    @property
    def env_info(self) -> dict[str, Any]:
        return dict(self.init_response.get("env_info", {}))

    def close(self) -> None:
        """Say ``close`` (best effort) and disconnect; safe to call twice."""
        if self._sock is None:
            return
        with contextlib.suppress(OSError, ProtocolError):
            self.request({"type": "close"})
        self.disconnect()

    def disconnect(self) -> None:
        """Drop the connection without a ``close`` message (the server frees the session either way)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> GymClient:
        if self._sock is None:
            self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests --------------------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        if self._sock is None:
            raise ProtocolError("not connected: call connect() first", 300)
        try:
            frame = encode_message(message)
        except ValueError as exc:  # NaN/inf (JSON has none) or an object json cannot encode
            raise ProtocolError(f"cannot encode request as JSON: {exc}", 101) from exc
        self._sock.sendall(frame)

    def receive(self) -> dict[str, Any]:
        """Read one response (and its binary frame, if announced); :class:`ServerError` on an error response."""
        if self._sock is None:
            raise ProtocolError("not connected: call connect() first", 300)
        response = read_message(self._sock, io_timeout=self.timeout)
        if response.get("type") == "error":
            raise ServerError(str(response.get("message", "error")), int(response.get("code", 400)))
        encoding = response.get("obs_encoding")
        if encoding is not None:
            frame = read_frame(self._sock, io_timeout=self.timeout)
            kind = encoding.get("type")
            if kind == "RawU8Image":
                shape = (int(encoding["height"]), int(encoding["width"]), int(encoding["channels"]))
                response["_obs"] = np.frombuffer(frame, dtype=np.uint8).reshape(shape)
            elif kind in ("BatchF32", "BatchRawU8Image"):
                response["_obs"] = binary.decode_batch(frame)
            else:
                raise ProtocolError(f"unknown obs_encoding type {kind!r}", 101)
        return response

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its response."""
        self.send(message)
        return self.receive()

    def ping(self) -> float:
        """Round-trip time in seconds (also checks the server echoes our timestamp)."""
        stamp = int(time.time() * 1000)
        start = time.perf_counter()
        response = self.request({"type": "ping", "timestamp": stamp})
        if response.get("type") != "pong" or response.get("timestamp") != stamp:
            raise ProtocolError(f"bad pong for timestamp {stamp}: {response}", 101)
        return time.perf_counter() - start
