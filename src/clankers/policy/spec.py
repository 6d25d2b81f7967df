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
from clankers.policy.records import (
    ClosedLoopRecord,
    ObservationNormalization,
    ParityProbe,
    ParityRecord,
    RecurrentState,
    StateTensor,
    check_sha256,
    check_timestamp,
)
from clankers.policy.spaces import (
    ActionSpace,
    BoxSpace,
    DictSpace,
    DiscreteSpace,
    MultiBinarySpace,
    MultiDiscreteSpace,
    ObservationSpace,
    float_token,
)

#: The newest format version this package reads and writes. Writers put it in ``clanker_policy_version``.
FORMAT_VERSION = "1.3.0"
#: Readers accept every version with this major number (and ignore keys they do not know).
SUPPORTED_MAJOR = 1

#: The nine keys of format 1.0.0, in the order writers emit them. All nine are required in every 1.x file.
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
#: Keys added by format 1.1.0 (all optional unless the policy needs them; see the spec).
KEYS_1_1 = (
    "observation_space",
    "observation_inputs",
    "observation_layout",
    "observation_normalization",
    "recurrent_state",
    "algorithm",
    "software_versions",
    "exporter",
    "export_time",
    "source_model_sha256",
    "parity",
)
#: Keys added by format 1.2.0: the deploy contract, and the flat spellings mjlab writes for its fields.
KEYS_1_2 = (
    "deploy",
    "joint_names",
    "default_joint_pos",
    "joint_stiffness",
    "joint_damping",
    "observation_names",
)
#: The flat keys (comma-separated text, as mjlab writes them) and the deploy field each repeats.
FLAT_DEPLOY_KEYS = {
    "joint_names": "joint_names",
    "default_joint_pos": "default_joint_pos",
    "joint_stiffness": "joint_stiffness",
    "joint_damping": "joint_damping",
    "observation_names": "observation_terms",
}
KNOWN_KEYS = KEYS_1_0 + KEYS_1_1 + KEYS_1_2
#: Keys whose value is JSON text.
JSON_KEYS = frozenset(
    {
        "action_space",
        "action_scale",
        "action_offset",
        "observation_space",
        "observation_inputs",
        "observation_layout",
        "observation_normalization",
        "recurrent_state",
        "software_versions",
        "exporter",
        "parity",
        "deploy",
    }
)
#: Keys whose value is the string ``true`` or ``false``.
BOOL_KEYS = frozenset({"recurrent", "deterministic_mode", "batch_inference"})

ActionTransform = Literal["none", "tanh", "clip"]
ACTION_TRANSFORMS: tuple[str, ...] = ("none", "tanh", "clip")

_VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")

__all__ = [
    "FORMAT_VERSION",
    "BoxSpace",
    "ClosedLoopRecord",
    "DeployContract",
    "DictSpace",
    "DiscreteSpace",
    "MultiBinarySpace",
    "MultiDiscreteSpace",
    "ObservationNormalization",
    "ParityProbe",
    "ParityRecord",
    "PolicyMetadata",
    "RecurrentState",
    "StateTensor",
]


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


def _format_validation_error(err: ValidationError) -> str:
    parts = []
    for item in err.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


ActionSemantics = Literal["torque", "position", "velocity"]


class ObservationTerm(BaseModel):
    """One term of the observation vector, in order: its name, number of entries and scale.

    ``scale`` multiplies the raw quantity before it enters the observation (1.0: the raw SI value): one
    number for every entry, or one per entry (a velocity command observed as ``[2, 2, 0.25]`` x
    ``[vx, vy, yaw rate]``).
    """

    model_config = ConfigDict(extra="ignore")

    name: str
    size: int
    scale: float | list[float] = 1.0

    @field_validator("size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("size must be >= 1")
        return value

    @model_validator(mode="after")
    def _one_scale_per_entry(self) -> ObservationTerm:
        if isinstance(self.scale, list) and len(self.scale) != self.size:
            raise ValueError(f"term {self.name!r} has {self.size} entries but {len(self.scale)} scales")
        return self


class DeployContract(BaseModel):
    """What a robot-side runtime needs besides the network (format 1.2, key ``deploy``).

    The action vector has one entry per name of ``joint_names``, in that order. What an entry asks:

    | ``action_semantics`` | joint command for action ``a``                                     |
    |----------------------|--------------------------------------------------------------------|
    | ``position``         | target ``q* = default_joint_pos + action_scale * a``, tracked by a PD loop with ``joint_stiffness`` (kp) and ``joint_damping`` (kd), torque clamped to ``effort_limit`` |
    | ``velocity``         | target ``v* = action_scale * a`` (clipped to ``velocity_limit``), tracked with gain ``joint_damping`` |
    | ``torque``           | torque ``effort_limit * clip(a, -1, 1)``                           |

    With ``gravity_compensation`` true (format 1.3), the joint controller also adds each joint's gravity
    (and Coriolis) torque as a feedforward inside the effort clamp, as an arm's controller does: a policy
    trained that way never learned to hold its own weight. The policy runs every ``control_dt`` seconds
    and holds its command in between. ``observation_terms`` lists what the observation vector is made
    of, in order (``observation_layout`` names every entry).
    """

    model_config = ConfigDict(extra="ignore")

    joint_names: list[str]
    action_semantics: ActionSemantics
    default_joint_pos: list[float]
    action_scale: list[float]
    joint_stiffness: list[float]
    joint_damping: list[float]
    effort_limit: list[float] | None = None
    velocity_limit: list[float | None] | None = None  # None: unlimited
    control_dt: float
    physics_dt: float | None = None
    base: Literal["fixed", "floating"] | None = None
    observation_terms: list[ObservationTerm] | None = None
    gravity_compensation: bool | None = None  # format 1.3; None: the file does not say (read as false)

    @model_validator(mode="after")
    def _consistent(self) -> DeployContract:
        n = len(self.joint_names)
        if n == 0:
            raise ValueError("joint_names is empty: name the joint of every action entry")
        if len(set(self.joint_names)) != n:
            raise ValueError("joint_names has duplicates")
        for name in ("default_joint_pos", "action_scale", "joint_stiffness", "joint_damping", "effort_limit"):
            values = getattr(self, name)
            if values is None:
                continue
            if len(values) != n:
                raise ValueError(f"{name} has {len(values)} values for {n} joints")
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f"{name} must contain finite numbers only")
        if self.velocity_limit is not None and len(self.velocity_limit) != n:
            raise ValueError(f"velocity_limit has {len(self.velocity_limit)} values for {n} joints")
        if not (math.isfinite(self.control_dt) and self.control_dt > 0):
            raise ValueError("control_dt must be a positive number of seconds")
        if self.action_semantics == "torque" and self.effort_limit is None:
            raise ValueError("torque semantics needs effort_limit (the torque of a full action)")
        return self

    def flat_keys(self) -> dict[str, str]:
        """mjlab's spellings of the same facts: comma-separated text."""
        props = {
            "joint_names": ",".join(self.joint_names),
            "default_joint_pos": ",".join(repr(float(v)) for v in self.default_joint_pos),
            "joint_stiffness": ",".join(repr(float(v)) for v in self.joint_stiffness),
            "joint_damping": ",".join(repr(float(v)) for v in self.joint_damping),
        }
        if self.observation_terms:
            props["observation_names"] = ",".join(t.name for t in self.observation_terms)
        return props

    def joint_targets(self, action: Any) -> Any:
        """The joint command for ``action`` (``[..., n_joints]``): positions, velocities or torques."""
        import numpy as np

        a = np.asarray(action, dtype=np.float64)
        if a.shape[-1:] != (len(self.joint_names),):
            raise MetadataError(
                f"action has shape {a.shape}; the deploy contract drives {len(self.joint_names)} joints"
            )
        scale = np.asarray(self.action_scale)
        if self.action_semantics == "position":
            return np.asarray(self.default_joint_pos) + scale * a
        if self.action_semantics == "velocity":
            limit = np.array([np.inf if v is None else v for v in self.velocity_limit or [None] * len(scale)])
            return np.clip(scale * a, -limit, limit)
        return np.asarray(self.effort_limit) * np.clip(a, -1.0, 1.0)


def _flat_values(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",")] if raw.strip() else []


class PolicyMetadata(BaseModel):
    """Every metadata key of the clanker policy format, typed and validated.

    Construct it directly when writing a policy file (then call :meth:`to_metadata_props`), or from a
    file's ``metadata_props`` with :meth:`from_metadata_props` when reading one. The 1.1 fields are
    optional: ``None`` means the key is absent.
    """

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    # --- format 1.0.0 ---
    clanker_policy_version: str = FORMAT_VERSION
    action_space: ActionSpace | None = None
    action_transform: ActionTransform = "none"
    action_scale: list[float] | None = None
    action_offset: list[float] | None = None
    training_framework: str | None = None
    recurrent: bool = False
    deterministic_mode: bool = False
    batch_inference: bool = True
    # --- format 1.1.0 ---
    observation_space: ObservationSpace | None = None
    observation_inputs: dict[str, str] | None = None
    observation_layout: list[str] | dict[str, list[str]] | None = None
    observation_normalization: ObservationNormalization | None = None
    recurrent_state: RecurrentState | None = None
    algorithm: str | None = None
    software_versions: dict[str, str] | None = None
    exporter: dict[str, Any] | None = None
    export_time: str | None = None
    source_model_sha256: str | None = None
    parity: ParityRecord | None = None
    # --- format 1.2.0 ---
    deploy: DeployContract | None = None
    joint_names: str | None = None
    default_joint_pos: str | None = None
    joint_stiffness: str | None = None
    joint_damping: str | None = None
    observation_names: str | None = None

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

    @field_validator("source_model_sha256")
    @classmethod
    def _sha(cls, value: str | None) -> str | None:
        return check_sha256(value)

    @field_validator("export_time")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        return check_timestamp(value)

    @model_validator(mode="after")
    def _consistent(self) -> PolicyMetadata:
        space = self.action_space
        if space is None:
            if self.action_transform == "clip":
                raise ValueError("action_transform 'clip' needs an action_space with low/high to clip to")
        else:
            if space.is_discrete and self.action_transform != "none":
                raise ValueError(f"a {space.type} action space admits only action_transform 'none'")
            if isinstance(space, BoxSpace) and space.dtype not in (None, "float16", "float32", "float64"):
                raise ValueError(f"a Box action space must have a float dtype, got {space.dtype}")
            if isinstance(space, BoxSpace) and space.image_layout is not None:
                raise ValueError("image_layout describes observations, not actions")
            for name in ("action_scale", "action_offset"):
                values = getattr(self, name)
                if values is not None and len(values) != space.size:
                    raise ValueError(
                        f"{name} has {len(values)} values but the action space has {space.size} elements"
                    )
        if self.observation_inputs is not None and not isinstance(self.observation_space, DictSpace):
            raise ValueError("observation_inputs is only meaningful with a Dict observation_space")
        if (
            isinstance(self.observation_space, DictSpace)
            and self.observation_inputs is not None
            and set(self.observation_inputs) != set(self.observation_space.spaces)
        ):
            raise ValueError(
                f"observation_inputs keys {sorted(self.observation_inputs)} differ from the "
                f"observation_space keys {sorted(self.observation_space.spaces)}"
            )
        self._check_layout()
        self._check_deploy()
        if self.recurrent_state is not None and not self.recurrent:
            raise ValueError("recurrent_state is given but recurrent is false")
        return self

    def _check_layout(self) -> None:
        layout, space = self.observation_layout, self.observation_space
        if layout is None or space is None:
            return
        if isinstance(space, DictSpace):
            if not isinstance(layout, dict):
                raise ValueError("observation_layout of a Dict observation must map keys to lists of names")
            for key, names in layout.items():
                if key not in space.spaces:
                    raise ValueError(f"observation_layout names key {key!r}, not in the observation space")
                if len(names) != space.spaces[key].size:
                    raise ValueError(
                        f"observation_layout[{key!r}] has {len(names)} names for {space.spaces[key].size} elements"
                    )
        else:
            if not isinstance(layout, list):
                raise ValueError("observation_layout of a Box observation must be a list of names")
            if len(layout) != space.size:
                raise ValueError(f"observation_layout has {len(layout)} names for {space.size} elements")

    def _check_deploy(self) -> None:
        deploy = self.deploy
        if deploy is None:
            return
        space = self.action_space
        if space is not None and (space.is_discrete or space.size != len(deploy.joint_names)):
            raise ValueError(
                f"deploy names {len(deploy.joint_names)} joints but the action space has "
                f"{'discrete actions' if space.is_discrete else f'{space.size} elements'}"
            )
        terms = deploy.observation_terms
        if terms and isinstance(self.observation_space, BoxSpace):
            total = sum(t.size for t in terms)
            if total != self.observation_space.size:
                raise ValueError(
                    f"deploy.observation_terms add up to {total} entries; the observation has "
                    f"{self.observation_space.size}"
                )
        for key, field in FLAT_DEPLOY_KEYS.items():
            raw = getattr(self, key)
            if raw is None:
                continue
            values = getattr(deploy, field)
            expected = [t.name for t in values] if field == "observation_terms" and values else values
            parts = _flat_values(raw)
            if key in ("joint_names", "observation_names"):
                same = parts == list(expected or [])
            else:
                try:
                    numbers = [float(p) for p in parts]
                except ValueError:
                    raise ValueError(f"{key} {raw!r:.80} is not comma-separated numbers") from None
                same = len(numbers) == len(expected) and all(
                    math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
                    for a, b in zip(numbers, expected, strict=True)
                )
            if not same:
                raise ValueError(f"{key} ({raw!r:.80}) differs from deploy.{field}")

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

    def minimum_version(self) -> tuple[int, int, int]:
        """The oldest format version that can express this metadata (1.0.0 unless a newer feature is used)."""
        if self.deploy is not None and self.deploy.gravity_compensation is not None:
            return (1, 3, 0)
        if any(getattr(self, key) is not None for key in KEYS_1_2):
            return (1, 2, 0)
        uses_1_1 = any(getattr(self, key) is not None for key in KEYS_1_1) or (
            self.action_space is not None and self.action_space.type != "Box"
        )
        return (1, 1, 0) if uses_1_1 else (1, 0, 0)

    # --- (de)serialisation ----------------------------------------------------------------------------

    def to_metadata_props(self) -> dict[str, str]:
        """The complete, canonical ``metadata_props`` of this metadata: every value a string.

        The nine 1.0 keys are always written (with their defaults made explicit); 1.1 and 1.2 keys only
        when set. A deploy contract also writes mjlab's flat keys (``joint_names``, ...) unless given.
        """
        if self.action_space is None:
            raise MetadataError(
                "cannot write policy metadata without action_space; pass action_space=BoxSpace(...)."
            )
        size = self.action_space.size
        props = {
            "clanker_policy_version": self.clanker_policy_version,
            "action_space": _dumps(self.action_space.to_json_obj()),
            "action_transform": self.action_transform,
            "action_scale": _dumps([float_token(v) for v in self.scale_or_default(size)]),
            "action_offset": _dumps([float_token(v) for v in self.offset_or_default(size)]),
            "training_framework": self.training_framework or "unknown",
            "recurrent": _bool_str(self.recurrent),
            "deterministic_mode": _bool_str(self.deterministic_mode),
            "batch_inference": _bool_str(self.batch_inference),
        }
        flat = self.deploy.flat_keys() if self.deploy is not None else {}
        for key in KEYS_1_1 + KEYS_1_2:
            value = getattr(self, key)
            if value is None:
                if key in flat:
                    props[key] = flat[key]
                continue
            if key == "observation_space":
                props[key] = _dumps(value.to_json_obj())
            elif isinstance(value, BaseModel):
                props[key] = _dumps(value.model_dump(mode="json", exclude_none=True))
            elif key in JSON_KEYS:
                props[key] = _dumps(value)
            else:
                props[key] = str(value)
        return props

    @classmethod
    def from_metadata_props(cls, props: Mapping[str, str]) -> PolicyMetadata:
        """Parse and validate a file's ``metadata_props`` (leniently: absent keys take their defaults).

        Raises :class:`UnsupportedVersionError` for another major version and :class:`MetadataError` for
        a value that does not parse or is not allowed. Unknown keys are ignored.
        """
        version = props.get("clanker_policy_version", "1.0.0")
        check_major(version)  # before anything else: a 2.x file may mean something else by every key
        data: dict[str, Any] = {"clanker_policy_version": version}
        for key in KNOWN_KEYS[1:]:
            if key not in props:
                continue
            raw = props[key]
            if key in JSON_KEYS:
                value = parse_json_value(key, raw)
                if key in ("action_space", "observation_space"):
                    value = _lenient_space(value)
                data[key] = value
            elif key in BOOL_KEYS:
                data[key] = parse_bool_value(key, raw, strict=False)
            else:
                data[key] = raw.strip() if isinstance(raw, str) else raw
        return cls(**data)


def _lenient_space(value: Any) -> Any:
    """Other writers sometimes omit ``"type"`` from a Box: a space with bounds and no type is a Box."""
    if isinstance(value, dict) and "type" not in value and {"low", "high"} <= set(value):
        return {**value, "type": "Box"}
    return value


def parse_json_value(key: str, raw: str, *, strict: bool = False) -> Any:
    """Parse the JSON value of ``key``. ``strict`` also refuses the non-standard NaN/Infinity tokens."""

    def _reject_constant(token: str) -> Any:
        raise ValueError(f'{token} is not JSON; write infinite bounds as the strings "inf"/"-inf"')

    try:
        if strict:
            return json.loads(raw, parse_constant=_reject_constant)
        return json.loads(raw)
    except (ValueError, TypeError, RecursionError) as err:
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
