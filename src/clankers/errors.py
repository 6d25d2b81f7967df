"""The one exception hierarchy of clankers.

Every error a user can provoke with bad input is a subclass of :class:`ClankersError` and its message
names both the problem and the fix. Subsystems own a branch of the tree:

- :class:`ConfigError` for invalid configuration values (simulation, tasks, training);
- :class:`RobotDescriptionError` for URDF files MuJoCo cannot use;
- :class:`ActionError` for actions that do not fit an environment's action space;
- :class:`PolicyError` and its children for clanker policy files (the deployment contract);
- :class:`ExportError` for models the exporter cannot turn into a policy file;
- :class:`ProtocolError` for the clankers wire protocol;
- :class:`FileAccessError` for paths that cannot be read or written.

This module imports nothing from the package, so every subpackage (``policy/`` included, which must stay
free of the rest of clankers) may depend on it.
"""

from __future__ import annotations


class ClankersError(Exception):
    """Base class of every error clankers raises on purpose.

    ``hint`` (optional, keyword-only) is the fix in one sentence when the message itself does not end with
    it; the CLI prints it on its own line (``hint: ...``) and in the ``"hint"`` field of JSON errors.
    """

    hint: str | None = None

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        if hint is not None:
            self.hint = hint


class ConfigError(ClankersError, ValueError):
    """A configuration value is invalid (wrong type, out of range, inconsistent with another value)."""


class RobotDescriptionError(ClankersError):
    """A robot description (URDF) is missing, malformed, or uses something clankers cannot simulate."""


class ActionError(ClankersError, ValueError):
    """An action does not fit the action space: wrong shape, NaN or infinite values."""


class SimulationError(ClankersError, RuntimeError):
    """The physics became invalid (MuJoCo warnings such as NaN accelerations)."""


class FileAccessError(ClankersError, OSError):
    """A file or folder the user named cannot be read or written (missing folder, no permission, full disk).

    The CLI turns any ``OSError`` a command meets into one of these, so a bad output path ends in one
    ``error:`` line naming the path, not a traceback.
    """


class RenderingError(ClankersError, RuntimeError):
    """MuJoCo's offscreen renderer cannot run here (no OpenGL backend: set MUJOCO_GL, install EGL)."""


# --- the policy format ---------------------------------------------------------------------------------


class PolicyError(ClankersError):
    """A clanker policy file cannot be loaded or used."""


class PolicyFileNotFoundError(PolicyError, FileNotFoundError):
    """The policy file does not exist."""


class NotAnOnnxModelError(PolicyError):
    """The file exists but is not a readable ONNX model (truncated, random bytes, another format)."""


class PolicyTensorError(PolicyError):
    """The graph lacks a required input/output, or a tensor has a dtype or shape the format forbids."""


class MetadataError(PolicyError):
    """A metadata value is missing where required, not parsable, or not allowed by the format."""


class UnsupportedVersionError(MetadataError):
    """The file declares a format version whose major number this reader does not implement."""


class ObservationError(PolicyError, ValueError):
    """An observation given to a policy has the wrong shape or dtype, or contains NaN or inf."""


class ObservationLayoutError(PolicyError):
    """The policy's declared observation layout (which quantity each index is) differs from the caller's."""


class RecurrentStateError(PolicyError):
    """Recurrent state used inconsistently: a batch-size change without episode starts, or a bad state."""


# --- export -------------------------------------------------------------------------------------------


class ExportError(ClankersError):
    """A trained model cannot be exported to a clanker policy file."""


class UnsupportedModelError(ExportError):
    """The model uses an algorithm, policy or space the exporter does not support (yet)."""


class ParityError(ExportError):
    """The exported graph does not reproduce the source model within tolerance; nothing was written."""


# --- the wire protocol --------------------------------------------------------------------------------


class ProtocolError(ClankersError):
    """A wire-protocol message is malformed or not allowed; ``code`` is the protocol's error code."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


class ConnectionClosedError(ProtocolError, ConnectionError):
    """The peer closed the connection, between frames or in the middle of one (``mid_frame``)."""

    def __init__(self, message: str = "connection closed by peer", *, mid_frame: bool = False) -> None:
        super().__init__(message, code=400)
        self.mid_frame = mid_frame


class PayloadTooLargeError(ProtocolError):
    """A frame announced or attempted a payload over the protocol's 16 MiB limit (code 104)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"payload too large: {size} bytes (max {limit}); send less per message "
            "(fewer envs per batch, or binary observation frames)",
            code=104,
        )
        self.size = size


class ServerError(ProtocolError):
    """The server answered a request with an error response; ``code`` is the server's error code."""


class RemoteConnectionError(ClankersError, ConnectionError):
    """A clankers wire-protocol server cannot be reached; the message names the address that failed."""


# --- distributed (Ray) ----------------------------------------------------------------------------------


class WorkerError(ClankersError, RuntimeError):
    """A Ray worker died or stopped answering and could not be replaced; names the worker and what was lost."""
