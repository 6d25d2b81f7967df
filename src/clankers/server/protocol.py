"""Protocol constants, error codes, version and capability negotiation, and request validation.

Nothing here touches a socket or an environment, so every rule of ``docs/protocol.md`` that is about
messages alone (which fields, which types, which versions) is checked here and unit-tested in isolation.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import Any

from clankers.errors import ProtocolError

#: The newest protocol version this implementation speaks.
PROTOCOL_VERSION = "1.3.0"
#: The oldest minor version of major 1 we serve (1.0.0: JSON observations only).
MIN_MINOR = 0

#: Capabilities the server implements, with the protocol version (major, minor) each first appeared in.
SERVER_CAPABILITIES: dict[str, tuple[int, int]] = {
    "batch_step": (1, 0),  # batch_reset / batch_step requests (the earlier VecEnv clients ask for this)
    "binary_obs": (1, 1),  # image observations as a raw HWC uint8 frame after the JSON response
    "binary_batch": (1, 2),  # batched observations as one header + flat payload frame
    "auth": (1, 3),  # the server checked the client's token (docs/protocol.md §12)
}


class ErrorCode(IntEnum):
    """Numeric codes carried in ``{"type": "error", "code": ...}``; the earlier system's table."""

    VERSION_MISMATCH = 100
    INVALID_MESSAGE = 101
    UNKNOWN_TYPE = 102
    UNEXPECTED_MESSAGE = 103
    PAYLOAD_TOO_LARGE = 104
    CAPABILITY_UNSUPPORTED = 106
    UNAUTHORIZED = 107
    SERVER_BUSY = 108
    INVALID_ACTION = 200
    ACTION_OUT_OF_BOUNDS = 201
    MISSING_FIELD = 204
    TYPE_ERROR = 205
    ACTION_NAN = 206
    ACTION_INF = 207
    NOT_INITIALIZED = 300
    NOT_RESET = 301
    UNKNOWN_ENV_ID = 303
    SIMULATION_ERROR = 304
    INTERNAL_ERROR = 400


#: Errors after which the server closes the connection (besides 104 for an oversized request frame).
ENDS_SESSION = frozenset({ErrorCode.UNAUTHORIZED, ErrorCode.SERVER_BUSY})


def fail(code: ErrorCode, message: str) -> ProtocolError:
    """Build the typed error the session turns into an error response."""
    return ProtocolError(message, int(code))


def error_message(code: int, message: str) -> dict[str, Any]:
    """The error response; ``code`` is our addition, which the earlier clients ignore."""
    return {"type": "error", "message": message, "code": int(code)}


class State(str, Enum):
    """Session states of docs/protocol.md §4 (the names appear in error messages)."""

    CONNECTED = "connected"
    READY = "ready"
    EPISODE_RUNNING = "episode_running"


#: Requests each state accepts (docs/protocol.md §5; the server enforces exactly this table).
ALLOWED: dict[State, tuple[str, ...]] = {
    State.CONNECTED: ("init",),
    State.READY: ("reset", "batch_reset", "spaces", "ping", "close"),
    State.EPISODE_RUNNING: ("step", "batch_step", "reset", "batch_reset", "spaces", "ping", "close"),
}

REQUEST_TYPES = frozenset({"init", "spaces", "reset", "step", "batch_reset", "batch_step", "ping", "close"})

#: Requests that use the environments: the ones that count as activity when a full server looks for an
#: idle session to reclaim (a client that only pings is idle).
WORK_REQUESTS = frozenset({"init", "reset", "step", "batch_reset", "batch_step"})


# --- versions --------------------------------------------------------------------------------------------


def parse_version(text: Any) -> tuple[int, int, int]:
    """``"MAJOR.MINOR.PATCH"`` -> ints; anything else is an invalid message (101)."""
    if not isinstance(text, str):
        raise fail(ErrorCode.TYPE_ERROR, f"'protocol_version' must be a string like \"1.2.0\", got {text!r}")
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() and p.isascii() for p in parts):
        raise fail(
            ErrorCode.INVALID_MESSAGE,
            f"invalid protocol_version {text!r}: expected MAJOR.MINOR.PATCH with non-negative integers",
        )
    major, minor, patch = (int(p) for p in parts)
    return major, minor, patch


def negotiate_version(client: str, server: str = PROTOCOL_VERSION) -> tuple[int, int, int]:
    """Same major or error 100; then the lower minor and the server's patch."""
    c_major, c_minor, _ = parse_version(client)
    s_major, s_minor, s_patch = parse_version(server)
    if c_major != s_major:
        raise fail(
            ErrorCode.VERSION_MISMATCH,
            f"version mismatch: client speaks {client}, server speaks {server}; "
            f"use a client for protocol {s_major}.x",
        )
    return s_major, min(c_minor, s_minor), s_patch


def format_version(version: tuple[int, int, int]) -> str:
    return ".".join(str(v) for v in version)


def negotiate_capabilities(requested: dict[str, bool], version: tuple[int, int, int]) -> dict[str, bool]:
    """Answer every key the client sent: true only if it asked (true) and the server has it at ``version``.

    A capability newer than the negotiated version is off, so a 1.0.0 client that asks for ``binary_obs``
    (the earlier client always does) keeps receiving plain JSON observations.
    """
    return {
        key: bool(wanted)
        and key in SERVER_CAPABILITIES
        and (version[0], version[1]) >= SERVER_CAPABILITIES[key]
        for key, wanted in requested.items()
    }


# --- field access with typed errors ----------------------------------------------------------------------

_MISSING = object()


def field(message: dict[str, Any], name: str, *, required: bool = True, default: Any = None) -> Any:
    value = message.get(name, _MISSING)
    if value is _MISSING:
        if required:
            raise fail(
                ErrorCode.MISSING_FIELD,
                f"'{message.get('type')}' message is missing required field '{name}'",
            )
        return default
    return value


def _type_error(context: str, expected: str, value: Any) -> ProtocolError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return fail(ErrorCode.TYPE_ERROR, f"{context} must be {expected}, got {type(value).__name__} {shown}")


def as_str(value: Any, context: str) -> str:
    if not isinstance(value, str):
        raise _type_error(context, "a string", value)
    return value


def as_int(value: Any, context: str, *, lo: int | None = None, hi: int | None = None) -> int:
    # JSON true/false are not integers here (Python's bool is an int subclass).
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(context, "an integer", value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _type_error(context, f"an integer in [{lo}, {hi}]", value)
    return value


def as_bool(value: Any, context: str) -> bool:
    if not isinstance(value, bool):
        raise _type_error(context, "true or false", value)
    return value


def as_list(value: Any, context: str) -> list[Any]:
    if not isinstance(value, list):
        raise _type_error(context, "a JSON array", value)
    return value


SEED_MAX = 2**64 - 1


def as_seed(value: Any, context: str) -> int | None:
    """Seeds are null or an unsigned 64-bit integer (the earlier system's ``Option<u64>``)."""
    if value is None:
        return None
    return as_int(value, context, lo=0, hi=SEED_MAX)


def parse_capabilities(value: Any) -> dict[str, bool]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _type_error("'capabilities'", "an object of name -> true/false", value)
    return {as_str(k, "capability name"): as_bool(v, f"capability '{k}'") for k, v in value.items()}
