"""``check_policy``: the strict half of the format. Says which conformance level a file reaches, and why not higher.

The runtime reads leniently (defaults for absent keys, alternative tensor names) so that files from other
tools load; the checker holds files to the letter of ``docs/policy-format.md``. Every requirement becomes
one :class:`Finding` tagged with the conformance level it belongs to:

- **basic**: the runtime can load and run it (named tensors, float dtypes, known feature dims, readable
  metadata, finite output at batch 1);
- **standard**: complete and canonical: every required key present and well formed, canonical tensor
  names, float32, a dynamic batch that really is batch-independent;
- **verified**: a parity record is present and the checker reproduces it (format 1.1).

A file reaches a level when every finding at that level and below passes. Warnings never block a level.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from clankers.errors import ClankersError, PolicyFileNotFoundError
from clankers.policy.graph import (
    ACTION_NAMES,
    OBS_NAMES,
    TensorInfo,
    graph_inputs,
    graph_outputs,
    metadata_dict,
    parse_model_bytes,
)
from clankers.policy.runtime import OnnxPolicy
from clankers.policy.spec import (
    ACTION_TRANSFORMS,
    BOOL_KEYS,
    FORMAT_VERSION,
    KEYS_1_0,
    BoxSpace,
    PolicyMetadata,
    check_major,
    parse_bool_value,
    parse_json_value,
    parse_version,
)

#: Conformance levels, lowest first. "none" means not even loadable.
LEVELS = ("none", "basic", "standard", "verified")


@dataclass
class Finding:
    """One requirement of the format and whether the file meets it."""

    level: str  # the conformance level this requirement belongs to (basic/standard/verified)
    ok: bool
    subject: str  # what was checked, e.g. "input obs" or "metadata action_scale"
    message: str
    warning: bool = False  # advice only: never blocks a level


@dataclass
class CheckReport:
    """What ``check_policy`` found: the tensors, every metadata key, and a verdict per requirement."""

    path: str
    checked_against: str = FORMAT_VERSION
    declared_version: str | None = None
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    # --- verdict -----------------------------------------------------------------------------------------

    def add(self, level: str, ok: bool, subject: str, message: str, *, warning: bool = False) -> bool:
        self.findings.append(Finding(level, bool(ok), subject, message, warning))
        return bool(ok)

    @property
    def level(self) -> str:
        """The highest conformance level whose requirements (and all lower ones) pass."""
        reached = "none"
        for name in LEVELS[1:]:
            if any(f.level == name and not f.ok and not f.warning for f in self.findings):
                break
            if not any(f.level == name for f in self.findings):
                break  # a level with no checks run (e.g. after a fatal error) is not reached
            reached = name
        return reached

    @property
    def conforms(self) -> bool:
        """True when the file conforms to the format: level ``standard`` or higher."""
        return LEVELS.index(self.level) >= LEVELS.index("standard")

    @property
    def failures(self) -> list[Finding]:
        """Every unmet requirement (warnings excluded), lowest level first."""
        return sorted(
            (f for f in self.findings if not f.ok and not f.warning), key=lambda f: LEVELS.index(f.level)
        )

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.warning and not f.ok]

    # --- output ------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``clankers check --json``)."""
        return {
            "path": self.path,
            "conforms": self.conforms,
            "level": self.level,
            "checked_against": self.checked_against,
            "declared_version": self.declared_version,
            "inputs": [_tensor_dict(t) for t in self.inputs],
            "outputs": [_tensor_dict(t) for t in self.outputs],
            "metadata": dict(self.metadata),
            "findings": [asdict(f) for f in self.findings],
            "failures": [asdict(f) for f in self.failures],
        }

    def __rich__(self) -> RenderableType:
        parts: list[RenderableType] = [Text(f"clanker policy check: {self.path}", style="bold")]
        tensors = Table(title="tensors", title_justify="left", expand=False)
        for col in ("kind", "name", "dtype", "shape"):
            tensors.add_column(col)
        for kind, items in (("input", self.inputs), ("output", self.outputs)):
            for t in items:
                tensors.add_row(*(Text(c) for c in (kind, t.name, t.dtype, t.shape_text())))
        parts.append(tensors)

        verdicts: dict[str, list[Finding]] = {}
        for f in self.findings:
            verdicts.setdefault(f.subject, []).append(f)
        meta = Table(title="metadata", title_justify="left", expand=False)
        meta.add_column("key")
        meta.add_column("value", overflow="fold", max_width=60)
        meta.add_column("verdict", overflow="fold", max_width=50)
        keys = list(KEYS_1_0) + sorted(k for k in self.metadata if k not in KEYS_1_0)
        for key in keys:
            found = verdicts.get(f"metadata {key}", [])
            bad = [f for f in found if not f.ok]
            if bad:
                style = "yellow" if all(f.warning for f in bad) else "red"
                verdict = Text("; ".join(f.message for f in bad), style=style)
            elif found:
                verdict = Text("ok", style="green")
            else:
                verdict = Text("not checked")
            meta.add_row(Text(key), Text(self.metadata.get(key, "(absent)")), verdict)
        parts.append(meta)

        checks = Table(title="requirements", title_justify="left", expand=False)
        for col in ("", "level", "subject", "detail"):
            checks.add_column(col, overflow="fold")
        for f in sorted(self.findings, key=lambda f: LEVELS.index(f.level)):
            mark = (
                Text("PASS", style="green")
                if f.ok
                else Text(*(("WARN", "yellow") if f.warning else ("FAIL", "red")))
            )
            checks.add_row(mark, Text(f.level), Text(f.subject), Text(f.message))
        parts.append(checks)

        if self.conforms:
            summary = Text(
                f"conforms to clanker policy format {self.checked_against}: level {self.level}",
                style="bold green",
            )
        else:
            summary = Text(
                f"does NOT conform to clanker policy format {self.checked_against}: level {self.level} "
                f"({len(self.failures)} unmet requirement(s))",
                style="bold red",
            )
        parts.append(summary)
        higher = [f for f in self.failures if LEVELS.index(f.level) > LEVELS.index(self.level)]
        for f in higher:
            parts.append(Text(f"  missing for {f.level}: {f.subject}: {f.message}"))
        return Group(*parts)

    def to_text(self, width: int = 120) -> str:
        """The report as plain text (what ``clankers check`` prints, without colour)."""
        console = Console(file=io.StringIO(), width=width, color_system=None, record=True)
        console.print(self)
        return console.export_text()


def _tensor_dict(t: TensorInfo) -> dict[str, Any]:
    return {"name": t.name, "dtype": t.dtype, "shape": list(t.shape)}


# --- the checks ------------------------------------------------------------------------------------------


def check_policy(path: str | Path) -> CheckReport:
    """Check a policy file against the clanker policy format and return the report (never raises for a bad file).

    Only a missing file raises (:class:`PolicyFileNotFoundError`): there is nothing to report on.
    """
    path = Path(path)
    report = CheckReport(path=str(path))
    if not path.is_file():
        if path.exists():
            report.add("basic", False, "file", "is not a regular file")
            return report
        raise PolicyFileNotFoundError(f"policy file {str(path)!r} does not exist; check the path.")
    try:
        model = parse_model_bytes(path.read_bytes(), str(path))
    except ClankersError as err:
        report.add("basic", False, "file", str(err))
        return report
    report.add("basic", True, "file", "parses as an ONNX model")
    report.inputs, report.outputs = graph_inputs(model), graph_outputs(model)
    try:
        onnx.checker.check_model(model)
        report.add("basic", True, "onnx checker", "onnx.checker.check_model passes")
    except Exception as err:
        report.add("basic", False, "onnx checker", f"onnx.checker.check_model fails: {err}")

    try:
        report.metadata = metadata_dict(model)
    except ClankersError as err:
        report.add("basic", False, "metadata", str(err))
        report.metadata = {p.key: p.value for p in model.metadata_props}
    report.declared_version = report.metadata.get("clanker_policy_version")

    _check_tensor_names(report)
    _check_metadata_lenient(report)
    policy = _check_loads(report, path)
    _check_metadata_strict(report, policy)
    if policy is not None:
        _check_inference(report, policy)
    return report


def _check_tensor_names(report: CheckReport) -> None:
    for kind, names, tensors in (
        ("input", OBS_NAMES, report.inputs),
        ("output", ACTION_NAMES, report.outputs),
    ):
        found = next((t for n in names for t in tensors if t.name == n), None)
        if found is None:
            listed = ", ".join(t.name for t in tensors) or "none"
            report.add(
                "basic", False, f"{kind} {names[0]}", f"no {kind} named {' or '.join(names)} (has: {listed})"
            )
            continue
        report.add(
            "basic",
            True,
            f"{kind} {names[0]}",
            f"found {kind} {found.name!r} {found.dtype} {found.shape_text()}",
        )
        report.add(
            "standard",
            found.name == names[0],
            f"{kind} {names[0]}",
            f"named {found.name!r}"
            + ("" if found.name == names[0] else f"; the canonical name is {names[0]!r}"),
        )
        report.add(
            "standard",
            found.dtype == "float32",
            f"{kind} {names[0]} dtype",
            f"dtype {found.dtype}" + ("" if found.dtype == "float32" else "; the format requires float32"),
        )
        dynamic = bool(found.shape) and not isinstance(found.shape[0], int)
        report.add(
            "standard",
            dynamic,
            f"{kind} {names[0]} batch",
            "batch axis is dynamic"
            if dynamic
            else f"batch axis fixed at {found.shape[:1]}; export a dynamic axis 0",
        )


def _check_metadata_lenient(report: CheckReport) -> PolicyMetadata | None:
    """Basic level: the runtime can make sense of the metadata (defaults allowed)."""
    try:
        meta = PolicyMetadata.from_metadata_props(report.metadata)
    except ClankersError as err:
        report.add("basic", False, "metadata", str(err))
        return None
    report.add("basic", True, "metadata", "readable with the format's defaults")
    return meta


def _check_loads(report: CheckReport, path: Path) -> OnnxPolicy | None:
    try:
        policy = OnnxPolicy(path)
    except ClankersError as err:
        report.add("basic", False, "runtime load", f"{type(err).__name__}: {err}")
        return None
    report.add(
        "basic",
        True,
        "runtime load",
        f"OnnxPolicy loads it: obs_dim {policy.obs_dim}, act_dim {policy.act_dim}, "
        f"{'dynamic batch' if policy.dynamic_batch else 'fixed batch 1'}",
    )
    return policy


def _check_metadata_strict(report: CheckReport, policy: OnnxPolicy | None) -> None:
    """Standard level: every required key present, exactly in its canonical form."""
    props = report.metadata
    out = next((t for n in ACTION_NAMES for t in report.outputs if t.name == n), None)
    out_shape: tuple[int, ...] | None = None
    if out is not None and len(out.shape) >= 2 and all(isinstance(d, int) and d > 0 for d in out.shape[1:]):
        out_shape = tuple(int(d) for d in out.shape[1:])  # type: ignore[arg-type]
    for key in KEYS_1_0:
        if key not in props:
            report.add("standard", False, f"metadata {key}", "required key is absent")
    values: dict[str, Any] = {}

    def strict(key: str, fn: Any) -> None:
        if key not in props:
            return
        try:
            message = fn(props[key])
        except (ClankersError, ValueError, TypeError) as err:
            report.add("standard", False, f"metadata {key}", str(err))
            return
        report.add("standard", True, f"metadata {key}", message or "ok")

    def version(raw: str) -> str:
        parse_version(raw)
        check_major(raw)
        if raw != raw.strip():
            raise ValueError("surrounding whitespace is not allowed")
        return "ok"

    def action_space(raw: str) -> str:
        obj = parse_json_value("action_space", raw, strict=True)
        if not isinstance(obj, dict):
            raise ValueError("must be a JSON object")
        if obj.get("type") != "Box":
            raise ValueError(f"type {obj.get('type')!r} is not allowed in format 1.0 (only 'Box')")
        if "dtype" not in obj:
            raise ValueError('dtype is required (e.g. "float32")')
        space = BoxSpace.model_validate(obj)
        values["action_space"] = space
        if out_shape is not None and tuple(space.shape) != out_shape:
            raise ValueError(f"shape {space.shape} differs from the action output's {list(out_shape)}")
        if out is not None and space.dtype != out.dtype:
            raise ValueError(f"dtype {space.dtype} differs from the action output's {out.dtype}")
        return "ok"

    def transform(raw: str) -> str:
        if raw not in ACTION_TRANSFORMS:
            raise ValueError(f"{raw!r} is not one of {list(ACTION_TRANSFORMS)}")
        values["action_transform"] = raw
        return "ok"

    def affine(key: str, neutral: float) -> Any:
        def check(raw: str) -> str:
            obj = parse_json_value(key, raw, strict=True)
            if not isinstance(obj, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj
            ):
                raise ValueError("must be a JSON list of numbers")
            if not all(math.isfinite(v) for v in obj):
                raise ValueError("must contain finite numbers")
            size = math.prod(out_shape) if out_shape is not None else None
            if size is None and "action_space" in values:
                size = values["action_space"].size
            if size is not None and len(obj) != size:
                raise ValueError(f"has {len(obj)} values; the action has {size}")
            values[key] = obj
            return "ok"

        return check

    def framework(raw: str) -> str:
        if not raw.strip():
            raise ValueError("must be a non-empty name such as 'stable-baselines3'")
        return "ok"

    def boolean(key: str) -> Any:
        def check(raw: str) -> str:
            values[key] = parse_bool_value(key, raw, strict=True)
            return "ok"

        return check

    strict("clanker_policy_version", version)
    strict("action_space", action_space)
    strict("action_transform", transform)
    strict("action_scale", affine("action_scale", 1.0))
    strict("action_offset", affine("action_offset", 0.0))
    strict("training_framework", framework)
    for key in sorted(BOOL_KEYS):
        strict(key, boolean(key))

    # Cross-key consistency.
    if values.get("recurrent") is True:
        report.add(
            "standard",
            False,
            "metadata recurrent",
            "recurrent=true needs recurrent state tensors, which format 1.0 cannot describe",
        )
    if policy is not None and "batch_inference" in values:
        consistent = values["batch_inference"] == policy.dynamic_batch
        report.add(
            "standard",
            consistent,
            "metadata batch_inference",
            "matches the graph's batch axis"
            if consistent
            else f"says {str(values['batch_inference']).lower()} but the graph's batch axis is "
            f"{'dynamic' if policy.dynamic_batch else 'fixed at 1'}",
        )
    if values.get("action_transform") in ("none", "clip"):
        for key, neutral in (("action_scale", 1.0), ("action_offset", 0.0)):
            if key in values and any(v != neutral for v in values[key]):
                report.add(
                    "standard",
                    False,
                    f"metadata {key}",
                    f"is ignored with action_transform {values['action_transform']!r}; write all {neutral}",
                    warning=True,
                )
    if report.declared_version is not None:
        try:
            if parse_version(report.declared_version) > parse_version(FORMAT_VERSION):
                report.add(
                    "standard",
                    False,
                    "metadata clanker_policy_version",
                    f"newer than this checker ({FORMAT_VERSION}); keys it does not know were not checked",
                    warning=True,
                )
        except ClankersError:
            pass
    for key in sorted(k for k in props if k not in KEYS_1_0):
        report.add(
            "standard", False, f"metadata {key}", "not a key of this format version; ignored", warning=True
        )


def _probe_observations(policy: OnnxPolicy, n: int) -> np.ndarray:
    """Deterministic, moderate observations (the format 1.0 file does not state observation bounds)."""
    rng = np.random.default_rng(0)
    return rng.uniform(-1.0, 1.0, size=(n, *policy.obs_shape)).astype(np.float32)


def _check_inference(report: CheckReport, policy: OnnxPolicy) -> None:
    probes = _probe_observations(policy, 5)
    try:
        one = policy.act(probes[0])
        ok = one.shape == policy.act_shape and bool(np.all(np.isfinite(one)))
        report.add("basic", ok, "inference batch 1", f"action shape {list(one.shape)}, finite: {ok}")
    except ClankersError as err:
        report.add("basic", False, "inference batch 1", str(err))
        return
    if not policy.dynamic_batch:
        return
    try:
        many = policy.act_batch(probes)
        rows = np.stack([policy.act(p) for p in probes])
    except ClankersError as err:
        report.add("standard", False, "inference batch 5", str(err))
        return
    diff = float(np.max(np.abs(many - rows))) if many.shape == rows.shape else math.inf
    report.add(
        "standard",
        many.shape == (5, *policy.act_shape) and diff <= 1e-5,
        "inference batch 5",
        f"output shape {list(many.shape)}; max |batch - per-row| = {diff:.2e} (limit 1e-5)",
    )
