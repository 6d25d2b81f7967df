"""The TCP server: one thread and one :class:`~clankers.server.session.Session` per client.

Each connection owns its environments, so clients never see each other's episodes, and a client that
disconnects (cleanly, mid-frame, or by timing out) has its environments closed. MuJoCo's ``mj_step``
releases the GIL, so threads give real parallelism where it matters. Binds to 127.0.0.1 unless told
otherwise: the protocol has no authentication, so exposing it is an explicit choice.

Timeouts: ``idle_timeout`` bounds the wait for a client's next request (a training loop pauses for its
gradient updates, so it is generous); ``io_timeout`` bounds reading the rest of a frame once it started
and writing a response, so a stalled or malicious peer cannot pin a thread.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from clankers.errors import ConfigError, ConnectionClosedError, PayloadTooLargeError, ProtocolError
from clankers.server.framing import read_frame
from clankers.server.protocol import ErrorCode
from clankers.server.session import EnvSource, Session

log = logging.getLogger("clankers.server")

DEFAULT_PORT = 9877


@dataclass(frozen=True)
class ServerConfig:
    """Network and capacity settings (validated: bad values raise :class:`ConfigError`)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    num_envs: int = 1
    max_clients: int = 64
    idle_timeout: float = 600.0
    io_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0..65535 (0 = any free port), got {self.port}")
        if self.num_envs < 1:
            raise ConfigError(f"num_envs must be at least 1, got {self.num_envs}")
        if self.max_clients < 1:
            raise ConfigError(f"max_clients must be at least 1, got {self.max_clients}")
        if self.idle_timeout <= 0 or self.io_timeout <= 0:
            raise ConfigError("idle_timeout and io_timeout must be positive seconds")


class ProtocolServer:
    """Serves one environment source to many concurrent clients.

    Use as a context manager (starts a background accept thread) or call :meth:`serve_forever`::

        with ProtocolServer(env_source("cartpole"), ServerConfig(port=0)) as server:
            host, port = server.address
    """

    def __init__(self, source: EnvSource, config: ServerConfig | None = None) -> None:
        self.source = source
        self.config = config or ServerConfig()
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._sessions: dict[int, tuple[Session, socket.socket]] = {}
        self._next_id = 0
        self._stopping = threading.Event()
        self._accept_thread: threading.Thread | None = None
        self.connections_total = 0
        self.sessions_closed = 0

    # --- lifecycle -----------------------------------------------------------------------------------

    def bind(self) -> tuple[str, int]:
        """Open the listening socket (port 0 picks a free port) and return the bound address."""
        if self._listener is None:
            family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
            self._listener = socket.create_server(
                (self.config.host, self.config.port), family=family, reuse_port=False, backlog=128
            )
            self._listener.settimeout(0.2)  # lets the accept loop notice shutdown
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        if self._listener is None:
            raise RuntimeError("server is not bound; call bind() or start() first")
        host, port = self._listener.getsockname()[:2]
        return host, port

    @property
    def active_sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    def start(self) -> ProtocolServer:
        """Bind and accept connections on a background thread."""
        self.bind()
        self._accept_thread = threading.Thread(target=self.serve_forever, name="clankers-accept", daemon=True)
        self._accept_thread.start()
        return self

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown`; each client runs on its own thread."""
        self.bind()
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    break
                raise
            self.connections_total += 1
            threading.Thread(target=self._serve_client, args=(conn, peer), daemon=True).start()

    def shutdown(self) -> None:
        """Stop accepting, disconnect every client (closing their environments) and release the port."""
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            conns = [conn for _, conn in self._sessions.values()]
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> ProtocolServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # --- one client ------------------------------------------------------------------------------------

    def _serve_client(self, conn: socket.socket, peer: object) -> None:
        session = Session(self.source, self.config.num_envs)
        with self._lock:
            full = len(self._sessions) >= self.config.max_clients
            key = self._next_id
            self._next_id += 1
            if not full:
                self._sessions[key] = (session, conn)
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if full:
                self._send(conn, [session.error_frame(ErrorCode.INTERNAL_ERROR, self._busy_message())])
                return
            self._loop(conn, session)
        except Exception:  # never let a client take the server down; log and drop the connection
            log.exception("connection %s failed", peer)
        finally:
            session.close()
            with self._lock:
                if self._sessions.pop(key, None) is not None:
                    self.sessions_closed += 1
            with contextlib.suppress(OSError):
                conn.close()

    def _busy_message(self) -> str:
        return (
            f"internal error: server busy, {self.config.max_clients} clients already connected; "
            "retry later or start the server with a larger max_clients"
        )

    def _loop(self, conn: socket.socket, session: Session) -> None:
        while not session.closed and not self._stopping.is_set():
            conn.settimeout(self.config.idle_timeout)
            try:
                payload = read_frame(conn, io_timeout=self.config.io_timeout)
            except PayloadTooLargeError as exc:
                # The announced payload is still in the stream and skipping it means reading up to 4 GiB:
                # answer, then hang up (docs/protocol.md §2).
                self._send(conn, [session.error_frame(exc.code, f"{exc}; closing the connection")])
                return
            except (ConnectionClosedError, TimeoutError, ConnectionError, OSError):
                return
            frames = session.handle_payload(payload)
            if not self._send(conn, frames):
                return

    def _send(self, conn: socket.socket, frames: list[bytes]) -> bool:
        conn.settimeout(self.config.io_timeout)
        try:
            conn.sendall(frames[0] if len(frames) == 1 else b"".join(frames))
        except (OSError, ProtocolError):
            return False
        return True


def serve(
    source: EnvSource, config: ServerConfig, *, on_bound: Callable[[tuple[str, int]], None] | None = None
) -> None:
    """Run a server in the foreground until interrupted (what ``clankers serve`` calls).

    ``on_bound`` receives the bound address once the port is open (with port 0, the port picked).
    """
    server = ProtocolServer(source, config)
    address = server.bind()
    if on_bound is not None:
        on_bound(address)
    try:
        server.serve_forever()
    finally:
        server.shutdown()
