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
    idle = sock.gettimeout()
    try:
        _fill(sock, memoryview(buf), 0, deadline, mid_frame=mid_frame)
    finally:
        if sock.gettimeout() != idle:
            sock.settimeout(idle)
    return bytes(buf)


def _fill(
    sock: socket.socket, view: memoryview, got: int, end: float | None, *, mid_frame: bool = True
) -> None:
    """Fill ``view[got:]`` from ``sock``; with ``end``, by that time (the socket timeout is clamped to the
    time left only when a read has to wait, so a frame that is already there costs no extra syscall)."""
    n = len(view)
    while got < n:
        try:
            k = sock.recv_into(view[got:], n - got)
        except TimeoutError:
            if end is None:
                raise
            k = -1  # waited one socket timeout; the deadline decides below
        if k == 0:
            raise ConnectionClosedError(
                f"connection closed after {got} of {n} bytes" if (got or mid_frame) else "connection closed",
                mid_frame=bool(got) or mid_frame,
            )
        got += max(k, 0)
        if got < n and end is not None:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"frame not completed in time ({got} of {n} bytes arrived)")
            current = sock.gettimeout()
            if current is None or current > left:
                sock.settimeout(left)


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
    rest, all of it, so a peer that stalls or trickles mid-frame cannot pin a thread. ``deadline``
    (:func:`time.monotonic` seconds) caps that further: a server gives a connection a few seconds for its
    whole handshake. ``max_size`` (at most the protocol's 16 MiB) lets a server accept only small frames
    from a peer that has not completed it. The socket's timeout is left as it was.
    """
    header = bytearray(4)
    try:
        got = sock.recv_into(header, 4)  # the length in one read when it is all there (nearly always)
    except TimeoutError as exc:
        raise NoFrameYet(str(exc)) from exc
    if got == 0:
        raise ConnectionClosedError("connection closed", mid_frame=False)
    end = deadline
    if io_timeout is not None:
        budget_end = time.monotonic() + io_timeout
        end = budget_end if end is None or budget_end < end else end
    idle = sock.gettimeout()
    try:
        if got < 4:
            _fill(sock, memoryview(header), got, end)
        (length,) = _LENGTH.unpack(header)
        limit = min(max_size, MAX_MESSAGE_SIZE)
        if length > limit:
            raise PayloadTooLargeError(length, limit)
        if not length:
            return b""
        payload = bytearray(length)
        _fill(sock, memoryview(payload), 0, end)
        return bytes(payload)
    finally:
        if sock.gettimeout() != idle:
            sock.settimeout(idle)


def read_message(sock: socket.socket, *, io_timeout: float | None = None) -> dict[str, Any]:
    """Read and parse one JSON message frame."""
    return decode_message(read_frame(sock, io_timeout=io_timeout))
