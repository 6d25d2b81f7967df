"""Who gets served when connections compete: the server's fair-use limits (docs/protocol.md §9).

Every open connection is either *handshaking* (accepted, no successful ``init`` yet) or a *session*
(handshaken, with environments). The two are limited separately, so connections that never finish a
handshake cannot take the places of working clients:

- **per address**: at most ``max_per_address`` connections of either kind from one IP address; more are
  refused at ``accept``, so one host cannot take every place;
- **handshaking**: at most ``max_pending``; when full, the *oldest* handshaking connection is dropped to
  admit the new one (a legitimate client finishes its handshake in milliseconds, a slow-loris peer
  never does), and each has ``handshake_timeout`` seconds in all;
- **sessions**: at most ``max_clients``; when a valid handshake finds them full, the session idle the
  longest (no environment request for at least ``reclaim_after`` seconds; pings do not count) is
  reclaimed for it, so idle sessions cannot lock out new clients. Only an authenticated ``init`` can
  reclaim: the token is checked first.

A dropped or reclaimed connection is told why (error 108) by its own thread: :meth:`Connection.evict`
only marks it and frees its place at once; the thread notices within the server's poll interval (it
waits for requests in short slices) or when its current frame ends, answers, and closes. (Waking it by
shutting down the socket's read side would be immediate, but after that end of stream OpenSSL refuses
to write the answer over TLS.)
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from clankers.server.config import ServerConfig
from clankers.server.protocol import ErrorCode, fail
from clankers.server.session import Session


@dataclass(eq=False)
class Connection:
    """One accepted connection: its socket, where it comes from and its session once it has one."""

    key: int
    address: str
    sock: socket.socket
    accepted: float = field(default_factory=time.monotonic)
    session: Session | None = None
    #: Why the server is hanging up on this connection (set by another thread), or ``None``.
    evicted: str | None = None

    def evict(self, reason: str) -> None:
        """Ask the connection's thread to answer 108 with ``reason`` and close (callable from any thread)."""
        self.evicted = reason


class ConnectionLimits:
    """The table of open connections and the admission rules above (thread-safe)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._handshaking: dict[int, Connection] = {}  # insertion order = age
        self._sessions: dict[int, Connection] = {}
        self._per_address: Counter[str] = Counter()
        self.refused = 0  # refused at accept (per-address limit) or at init (no place, nothing to reclaim)
        self.dropped = 0  # handshaking connections dropped for newer ones
        self.reclaimed = 0  # idle sessions reclaimed for new clients

    # --- counts ------------------------------------------------------------------------------------------

    @property
    def handshaking(self) -> int:
        with self._lock:
            return len(self._handshaking)

    @property
    def sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    def connections(self) -> list[Connection]:
        with self._lock:
            return [*self._handshaking.values(), *self._sessions.values()]

    # --- admission ---------------------------------------------------------------------------------------

    def accept(self, conn: Connection) -> str | None:
        """Register a new connection; returns why it is refused, or ``None`` when it may handshake."""
        cfg = self.config
        with self._lock:
            if self._per_address[conn.address] >= cfg.max_per_address:
                self.refused += 1
                return (
                    f"server busy: {cfg.max_per_address} connections from {conn.address} already open "
                    "(max_per_address); close one or raise the server's --max-per-address"
                )
            if len(self._handshaking) >= cfg.max_pending:
                oldest = next(iter(self._handshaking.values()))
                self._release(oldest)
                self.dropped += 1
                oldest.evict(
                    f"server busy: {cfg.max_pending} connections were handshaking and this one was the "
                    "oldest; reconnect and send 'init' right away"
                )
            self._handshaking[conn.key] = conn
            self._per_address[conn.address] += 1
        return None

    def promote(self, conn: Connection) -> None:
        """Give a connection whose handshake is valid a session place, reclaiming an idle one if full.

        Raises the protocol's 108 (server busy) when every session is in use.
        """
        cfg = self.config
        with self._lock:
            if conn.key in self._sessions:
                return
            if len(self._sessions) >= cfg.max_clients:
                victim, idle = self._most_idle()
                if victim is None:
                    self.refused += 1
                    raise fail(
                        ErrorCode.SERVER_BUSY,
                        f"server busy: {cfg.max_clients} sessions in use, none idle for "
                        f"{cfg.reclaim_after:g} s; retry later or start the server with a larger "
                        "--max-clients",
                    )
                self._release(victim)
                self.reclaimed += 1
                victim.evict(
                    f"server busy: this session was reclaimed for a new client after {idle:.1f} s without an "
                    f"environment request (all {cfg.max_clients} places were taken); reconnect to continue"
                )
            self._handshaking.pop(conn.key, None)
            self._sessions[conn.key] = conn

    def release(self, conn: Connection) -> None:
        """Forget a connection (idempotent): its thread is finishing."""
        with self._lock:
            self._release(conn)

    # --- internals (lock held) ---------------------------------------------------------------------------

    def _release(self, conn: Connection) -> None:
        if self._handshaking.pop(conn.key, None) is None and self._sessions.pop(conn.key, None) is None:
            return
        self._per_address[conn.address] -= 1
        if self._per_address[conn.address] <= 0:
            del self._per_address[conn.address]

    def _most_idle(self) -> tuple[Connection | None, float]:
        now = time.monotonic()
        best: Connection | None = None
        best_idle = -1.0
        for conn in self._sessions.values():
            assert conn.session is not None
            idle = now - conn.session.last_work
            if idle >= self.config.reclaim_after and idle > best_idle:
                best, best_idle = conn, idle
        return best, best_idle
