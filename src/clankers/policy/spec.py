"""The clanker policy format's metadata, as validated Python objects.

A policy file carries its contract in ONNX ``metadata_props``: string keys mapped to string values. This
module turns those strings into a :class:`PolicyMetadata` (reading) and back (writing), so the exporter,
the runtime and the checker share one definition of every key. ``docs/policy-format.md`` is the normative
text; this module is its executable form.

Reading is lenient where the spec gives a default (a file written by another tool may omit optional keys
or the ``dtype`` of a space); writing always emits the complete, canonical form. The checker
(:mod:`clankers.policy.check`) is where strictness lives.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from clankers.errors import MetadataError, UnsupportedVersionError

#: The newest format version this package reads and writes. Writers put it in ``clanker_policy_version``.
FORMAT_VERSION = "1.0.0"
#: Readers accept every version with this major number (and ignore keys they do not know).
SUPPORTED_MAJOR = 1

#: The nine keys of format 1.0.0, in the order writers emit them.
KEYS_1_0 = (
    "clanker_policy_version",
    "action_space",
    "action_transform",
    "action_scale",
    "action_offset",
    "training_framework",
    "recurrent",
    "deterministic_mode",
    "batch_inference",
)
#: Keys whose value is JSON text.
JSON_KEYS = frozenset({"action_space", "action_scale", "action_offset"})
#: Keys whose value is the string ``true`` or ``false``.
BOOL_KEYS = frozenset({"recurrent", "deterministic_mode", "batch_inference"})

ActionTransform = Literal["none", "tanh", "clip"]
ACTION_TRANSFORMS: tuple[str, ...] = ("none", "tanh", "clip")
#: dtypes a Box space may declare (numpy names).
BOX_DTYPES = frozenset({"float16", "float32", "float64"})

_VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


def parse_version(text: str) -> tuple[int, int, int]:
    """Split a ``MAJOR.MINOR.PATCH`` version; raise :class:`MetadataError` for anything else."""
    match = _VERSION_RE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise MetadataError(
            f"clanker_policy_version {text!r} is not a MAJOR.MINOR.PATCH version; "
            f"write it like {FORMAT_VERSION!r}."
        )
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def check_major(text: str) -> tuple[int, int, int]:
    """Parse a version and refuse majors this reader does not implement (minor/patch may be newer)."""
    version = parse_version(text)
    if version[0] != SUPPORTED_MAJOR:
        raise UnsupportedVersionError(
            f"this file declares clanker policy format {text}, but this reader implements major version "
            f"{SUPPORTED_MAJOR} ({FORMAT_VERSION}); load it with a clankers release that supports "
            f"{version[0]}.x, or re-export the policy with this one."
        )
    return version


def _float_token(value: float) -> float | str:
    """JSON has no infinity: the format writes unbounded limits as the strings "inf" and "-inf"."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


class BoxSpace(BaseModel):
    """A continuous (``Box``) space: ``shape``, element ``dtype`` and per-element ``low``/``high``.

    ``low``/``high`` list every element in row-major order, or hold a single value for all of them.
    ``dtype`` may be omitted by other writers; readers then take the tensor's dtype.
    """

    model_config = ConfigDict(extra="ignore")

    type: Literal["Box"] = "Box"
    shape: list[int]
    dtype: str | None = None
    low: list[float]
    high: list[float]

    @property
    def size(self) -> int:
        """Number of elements (product of ``shape``)."""
        return math.prod(self.shape)

    @field_validator("shape")
    @classmethod
    def _positive_shape(cls, shape: list[int]) -> list[int]:
        if not shape or any(d < 1 for d in shape):
            raise ValueError(f"shape {shape} must be a non-empty list of positive integers")
        return shape

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, dtype: str | None) -> str | None:
        if dtype is not None and dtype not in BOX_DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one of {sorted(BOX_DTYPES)}")
        return dtype

    @model_validator(mode="after")
    def _consistent_bounds(self) -> BoxSpace:
        for name, bound in (("low", self.low), ("high", self.high)):
            if len(bound) not in (1, self.size):
                raise ValueError(
                    f"{name} has {len(bound)} values; shape {self.shape} needs {self.size} (or 1 for all)"
                )
            if any(math.isnan(v) for v in bound):
                raise ValueError(f"{name} contains NaN; use a number, 'inf' or '-inf'")
        lows = self.low * self.size if len(self.low) == 1 else self.low
        highs = self.high * self.size if len(self.high) == 1 else self.high
        bad = [i for i, (lo, hi) in enumerate(zip(lows, highs, strict=True)) if lo > hi]
        if bad:
            raise ValueError(f"low > high at element(s) {bad[:5]}")
        return self

    def bounds(self) -> tuple[list[float], list[float]]:
        """``(low, high)`` expanded to one value per element."""
        lows = self.low * self.size if len(self.low) == 1 else list(self.low)
        highs = self.high * self.size if len(self.high) == 1 else list(self.high)
        return lows, highs

    def to_json_obj(self) -> dict[str, Any]:
        """The canonical JSON object (infinite bounds as "inf"/"-inf" strings; dtype always present)."""
        obj: dict[str, Any] = {"type": self.type, "shape": list(self.shape)}
        if self.dtype is not None:
            obj["dtype"] = self.dtype
        obj["low"] = [_float_token(v) for v in self.low]
        obj["high"] = [_float_token(v) for v in self.high]
        return obj


def _format_validation_error(err: ValidationError) -> str:
    parts = []
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "metadata"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


class PolicyMetadata(BaseModel):
    """Every metadata key of the clanker policy format, typed and validated.

    Construct it directly when writing a policy file (then call :meth:`to_metadata_props`), or from a
    file's ``metadata_props`` with :meth:`from_metadata_props` when reading one.
    """

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    clanker_policy_version: str = FORMAT_VERSION
    action_space: BoxSpace | None = None
    action_transform: ActionTransform = "none"
    action_scale: list[float] | None = None
    action_offset: list[float] | None = None
    training_framework: str | None = None
    recurrent: bool = False
    deterministic_mode: bool = False
    batch_inference: bool = True

    def __init__(self, **data: Any) -> None:
        # Raise the package's typed error instead of pydantic's, so callers catch one hierarchy.
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise MetadataError(f"invalid policy metadata: {_format_validation_error(err)}") from err

    @field_validator("clanker_policy_version")
    @classmethod
    def _supported_version(cls, version: str) -> str:
        check_major(version)
        return version.strip()

    @field_validator("action_scale", "action_offset")
    @classmethod
    def _finite_affine(cls, values: list[float] | None) -> list[float] | None:
        if values is not None and not all(math.isfinite(v) for v in values):
            raise ValueError("must contain finite numbers only")
        return values

    @model_validator(mode="after")
    def _affine_matches_space(self) -> PolicyMetadata:
        if self.action_space is None:
            if self.action_transform == "clip":
                raise ValueError("action_transform 'clip' needs an action_space with low/high to clip to")
            return self
        size = self.action_space.size
        for name in ("action_scale", "action_offset"):
            values = getattr(self, name)
            if values is not None and len(values) != size:
                raise ValueError(f"{name} has {len(values)} values but the action space has {size} elements")
        return self

    # --- derived values ---------------------------------------------------------------------------------

    @property
    def version(self) -> tuple[int, int, int]:
        """The declared format version as ``(major, minor, patch)``."""
        return parse_version(self.clanker_policy_version)

    def scale_or_default(self, size: int) -> list[float]:
        """``action_scale``, or ``size`` ones when the file does not say (the format's default)."""
        return list(self.action_scale) if self.action_scale is not None else [1.0] * size

    def offset_or_default(self, size: int) -> list[float]:
        """``action_offset``, or ``size`` zeros when the file does not say (the format's default)."""
        return list(self.action_offset) if self.action_offset is not None else [0.0] * size

    # --- (de)serialisation ----------------------------------------------------------------------------

    def to_metadata_props(self) -> dict[str, str]:
        """The complete, canonical ``metadata_props`` of this metadata: every value a string.

        Keys the format defines a default for are written explicitly (a conforming file is complete).
        """
        if self.action_space is None:
            raise MetadataError(
                "cannot write policy metadata without action_space; pass action_space=BoxSpace(...)."
            )
        size = self.action_space.size
        return {
            "clanker_policy_version": self.clanker_policy_version,
            "action_space": _dumps(self.action_space.to_json_obj()),
            "action_transform": self.action_transform,
            "action_scale": _dumps([_float_token(v) for v in self.scale_or_default(size)]),
            "action_offset": _dumps([_float_token(v) for v in self.offset_or_default(size)]),
            "training_framework": self.training_framework or "unknown",
            "recurrent": _bool_str(self.recurrent),
            "deterministic_mode": _bool_str(self.deterministic_mode),
            "batch_inference": _bool_str(self.batch_inference),
        }

    @classmethod
    def from_metadata_props(cls, props: Mapping[str, str]) -> PolicyMetadata:
        """Parse and validate a file's ``metadata_props`` (leniently: absent keys take their defaults).

        Raises :class:`UnsupportedVersionError` for another major version and :class:`MetadataError` for
        a value that does not parse or is not allowed. Unknown keys are ignored.
        """
        version = props.get("clanker_policy_version", "1.0.0")
        check_major(version)  # before anything else: a 2.x file may mean something else by every key
        data: dict[str, Any] = {"clanker_policy_version": version}
        for key in KEYS_1_0[1:]:
            if key not in props:
                continue
            raw = props[key]
            if key in JSON_KEYS:
                data[key] = parse_json_value(key, raw)
            elif key in BOOL_KEYS:
                data[key] = parse_bool_value(key, raw, strict=False)
            else:
                data[key] = raw.strip() if isinstance(raw, str) else raw
        return cls(**data)


def parse_json_value(key: str, raw: str, *, strict: bool = False) -> Any:
    """Parse the JSON value of ``key``. ``strict`` also refuses the non-standard NaN/Infinity tokens."""

    def _reject_constant(token: str) -> Any:
        raise ValueError(f'{token} is not JSON; write infinite bounds as the strings "inf"/"-inf"')

    try:
        if strict:
            return json.loads(raw, parse_constant=_reject_constant)
        return json.loads(raw)
    except (ValueError, TypeError) as err:
        raise MetadataError(
            f"metadata key {key!r} is not valid JSON ({err}); value was {raw!r:.200}"
        ) from err


def parse_bool_value(key: str, raw: str, *, strict: bool = False) -> bool:
    """Parse ``true``/``false``; non-strict reading also accepts other letter cases."""
    text = raw if strict else raw.strip().lower()
    if text == "true":
        return True
    if text == "false":
        return False
    raise MetadataError(f"metadata key {key!r} must be the string 'true' or 'false', got {raw!r:.50}")


def _bool_str(value: bool) -> str:
    return "true" if value else "false"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(", ", ": "), allow_nan=False)
