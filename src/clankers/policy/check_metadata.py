"""Strict metadata checks (level *standard*): every key present where required, in canonical form, consistent.

The reader (:meth:`PolicyMetadata.from_metadata_props`) forgives what it can; this module reports each of
those forgivenesses as a finding, so a writer learns exactly what to fix.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import TypeAdapter, ValidationError

from clankers.errors import ClankersError
from clankers.policy.graph import ACTION_NAMES, TensorInfo
from clankers.policy.report import CheckReport
from clankers.policy.spaces import BoxSpace, DictSpace
from clankers.policy.spec import (
    ACTION_TRANSFORMS,
    BOOL_KEYS,
    FORMAT_VERSION,
    JSON_KEYS,
    KEYS_1_0,
    KEYS_1_1,
    KEYS_1_2,
    KNOWN_KEYS,
    PolicyMetadata,
    check_major,
    parse_bool_value,
    parse_json_value,
    parse_version,
)

#: 1.1 keys a complete export SHOULD write (missing ones are warnings).
RECOMMENDED_1_1 = ("algorithm", "software_versions", "exporter", "export_time", "source_model_sha256")
_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def _adapter(key: str) -> TypeAdapter[Any]:
    if key not in _ADAPTERS:
        _ADAPTERS[key] = TypeAdapter(PolicyMetadata.model_fields[key].annotation)
    return _ADAPTERS[key]


def _short(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in err.errors()[:3])


def _action_output(report: CheckReport) -> TensorInfo | None:
    return next((t for n in ACTION_NAMES for t in report.outputs if t.name == n), None)


def _feature_shape(info: TensorInfo | None, min_rank: int = 2) -> tuple[int, ...] | None:
    if info is None or len(info.shape) < min_rank:
        return None
    dims = info.shape[1:]
    return tuple(int(d) for d in dims) if all(isinstance(d, int) and d > 0 for d in dims) else None  # type: ignore[arg-type]


def _action_size(props: dict[str, str], out: TensorInfo | None) -> int | None:
    """Elements per action, from the output tensor (or, failing that, the declared action space)."""
    try:
        space = _adapter("action_space").validate_python(
            parse_json_value("action_space", props["action_space"])
        )
        return int(space.size)
    except (KeyError, ClankersError, ValidationError, ValueError, TypeError):
        shape = _feature_shape(out)
        return math.prod(shape) if shape is not None else None


def check_metadata_strict(report: CheckReport) -> None:
    """Add standard-level findings for every metadata key (present, canonical, consistent with the graph)."""
    props = report.metadata
    values: dict[str, Any] = {}
    out = _action_output(report)

    def ok(key: str, message: str = "ok") -> None:
        report.add("standard", True, f"metadata {key}", message)

    def bad(key: str, message: str, *, warning: bool = False) -> None:
        report.add("standard", False, f"metadata {key}", message, warning=warning)

    declared: tuple[int, int, int] | None = None
    for key in KEYS_1_0:
        if key not in props:
            bad(key, "required key is absent")

    # --- clanker_policy_version --------------------------------------------------------------------------
    raw_version = props.get("clanker_policy_version")
    if raw_version is not None:
        try:
            declared = check_major(raw_version)
            if raw_version != raw_version.strip():
                raise ValueError("surrounding whitespace is not allowed")
            ok("clanker_policy_version")
        except (ClankersError, ValueError) as err:
            bad("clanker_policy_version", str(err))
            declared = None

    # --- every other known key: strict JSON / boolean / string, then the field's own validation ----------
    for key in KNOWN_KEYS[1:]:
        if key not in props:
            continue
        raw = props[key]
        try:
            if key in JSON_KEYS:
                obj = parse_json_value(key, raw, strict=True)
            elif key in BOOL_KEYS:
                obj = parse_bool_value(key, raw, strict=True)
            else:
                obj = raw
                if key == "action_transform" and raw not in ACTION_TRANSFORMS:
                    raise ValueError(f"{raw!r} is not one of {list(ACTION_TRANSFORMS)}")
                if not raw.strip():
                    raise ValueError("must be a non-empty name (e.g. 'stable-baselines3')")
            if key in ("action_space", "observation_space"):
                _strict_space_object(key, obj)
            if key in ("action_scale", "action_offset") and not (
                isinstance(obj, list)
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj)
            ):
                raise ValueError("must be a JSON list of numbers")
            if key in ("action_scale", "action_offset"):
                size = _action_size(props, out)
                if size is not None and len(obj) != size:
                    raise ValueError(f"has {len(obj)} values; the action has {size}")
            values[key] = _adapter(key).validate_python(obj)
        except ValidationError as err:
            bad(key, _short(err))
            continue
        except (ClankersError, ValueError, TypeError) as err:
            bad(key, str(err))
            continue
        ok(key)

    # --- cross-key consistency (as the reader validates it) ------------------------------------------------
    try:
        meta = PolicyMetadata(**values)
    except ClankersError as err:
        report.add("standard", False, "metadata", f"keys are inconsistent: {err}")
        return
    _check_against_graph(report, meta, out)

    # --- version: features need the version that defines them; 1.1 requirements ----------------------------
    if declared is not None:
        needed = meta.minimum_version()
        if declared < needed:
            bad(
                "clanker_policy_version",
                f"declares {raw_version} but uses format {'.'.join(map(str, needed))} keys or space types "
                f"(e.g. {', '.join(k for k in KEYS_1_1 + KEYS_1_2 if k in props) or 'a non-Box action space'})",
            )
        if declared > parse_version(FORMAT_VERSION):
            bad(
                "clanker_policy_version",
                f"newer than this checker ({FORMAT_VERSION}); keys it does not know were not checked",
                warning=True,
            )
        if declared >= (1, 1, 0):
            if "observation_space" not in props:
                bad(
                    "observation_space",
                    "recommended from format 1.1.0 on (bounds, image layout)",
                    warning=True,
                )
            for key in RECOMMENDED_1_1:
                if key not in props:
                    bad(key, "recommended from format 1.1.0 on (provenance)", warning=True)
            if "observation_layout" not in props:
                bad(
                    "observation_layout",
                    "recommended: without it, joint-order mistakes cannot be caught at load time",
                    warning=True,
                )
    if "observation_space" not in props and any(t.dtype == "uint8" for t in report.inputs):
        bad(
            "observation_space",
            "required: the graph takes uint8 image input; declare the Box with image_layout",
        )
    if meta.recurrent and meta.recurrent_state is None:
        bad("recurrent_state", "required when recurrent is true: name the state tensors")
    if meta.action_transform in ("none", "clip"):
        for key, neutral in (("action_scale", 1.0), ("action_offset", 0.0)):
            if key in values and any(v != neutral for v in values[key]):
                bad(
                    key,
                    f"is ignored with action_transform {meta.action_transform!r}; write all {neutral}",
                    warning=True,
                )
    for key in sorted(k for k in props if k not in KNOWN_KEYS):
        bad(key, "not a key of this format version; ignored", warning=True)


def _strict_space_object(key: str, obj: Any) -> None:
    """What the lenient reader fills in and the checker insists on."""
    if not isinstance(obj, dict):
        raise ValueError("must be a JSON object")
    if "type" not in obj:
        raise ValueError('"type" is required (e.g. "Box")')
    subs = (
        obj.get("spaces", {}).values()
        if obj.get("type") == "Dict" and isinstance(obj.get("spaces"), dict)
        else [obj]
    )
    for sub in subs:
        if isinstance(sub, dict) and sub.get("type") == "Box" and "dtype" not in sub:
            raise ValueError('dtype is required in every Box (e.g. "float32")')


def _check_against_graph(report: CheckReport, meta: PolicyMetadata, out: TensorInfo | None) -> None:
    """Metadata that disagrees with the tensors it describes."""
    space = meta.action_space
    if space is not None and out is not None:
        min_rank = 1 if space.is_discrete else 2
        shape = _feature_shape(out, min_rank)
        want = space.sample_shape
        if shape is not None and shape != want and not (want == () and shape == (1,)):
            report.add(
                "standard",
                False,
                "metadata action_space",
                f"{space.type} per-sample shape {list(want)} differs from the action output's {list(shape)}",
            )
        expected_dtype = (
            "int64" if space.is_discrete else (space.dtype if isinstance(space, BoxSpace) else None)
        )
        if expected_dtype is not None and out.dtype != expected_dtype:
            report.add(
                "standard",
                False,
                "metadata action_space",
                f"dtype {expected_dtype} differs from the action output's {out.dtype}",
            )
    elif out is not None and meta.action_scale is not None:
        shape = _feature_shape(out)
        if shape is not None and len(meta.action_scale) != math.prod(shape):
            report.add(
                "standard",
                False,
                "metadata action_scale",
                f"has {len(meta.action_scale)} values; the action has {math.prod(shape)}",
            )
    if "batch_inference" in report.metadata and out is not None:
        dynamic = bool(out.shape) and not isinstance(out.shape[0], int)
        if meta.batch_inference != dynamic:
            report.add(
                "standard",
                False,
                "metadata batch_inference",
                f"says {str(meta.batch_inference).lower()} but the graph's batch axis is {'dynamic' if dynamic else 'fixed at 1'}",
            )
    obs = meta.observation_space
    if isinstance(obs, DictSpace):
        names = meta.observation_inputs or {k: f"obs.{k}" for k in obs.spaces}
        have = {t.name for t in report.inputs}
        missing = [n for n in names.values() if n not in have]
        if missing:
            report.add(
                "standard", False, "metadata observation_inputs", f"names inputs {missing} the graph lacks"
            )
