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
from typing import Any

from clankers.errors import ConnectionClosedError, PayloadTooLargeError, ProtocolError

#: Largest payload (bytes) of one frame, JSON or binary; the earlier system's limit, kept for compatibility.
MAX_MESSAGE_SIZE = 16 * 1024 * 1024

_LENGTH = struct.Struct("<I")

# Error code used by this module (the full table lives in clankers.server.protocol).
_INVALID_MESSAGE = 101


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


def recv_exact(sock: socket.socket, n: int, *, mid_frame: bool) -> bytes:
    """Read exactly ``n`` bytes; :class:`ConnectionClosedError` if the peer hangs up first."""
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
    return bytes(buf)


def read_frame(sock: socket.socket, *, io_timeout: float | None = None) -> bytes:
    """Read one frame's payload.

    The socket's own timeout applies while waiting for the first byte (an idle peer); once a frame has
    started, ``io_timeout`` (if given) bounds the rest, so a peer that stalls mid-frame cannot pin a thread.
    """
    first = recv_exact(sock, 1, mid_frame=False)
    idle_timeout = sock.gettimeout()
    if io_timeout is not None:
        sock.settimeout(io_timeout)
    try:
        header = first + recv_exact(sock, 3, mid_frame=True)
        (length,) = _LENGTH.unpack(header)
        if length > MAX_MESSAGE_SIZE:
            raise PayloadTooLargeError(length, MAX_MESSAGE_SIZE)
        return recv_exact(sock, length, mid_frame=True) if length else b""
    finally:
        if io_timeout is not None:
            sock.settimeout(idle_timeout)


def read_message(sock: socket.socket, *, io_timeout: float | None = None) -> dict[str, Any]:
    """Read and parse one JSON message frame."""
    return decode_message(read_frame(sock, io_timeout=io_timeout))
