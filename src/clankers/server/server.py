"""The TCP server: one thread and one :class:`~clankers.server.session.Session` per client.

Each connection owns its environments, so clients never see each other's episodes, and a client that
disconnects (cleanly, mid-frame, or by timing out) has its environments closed. MuJoCo's ``mj_step``
releases the GIL, so threads give real parallelism where it matters.

Security (docs/protocol.md §12): binds to 127.0.0.1 unless told otherwise and refuses any other address
without a token (:class:`~clankers.server.config.ServerConfig`); with a token, ``init`` must carry it;
with ``tls_cert``, every connection is TLS. A connection lives in two phases:

1. **handshake**, under :mod:`clankers.server.limits`' rules: TLS, then a successful ``init``, all within
   ``handshake_timeout`` seconds, with frames of at most ``max_handshake_frame`` bytes;
2. **session**: ``idle_timeout`` bounds the wait for the next request (a training loop pauses for its
   gradient updates, so it is generous); ``io_timeout`` bounds reading the rest of a started frame and
   writing a response, so a stalled or trickling peer cannot pin a thread.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable

from clankers.errors import ConnectionClosedError, PayloadTooLargeError, ProtocolError
from clankers.server.auth import TokenCheck, server_tls_context
from clankers.server.config import DEFAULT_PORT, ServerConfig
from clankers.server.framing import MAX_MESSAGE_SIZE, NoFrameYet, dumps, encode_frame, read_frame
from clankers.server.limits import Connection, ConnectionLimits
from clankers.server.protocol import ErrorCode, State, error_message
from clankers.server.session import EnvSource, Session

log = logging.getLogger("clankers.server")

__all__ = ["DEFAULT_PORT", "ProtocolServer", "ServerConfig", "serve"]

_READ_ENDED = (ConnectionClosedError, TimeoutError, ConnectionError, OSError)

#: Seconds a thread waiting for its client's next request sleeps at most before it looks up (has its
#: connection been evicted for a newer one, is the server stopping?).
POLL_INTERVAL = 0.5


class ProtocolServer:
    """Serves one environment source to many concurrent clients.

    Use as a context manager (starts a background accept thread) or call :meth:`serve_forever`::

        with ProtocolServer(env_source("cartpole"), ServerConfig(port=0)) as server:
            host, port = server.address
    """

    def __init__(self, source: EnvSource, config: ServerConfig | None = None) -> None:
        self.source = source
        self.config = config or ServerConfig()
        token = self.config.token
        self._token = None if token is None else TokenCheck(token.get_secret_value())
        self._tls = (
            None
            if self.config.tls_cert is None
            else server_tls_context(self.config.tls_cert, self.config.tls_key)
        )
        self.limits = ConnectionLimits(self.config)
        self._listener: socket.socket | None = None
        self._keys = itertools.count()
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
            if self.config.exposed:
                log.warning(
                    "serving %s:%d WITHOUT a token (--insecure): anyone who can reach this port can drive "
                    "the environments",
                    *self.address,
                )
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        if self._listener is None:
            raise RuntimeError("server is not bound; call bind() or start() first")
        host, port = self._listener.getsockname()[:2]
        return host, port

    @property
    def active_sessions(self) -> int:
        """Open connections, handshaking or not (each has a session object)."""
        return self.limits.handshaking + self.limits.sessions

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
                sock, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    break
                raise
            self.connections_total += 1
            conn = Connection(next(self._keys), str(peer[0]), sock)
            refusal = self.limits.accept(conn)
            if refusal is not None:
                self._refuse(sock, refusal)
                continue
            threading.Thread(target=self._serve_client, args=(conn,), daemon=True).start()

    def shutdown(self) -> None:
        """Stop accepting, disconnect every client (closing their environments) and release the port."""
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        for conn in self.limits.connections():
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)

    def __enter__(self) -> ProtocolServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # --- one client ------------------------------------------------------------------------------------

    def _refuse(self, sock: socket.socket, reason: str) -> None:
        """Refuse at accept without a thread: one non-blocking write of error 108 (plain TCP), then close."""
        with contextlib.suppress(OSError):
            if self._tls is None:  # over TLS, an answer would need a handshake: just close
                sock.setblocking(False)
                sock.send(encode_frame(dumps(error_message(ErrorCode.SERVER_BUSY, reason))))
        with contextlib.suppress(OSError):
            sock.close()

    def _serve_client(self, conn: Connection) -> None:
        session = Session(
            self.source,
            self.config.num_envs,
            token=self._token,
            admit=lambda: self.limits.promote(conn),
        )
        conn.session = session
        try:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._handshake(conn, session):
                self._loop(conn, session)
            talking = self._tls is None or isinstance(conn.sock, ssl.SSLSocket)  # TLS, if any, is up
            if conn.evicted is not None and talking:
                self._send(conn.sock, [session.error_frame(ErrorCode.SERVER_BUSY, conn.evicted)])
        except Exception:  # never let a client take the server down; log and drop the connection
            log.exception("connection %s failed", conn.address)
        finally:
            session.close()
            self.limits.release(conn)
            self.sessions_closed += 1
            with contextlib.suppress(OSError):
                conn.sock.close()

    def _handshake(self, conn: Connection, session: Session) -> bool:
        """TLS and a successful ``init`` within the handshake deadline; True if the session may proceed."""
        deadline = conn.accepted + self.config.handshake_timeout
        if self._tls is not None:
            conn.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                conn.sock = self._tls.wrap_socket(conn.sock, server_side=True)
            except (ssl.SSLError, *_READ_ENDED) as exc:  # a plain-TCP client, a bad certificate, a timeout
                log.info("TLS handshake with %s failed: %s", conn.address, exc)
                return False
        while session.state is State.CONNECTED and not session.closed:
            try:
                payload = self._next_frame(
                    conn, deadline, deadline=deadline, max_size=self.config.max_handshake_frame
                )
            except PayloadTooLargeError as exc:
                message = (
                    f"payload too large before the handshake: {exc.size} bytes (max "
                    f"{self.config.max_handshake_frame}); an 'init' is far smaller; closing the connection"
                )
                self._send(conn.sock, [session.error_frame(exc.code, message)])
                return False
            except _READ_ENDED:
                return False
            if payload is None or not self._send(conn.sock, session.handle_payload(payload)):
                return False
        return session.state is not State.CONNECTED and not session.closed and conn.evicted is None

    def _loop(self, conn: Connection, session: Session) -> None:
        sock = conn.sock
        while not session.closed:
            try:
                payload = self._next_frame(
                    conn, time.monotonic() + self.config.idle_timeout, io_timeout=self.config.io_timeout
                )
            except PayloadTooLargeError as exc:
                # The announced payload is still in the stream and skipping it means reading up to 4 GiB:
                # answer, then hang up (docs/protocol.md §2).
                self._send(sock, [session.error_frame(exc.code, f"{exc}; closing the connection")])
                return
            except _READ_ENDED:
                return
            if payload is None or not self._send(sock, session.handle_payload(payload)):
                return

    def _next_frame(
        self,
        conn: Connection,
        until: float,
        io_timeout: float | None = None,
        deadline: float | None = None,
        max_size: int = MAX_MESSAGE_SIZE,
    ) -> bytes | None:
        """The next request frame; ``None`` once ``until`` passes, the connection is evicted or the server
        stops. Waits in slices of :data:`POLL_INTERVAL`, so an eviction is noticed without any signal."""
        while conn.evicted is None and not self._stopping.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return None
            conn.sock.settimeout(min(left, POLL_INTERVAL))
            try:
                payload = read_frame(conn.sock, io_timeout=io_timeout, deadline=deadline, max_size=max_size)
            except NoFrameYet:
                continue
            return payload if conn.evicted is None else None  # an evicted connection is not served
        return None

    def _send(self, sock: socket.socket, frames: list[bytes]) -> bool:
        sock.settimeout(self.config.io_timeout)
        try:
            sock.sendall(frames[0] if len(frames) == 1 else b"".join(frames))
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
