"""``check_policy``: the strict half of the format. Says which conformance level a file reaches, and why not higher.

The runtime reads leniently (defaults for absent keys, alternative tensor names) so that files from other
tools load; the checker holds files to the letter of ``docs/policy-format.md``. Every requirement becomes
one :class:`Finding` tagged with the conformance level it belongs to:

- **basic**: the runtime can load and run it (named tensors, allowed dtypes, known feature dims, readable
  metadata, a finite action of the right shape for one observation);
- **standard**: complete and canonical: every required key present and well formed and consistent with
  the graph, canonical tensor names and dtypes, a dynamic batch that really is batch-independent;
- **verified**: a parity record is present, passed, and the checker reproduces its probe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from clankers.errors import ClankersError, PolicyFileNotFoundError
from clankers.policy.check_metadata import check_metadata_strict
from clankers.policy.graph import (
    ACTION_NAMES,
    OBS_NAMES,
    TensorInfo,
    graph_inputs,
    graph_outputs,
    metadata_dict,
    parse_model_bytes,
)
from clankers.policy.report import LEVELS, CheckReport, Finding
from clankers.policy.runtime import OnnxPolicy
from clankers.policy.spaces import BoxSpace, DictSpace, DiscreteSpace, MultiBinarySpace, MultiDiscreteSpace
from clankers.policy.spec import PolicyMetadata
from clankers.policy.verify import check_verified

__all__ = ["LEVELS", "CheckReport", "Finding", "check_policy"]


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
    if model.graph.initializer and any(
        init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer
    ):
        report.add(
            "standard", False, "file", "uses external data files; a policy file must be self-contained"
        )

    try:
        report.metadata = metadata_dict(model)
    except ClankersError as err:
        report.add("basic", False, "metadata", str(err))
        report.metadata = {p.key: p.value for p in model.metadata_props}
    report.declared_version = report.metadata.get("clanker_policy_version")

    meta = _check_metadata_lenient(report)
    _check_tensors(report, meta)
    policy = _check_loads(report, path)
    check_metadata_strict(report)
    if policy is not None:
        _check_inference(report, policy)
        if meta is not None:
            check_verified(report, policy, meta)
    return report


def _check_metadata_lenient(report: CheckReport) -> PolicyMetadata | None:
    """Basic level: the runtime can make sense of the metadata (defaults allowed)."""
    try:
        meta = PolicyMetadata.from_metadata_props(report.metadata)
    except ClankersError as err:
        report.add("basic", False, "metadata", str(err))
        return None
    report.add("basic", True, "metadata", "readable with the format's defaults")
    return meta


def _check_tensors(report: CheckReport, meta: PolicyMetadata | None) -> None:
    """Names, dtypes and batch axes of the observation input(s) and the action output."""
    obs_space = meta.observation_space if meta is not None else None
    by_name = {t.name: t for t in report.inputs}
    wanted: list[tuple[str, list[str], BoxSpace | None]] = []  # (subject, accepted names, space)
    if isinstance(obs_space, DictSpace):
        names = (meta.observation_inputs if meta else None) or {k: f"obs.{k}" for k in obs_space.spaces}
        wanted = [(f"input {names[k]}", [names[k]], sub) for k, sub in obs_space.spaces.items()]
    else:
        wanted = [("input obs", list(OBS_NAMES), obs_space)]
    for subject, names, space in wanted:
        found = next((by_name[n] for n in names if n in by_name), None)
        if found is None:
            listed = ", ".join(by_name) or "none"
            report.add("basic", False, subject, f"no input named {' or '.join(names)} (has: {listed})")
            continue
        allowed = "uint8" if space is not None and space.dtype == "uint8" else "float32"
        _tensor_findings(report, subject, found, names[0], allowed)

    action = next((t for n in ACTION_NAMES for t in report.outputs if t.name == n), None)
    if action is None:
        listed = ", ".join(t.name for t in report.outputs) or "none"
        report.add("basic", False, "output action", f"no output named action or actions (has: {listed})")
        return
    space = meta.action_space if meta is not None else None
    discrete = isinstance(space, (DiscreteSpace, MultiDiscreteSpace, MultiBinarySpace))
    _tensor_findings(report, "output action", action, "action", "int64" if discrete else "float32")

    if meta is not None and meta.recurrent_state is not None:
        outs = {t.name: t for t in report.outputs}
        for spec in meta.recurrent_state.tensors:
            for name, pool in ((spec.input, by_name), (spec.output, outs)):
                info = pool.get(name)
                if info is None:
                    report.add(
                        "basic", False, f"state {name}", "declared in recurrent_state but not in the graph"
                    )
                    continue
                axis_ok = len(info.shape) > spec.batch_axis and not isinstance(
                    info.shape[spec.batch_axis], int
                )
                report.add(
                    "standard",
                    axis_ok,
                    f"state {name}",
                    f"{info.dtype} {info.shape_text()}, batch axis {spec.batch_axis} "
                    + ("dynamic" if axis_ok else "is not dynamic"),
                )
            pair = by_name.get(spec.input), outs.get(spec.output)
            if pair[0] is not None and pair[1] is not None:
                fixed = [
                    tuple(d for i, d in enumerate(t.shape) if i != spec.batch_axis)
                    for t in pair  # type: ignore[union-attr]
                ]
                same = len(pair[0].shape) == len(pair[1].shape) and fixed[0] == fixed[1]
                report.add(
                    "standard",
                    same,
                    f"state {spec.input}",
                    f"returned as {spec.output!r} with the same shape"
                    if same
                    else f"input {pair[0].shape_text()} and output {pair[1].shape_text()} differ; the next "
                    "state must have the shape of the current one",
                )


def _tensor_findings(
    report: CheckReport, subject: str, found: TensorInfo, canonical: str, dtype: str
) -> None:
    report.add("basic", True, subject, f"found {found.name!r} {found.dtype} {found.shape_text()}")
    report.add(
        "standard",
        found.name == canonical,
        f"{subject} name",
        f"named {found.name!r}"
        + ("" if found.name == canonical else f"; the canonical name is {canonical!r}"),
    )
    report.add(
        "standard",
        found.dtype == dtype,
        f"{subject} dtype",
        f"dtype {found.dtype}" + ("" if found.dtype == dtype else f"; the format requires {dtype} here"),
    )
    dynamic = bool(found.shape) and not isinstance(found.shape[0], int)
    report.add(
        "standard",
        dynamic,
        f"{subject} batch",
        "batch axis is dynamic"
        if dynamic
        else f"batch axis fixed at {found.shape[:1]}; export a dynamic axis 0",
    )


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
        f"OnnxPolicy loads it: obs_dim {policy.obs_dim}, {policy.action_space.type} action "
        f"{list(policy.act_shape)}, {'dynamic batch' if policy.dynamic_batch else 'fixed batch 1'}"
        + (", recurrent" if policy.recurrent else ""),
    )
    return policy


def probe_observations(policy: OnnxPolicy, n: int, seed: int = 0) -> Any:
    """``n`` deterministic observations inside the declared space (moderate values where it is unbounded)."""
    rng = np.random.default_rng(seed)
    space = policy.metadata.observation_space
    subs = space.spaces if isinstance(space, DictSpace) else {None: space}
    result: dict[Any, np.ndarray] = {}
    for feed in policy._feeds:  # the runtime's view of each input (name, dtype, shape)
        sub = subs.get(feed.key) if isinstance(subs, dict) else None
        if feed.dtype == np.uint8:
            result[feed.key] = rng.integers(0, 256, size=(n, *feed.shape), dtype=np.uint8)
            continue
        low, high = np.full(feed.shape, -1.0), np.full(feed.shape, 1.0)
        if isinstance(sub, BoxSpace) and tuple(sub.shape) == feed.shape:
            lo, hi = sub.bounds()
            low = np.clip(np.asarray(lo).reshape(feed.shape), -1.0, None)
            high = np.clip(np.asarray(hi).reshape(feed.shape), None, 1.0)
            high = np.maximum(high, low)
        result[feed.key] = rng.uniform(low, high, size=(n, *feed.shape)).astype(feed.dtype)
    return result if policy.is_dict else result[None]


def _rows(obs: Any, i: int) -> Any:
    return {k: v[i : i + 1] for k, v in obs.items()} if isinstance(obs, dict) else obs[i : i + 1]


def _check_inference(report: CheckReport, policy: OnnxPolicy) -> None:
    probes = probe_observations(policy, 5)
    try:
        first, _ = policy.step(_rows(probes, 0), None, [True])
        one = first[0]
        finite = policy.is_discrete or bool(np.all(np.isfinite(one)))
        ok = one.shape == policy.act_shape and finite
        report.add("basic", ok, "inference batch 1", f"action shape {list(one.shape)}, finite: {finite}")
    except ClankersError as err:
        report.add("basic", False, "inference batch 1", str(err))
        return
    if not policy.dynamic_batch:
        return
    try:
        many, _ = policy.step(probes, None, [True] * 5)
        rows = np.concatenate([policy.step(_rows(probes, i), None, [True])[0] for i in range(5)])
    except ClankersError as err:
        report.add("standard", False, "inference batch 5", str(err))
        return
    if many.shape != rows.shape:
        diff = float("inf")
    elif policy.is_discrete:
        diff = float(np.max(many != rows))
    else:
        diff = float(np.max(np.abs(many - rows)))
    report.add(
        "standard",
        many.shape == (5, *policy.act_shape) and diff <= 1e-5,
        "inference batch 5",
        f"output shape {list(many.shape)}; max |batch - per-row| = {diff:.2e} (limit 1e-5)",
    )
    _check_discrete_range(report, policy, many)


def _check_discrete_range(report: CheckReport, policy: OnnxPolicy, actions: np.ndarray) -> None:
    space = policy.action_space
    if isinstance(space, DiscreteSpace):
        low, high = np.array(space.start), np.array(space.start + space.n - 1)
    elif isinstance(space, MultiDiscreteSpace):
        start = np.array(space.start if space.start is not None else [0] * len(space.nvec))
        low, high = start, start + np.array(space.nvec) - 1
    elif isinstance(space, MultiBinarySpace):
        low, high = np.array(0), np.array(1)
    else:
        return
    inside = bool(np.all((actions >= low) & (actions <= high)))
    report.add("standard", inside, "action range", f"{space.type} actions within the space: {inside}")
