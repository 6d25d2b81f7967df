"""Length-prefixed framing: the byte layer of the clankers wire protocol.

Every frame is a 4-byte little-endian unsigned length followed by that many payload bytes. JSON messages
and the binary observation frames that may follow them share this layout, so one reader serves both.
The 16 MiB limit is enforced on both sides: a peer that announces a larger frame is refused before a
single payload byte is buffered (a 4 GiB announcement must not make us allocate 4 GiB), and we never
send a frame our peer would refuse.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

from clankers.errors import ConnectionClosedError, PayloadTooLargeError, ProtocolError

#: Largest payload (bytes) of one frame, JSON or binary; the earlier system's limit, kept for compatibility.
MAX_MESSAGE_SIZE = 16 * 1024 * 1024

_LENGTH = struct.Struct("<I")

# Error code used by this module (the full table lives in clankers.server.protocol).
_INVALID_MESSAGE = 101


class NoFrameYet(TimeoutError):
    """No byte of a new frame arrived within the socket's timeout; nothing was consumed, so a reader may
    simply try again (the server waits for a client's next request in short slices this way)."""


def encode_frame(payload: bytes) -> bytes:
    """Prefix ``payload`` with its length; refuse payloads the peer would reject."""
    if len(payload) > MAX_MESSAGE_SIZE:
        raise PayloadTooLargeError(len(payload), MAX_MESSAGE_SIZE)
    return _LENGTH.pack(len(payload)) + payload


def encode_message(message: dict[str, Any]) -> bytes:
    """Serialize one JSON message (compact, UTF-8) into a complete frame."""
    return encode_frame(dumps(message))


def dumps(message: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON. ``allow_nan=False``: JSON has no NaN/inf and strict peers (serde) reject them."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8")


def decode_message(payload: bytes) -> dict[str, Any]:
    """Parse a JSON payload into a message object, or raise ``ProtocolError`` code 101.

    Python's parser accepts the non-standard tokens ``NaN`` and ``Infinity``; we keep that so an action
    carrying them is answered with the precise NaN/inf error codes (206/207) instead of "invalid JSON".
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"invalid message: payload is not UTF-8 ({exc.reason})", _INVALID_MESSAGE
        ) from exc
    try:
        message = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"invalid message: not valid JSON ({exc})", _INVALID_MESSAGE) from exc
    if not isinstance(message, dict):
        raise ProtocolError(
            f"invalid message: expected a JSON object with a 'type' field, got {type(message).__name__}",
            _INVALID_MESSAGE,
        )
    return message


def recv_exact(sock: socket.socket, n: int, *, mid_frame: bool, deadline: float | None = None) -> bytes:
    """Read exactly ``n`` bytes; :class:`ConnectionClosedError` if the peer hangs up first.

    With a ``deadline`` (:func:`time.monotonic` seconds) the whole read must finish by then: a peer that
    drips one byte just before each socket timeout would otherwise hold the reader forever.
    """
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ConnectionClosedError(
                f"connection closed after {got} of {n} bytes" if (got or mid_frame) else "connection closed",
                mid_frame=bool(got) or mid_frame,
            )
        got += k
        if got < n and deadline is not None:  # a partial read: only the time left may be spent
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"frame not completed in time ({got} of {n} bytes arrived)")
            sock.settimeout(left)
    return bytes(buf)


def read_frame(
    sock: socket.socket,
    *,
    io_timeout: float | None = None,
    max_size: int = MAX_MESSAGE_SIZE,
    deadline: float | None = None,
) -> bytes:
    """Read one frame's payload.

    The socket's own timeout applies while waiting for the first byte (an idle peer; :class:`NoFrameYet`
    when it expires); once a frame has started, ``io_timeout`` (if given) bounds the time to read the
    rest, all of it, so a peer that stalls or trickles mid-frame cannot pin a thread. ``deadline`` (:func:`time.monotonic` seconds) caps that
    further: a server gives a connection a few seconds for its whole handshake. ``max_size`` (at most the
    protocol's 16 MiB) lets a server accept only small frames from a peer that has not completed it.
    """
    try:
        first = recv_exact(sock, 1, mid_frame=False)
    except TimeoutError as exc:
        raise NoFrameYet(str(exc)) from exc
    idle_timeout = sock.gettimeout()
    if io_timeout is not None:
        end = time.monotonic() + io_timeout
        deadline = end if deadline is None else min(deadline, end)
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("frame not completed in time")
        sock.settimeout(left)
    try:
        header = first + recv_exact(sock, 3, mid_frame=True, deadline=deadline)
        (length,) = _LENGTH.unpack(header)
        if length > min(max_size, MAX_MESSAGE_SIZE):
            raise PayloadTooLargeError(length, min(max_size, MAX_MESSAGE_SIZE))
        return recv_exact(sock, length, mid_frame=True, deadline=deadline) if length else b""
    finally:
        if deadline is not None:
            sock.settimeout(idle_timeout)


def read_message(sock: socket.socket, *, io_timeout: float | None = None) -> dict[str, Any]:
    """Read and parse one JSON message frame."""
    return decode_message(read_frame(sock, io_timeout=io_timeout))
