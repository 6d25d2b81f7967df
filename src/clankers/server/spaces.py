"""Gymnasium spaces, observations and actions <-> their wire form (docs/protocol.md §3).

The wire has a closed set of space kinds (the earlier system's ``SPACE`` enum) and one observation shape,
``{"data": [float, ...]}``: a flat vector. So every observation is flattened on the server and re-shaped
on the client from the space description; the rules are here, in one place, for both sides.

Limits of the encoding, each chosen for compatibility with the earlier clients:

- ``Box`` bounds go out flat (any shape is raveled) and finite: the earlier clients parse ``low``/``high``
  as float arrays and JSON has no infinity, so ``±inf`` is sent as ``±FLOAT32_MAX`` and read back as ``±inf``.
- A ``uint8`` Box of shape ``(H, W, C)`` is an ``Image`` (HWC); it is the only kind with a binary frame.
- ``Discrete`` values go out as the index ``0..n-1`` (a space's ``start`` is added back by the server).
- A ``MultiBinary`` action is sent as a ``MultiDiscrete`` list of 0/1 (the action enum has no binary kind).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from clankers.errors import ActionError, ConfigError, ProtocolError
from clankers.server.protocol import ErrorCode, fail

#: How ``±inf`` bounds travel (the largest finite float32); anything at or beyond it reads back as infinite.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _finite(values: np.ndarray) -> list[float]:
    flat = np.asarray(values, dtype=np.float64).ravel()
    return np.clip(flat, -FLOAT32_MAX, FLOAT32_MAX).tolist()


def _unbounded(values: list[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    arr = np.where(arr >= FLOAT32_MAX, np.inf, np.where(arr <= -FLOAT32_MAX, -np.inf, arr))
    return arr.astype(np.float32)


def is_image(space: spaces.Space) -> bool:
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3


def space_to_wire(space: spaces.Space) -> dict[str, Any]:
    """Describe a Gymnasium space as a wire ``SPACE``; :class:`ConfigError` for kinds the wire lacks."""
    if is_image(space):
        h, w, c = space.shape
        return {"Image": {"height": int(h), "width": int(w), "channels": int(c)}}
    if isinstance(space, spaces.Box):
        return {"Box": {"low": _finite(space.low), "high": _finite(space.high)}}
    if isinstance(space, spaces.Discrete):
        return {"Discrete": {"n": int(space.n)}}
    if isinstance(space, spaces.MultiDiscrete):
        return {"MultiDiscrete": {"nvec": np.asarray(space.nvec).ravel().astype(int).tolist()}}
    if isinstance(space, spaces.MultiBinary):
        return {"MultiBinary": {"n": int(np.prod(space.shape))}}
    if isinstance(space, spaces.Dict):
        return {"Dict": {"spaces": {str(k): space_to_wire(s) for k, s in space.spaces.items()}}}
    raise ConfigError(
        f"the wire protocol cannot describe a {type(space).__name__} space; use Box, Discrete, "
        "MultiDiscrete, MultiBinary, an HWC uint8 image Box, or a Dict of those"
    )


def wire_to_space(wire: Any) -> spaces.Space:
    """Rebuild a Gymnasium space from a wire ``SPACE`` (the client side of :func:`space_to_wire`)."""
    if not isinstance(wire, dict) or len(wire) != 1:
        raise ProtocolError(f"invalid space description {wire!r}: expected one of Box, Discrete, ...", 101)
    ((kind, body),) = wire.items()
    try:
        if kind == "Box":
            return spaces.Box(_unbounded(body["low"]), _unbounded(body["high"]), dtype=np.float32)
        if kind == "Image":
            shape = (int(body["height"]), int(body["width"]), int(body["channels"]))
            return spaces.Box(0, 255, shape=shape, dtype=np.uint8)
        if kind == "Discrete":
            return spaces.Discrete(int(body["n"]))
        if kind == "MultiDiscrete":
            return spaces.MultiDiscrete(np.asarray(body["nvec"], dtype=np.int64))
        if kind == "MultiBinary":
            return spaces.MultiBinary(int(body["n"]))
        if kind == "Dict":
            return spaces.Dict({k: wire_to_space(v) for k, v in body["spaces"].items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"invalid {kind} space description {body!r}: {exc}", 101) from exc
    raise ProtocolError(f"unknown space kind {kind!r} in {wire!r}", 101)


def flat_size(space: spaces.Space) -> int:
    """Number of values a space's observations occupy in ``{"data": [...]}``."""
    if isinstance(space, spaces.Discrete):
        return 1
    if isinstance(space, spaces.Dict):
        return sum(flat_size(s) for s in space.spaces.values())
    return int(np.prod(space.shape))


# --- observations -----------------------------------------------------------------------------------------


def obs_to_array(space: spaces.Space, obs: Any) -> np.ndarray:
    """Flatten one observation into a 1-D array (values as the space holds them)."""
    if isinstance(space, spaces.Dict):
        parts = [obs_to_array(s, obs[k]) for k, s in space.spaces.items()]
        return np.concatenate([p.astype(np.float64) for p in parts]) if parts else np.zeros(0)
    if isinstance(space, spaces.Discrete):
        return np.asarray([int(obs) - int(space.start)])
    return np.asarray(obs).ravel()


def array_to_obs(space: spaces.Space, flat: np.ndarray) -> Any:
    """Client side: rebuild an observation of the (wire-derived) ``space`` from its flat values."""
    if isinstance(space, spaces.Dict):
        out, at = {}, 0
        for k, s in space.spaces.items():
            n = flat_size(s)
            out[k] = array_to_obs(s, flat[at : at + n])
            at += n
        return out
    if isinstance(space, spaces.Discrete):
        return np.int64(flat[0])
    return np.asarray(flat, dtype=space.dtype).reshape(space.shape)


# --- actions ----------------------------------------------------------------------------------------------


def _numbers(values: Any, context: str) -> np.ndarray:
    if not isinstance(values, list):
        raise fail(ErrorCode.INVALID_ACTION, f"{context} must be a JSON array of numbers, got {values!r:.80}")
    for i, v in enumerate(values):
        if type(v) is not float and type(v) is not int:
            raise fail(ErrorCode.TYPE_ERROR, f"{context}[{i}] must be a number, got {v!r:.40}")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except OverflowError as exc:  # an integer literal beyond float64 range, e.g. 1 followed by 400 zeros
        raise fail(ErrorCode.ACTION_INF, f"{context} contains a number too large for a float") from exc
    if not np.isfinite(arr).all():  # the common case costs one check; indices only on failure
        nan = np.flatnonzero(np.isnan(arr))
        if nan.size:
            raise fail(ErrorCode.ACTION_NAN, f"{context} contains NaN at indices {nan.tolist()}")
        inf = np.flatnonzero(np.isinf(arr))
        raise fail(ErrorCode.ACTION_INF, f"{context} contains infinity at indices {inf.tolist()}")
    return arr


def _ints(values: Any, context: str) -> np.ndarray:
    if not isinstance(values, list):
        raise fail(
            ErrorCode.INVALID_ACTION, f"{context} must be a JSON array of integers, got {values!r:.80}"
        )
    for i, v in enumerate(values):
        if type(v) is not int:
            raise fail(ErrorCode.TYPE_ERROR, f"{context}[{i}] must be an integer, got {v!r:.40}")
    return np.asarray(values, dtype=np.int64)


class ActionCodec:
    """Validates wire actions for one action space (server) and encodes actions for it (client)."""

    def __init__(self, space: spaces.Space) -> None:
        self.space = space
        if isinstance(space, spaces.Box):
            self.kind = "Continuous"
            self._low = np.asarray(space.low, dtype=np.float64).ravel()
            self._high = np.asarray(space.high, dtype=np.float64).ravel()
        elif isinstance(space, spaces.Discrete):
            self.kind = "Discrete"
        elif isinstance(space, (spaces.MultiDiscrete, spaces.MultiBinary)):
            self.kind = "MultiDiscrete"
            self._nvec = (
                np.asarray(space.nvec, dtype=np.int64).ravel()
                if isinstance(space, spaces.MultiDiscrete)
                else np.full(int(np.prod(space.shape)), 2, dtype=np.int64)
            )
        else:
            raise ConfigError(
                f"the wire protocol has no action kind for a {type(space).__name__} action space; "
                "use Box (Continuous), Discrete, MultiDiscrete or MultiBinary"
            )
        self.size = flat_size(space)

    def decode(self, wire: Any, context: str = "action") -> Any:
        """Wire ACTION -> an action of ``space``; a :class:`ProtocolError` (codes 200-207) otherwise."""
        if not isinstance(wire, dict) or len(wire) != 1:
            raise fail(
                ErrorCode.INVALID_ACTION,
                f"{context} must be an object with exactly one key, {self.kind!r} for this environment, "
                f"got {wire!r:.80}",
            )
        ((kind, value),) = wire.items()
        if kind != self.kind:
            raise fail(
                ErrorCode.INVALID_ACTION,
                f"{context} is {kind!r} but this environment's action space needs {self.kind!r}",
            )
        if self.kind == "Continuous":
            arr = _numbers(value, context)
            self._check_size(arr, context)
            outside = (arr < self._low) | (arr > self._high)
            if outside.any():
                out = np.flatnonzero(outside)
                i = int(out[0])
                raise fail(
                    ErrorCode.ACTION_OUT_OF_BOUNDS,
                    f"{context} out of bounds at index {i}: value {float(arr[i])!r}, bounds "
                    f"[{float(self._low[i])!r}, {float(self._high[i])!r}] ({out.size} value(s) outside); "
                    "clip before sending",
                )
            return arr.astype(self.space.dtype).reshape(self.space.shape)
        if self.kind == "Discrete":
            if type(value) is not int:
                raise fail(
                    ErrorCode.TYPE_ERROR, f"{context} 'Discrete' must be an integer, got {value!r:.40}"
                )
            if not 0 <= value < int(self.space.n):
                raise fail(
                    ErrorCode.ACTION_OUT_OF_BOUNDS,
                    f"{context} {value} out of bounds: Discrete actions are 0..{int(self.space.n) - 1}",
                )
            return np.int64(value + int(self.space.start))
        arr = _ints(value, context)
        self._check_size(arr, context)
        out = np.flatnonzero((arr < 0) | (arr >= self._nvec))
        if out.size:
            i = int(out[0])
            raise fail(
                ErrorCode.ACTION_OUT_OF_BOUNDS,
                f"{context} out of bounds at index {i}: value {int(arr[i])}, allowed 0..{int(self._nvec[i]) - 1}",
            )
        if isinstance(self.space, spaces.MultiBinary):
            return arr.astype(np.int8).reshape(self.space.shape)
        return (arr + np.asarray(self.space.start).ravel()).reshape(self.space.shape)

    def decode_batch(self, wires: list[Any], context: str = "actions") -> np.ndarray | list[Any]:
        """Decode one action per env; the same errors as :meth:`decode`, naming ``actions[i]``.

        ``Continuous`` batches take a vectorized path (one array, one bounds check); anything unusual
        falls back to :meth:`decode` per action, which finds and names the first bad one.
        """
        if self.kind == "Continuous" and wires:
            rows = []
            for wire in wires:
                value = wire.get("Continuous") if type(wire) is dict and len(wire) == 1 else None
                if type(value) is not list or len(value) != self.size:
                    break
                if not all(type(x) is float or type(x) is int for x in value):
                    break
                rows.append(value)
            else:
                try:
                    arr = np.array(rows, dtype=np.float64)
                except OverflowError:
                    arr = None
                if (
                    arr is not None
                    and np.isfinite(arr).all()
                    and not ((arr < self._low) | (arr > self._high)).any()
                ):
                    return arr.astype(self.space.dtype).reshape(len(rows), *self.space.shape)
        return [self.decode(w, f"{context}[{i}]") for i, w in enumerate(wires)]

    def _check_size(self, arr: np.ndarray, context: str) -> None:
        if arr.size != self.size:
            raise fail(
                ErrorCode.INVALID_ACTION,
                f"{context} has {arr.size} value(s) but the action space needs {self.size}",
            )

    def encode(self, action: Any) -> dict[str, Any]:
        """Client side: a Python/numpy action -> wire ACTION (the server validates shape and bounds)."""
        if self.kind == "Continuous":
            values = np.asarray(action, dtype=np.float64).ravel()
            if not np.isfinite(values).all():
                # JSON cannot carry NaN/inf; strict servers would reject the whole frame as invalid JSON.
                raise ActionError(f"action contains NaN or inf: {values.tolist()}; send finite values")
            return {"Continuous": values.tolist()}
        if self.kind == "Discrete":
            return {"Discrete": int(np.asarray(action).item()) - int(self.space.start)}
        arr = np.asarray(action, dtype=np.int64).ravel()
        if isinstance(self.space, spaces.MultiDiscrete):
            arr = arr - np.asarray(self.space.start).ravel()
        return {"MultiDiscrete": arr.tolist()}


def jsonable(value: Any, depth: int = 0) -> Any:
    """Best-effort JSON form of an env ``info`` value; unrepresentable values are dropped (``None``)."""
    if depth > 8:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        if value.size > 4096 or value.dtype.kind not in "biuf":
            return None
        return jsonable(value.tolist(), depth + 1)
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value[:4096]]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            j = jsonable(v, depth + 1)
            if j is not None or v is None:
                out[str(k)] = j
        return out
    return None
