"""The *verified* conformance level: a parity record is present, says it passed, and can be reproduced.

The exporter compares the graph with its source model (SB3 ``predict``) and stores the result plus a small
probe: reference observations with the reference model's actions. Without torch, the checker cannot rerun
the source model, but it can rerun the graph on the probe and confirm it still gives the recorded actions.
That turns "the exporter said so" into something any deployment can re-check.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clankers.errors import ClankersError
from clankers.policy.report import CheckReport
from clankers.policy.runtime import OnnxPolicy
from clankers.policy.spec import PolicyMetadata

#: The per-sample comparison must cover at least this many observations to count as verified.
MIN_PARITY_SAMPLES = 1000


def check_verified(report: CheckReport, policy: OnnxPolicy, meta: PolicyMetadata) -> None:
    """Add the verified-level findings."""
    record = meta.parity
    if record is None:
        report.add(
            "verified", False, "parity", "no parity record; export with `clankers export` to record one"
        )
        return
    summary = (
        f"against {record.reference}: {record.n_samples} observations ({record.n_episode_states} from episodes), "
        f"max |diff| {record.max_abs_diff:.3g}, tolerance {record.tolerance:g}"
        + (f", {record.mismatches} discrete mismatches" if record.mismatches is not None else "")
    )
    report.add("verified", record.passed, "parity", ("passed " if record.passed else "FAILED ") + summary)
    report.add(
        "verified",
        record.max_abs_diff <= record.tolerance,
        "parity tolerance",
        f"recorded max |diff| {record.max_abs_diff:.3g} {'<=' if record.max_abs_diff <= record.tolerance else '>'} "
        f"tolerance {record.tolerance:g}",
    )
    report.add(
        "verified",
        record.n_samples >= MIN_PARITY_SAMPLES,
        "parity samples",
        f"{record.n_samples} observations compared (at least {MIN_PARITY_SAMPLES} required)",
    )
    if policy.is_discrete:
        exact = record.mismatches == 0 or (record.mismatches is None and record.max_abs_diff == 0)
        report.add("verified", exact, "parity exact", "discrete actions must match exactly")
    _check_probe(report, policy, meta)
    loop = record.closed_loop
    if loop is None:
        report.add(
            "verified",
            False,
            "closed loop",
            "no closed-loop record (`clankers export --verify-env ENV` adds one)",
            warning=True,
        )
    else:
        report.add(
            "verified",
            loop.passed and loop.returns_equal,
            "closed loop",
            f"{loop.env} on seeds {loop.seeds}: returns equal {loop.returns_equal}, max trajectory diff "
            f"{loop.max_trajectory_diff if loop.max_trajectory_diff is not None else 'n/a'}, passed {loop.passed}",
        )


def _check_probe(report: CheckReport, policy: OnnxPolicy, meta: PolicyMetadata) -> None:
    record = meta.parity
    assert record is not None
    probe = record.probe
    if probe is None:
        report.add("verified", False, "parity probe", "no probe observations to reproduce the record with")
        return
    try:
        obs = _probe_obs(policy, probe.obs)
        expected = np.asarray(probe.action, dtype=np.int64 if policy.is_discrete else np.float64)
        n = expected.shape[0] if expected.ndim else 0
        if n == 0:
            raise ValueError("the probe has no rows")
        if policy.recurrent:
            starts = probe.episode_start or [True] + [False] * (n - 1)
            if len(starts) != n:
                raise ValueError(f"episode_start has {len(starts)} flags for {n} rows")
            state, rows = None, []
            for i in range(n):
                row = {k: v[i : i + 1] for k, v in obs.items()} if isinstance(obs, dict) else obs[i : i + 1]
                action, state = policy.step(row, state, [starts[i]])
                rows.append(action[0])
            got = np.stack(rows)
        else:
            got = policy.act_batch(obs)
        if got.shape != expected.shape:
            raise ValueError(
                f"probe actions have shape {list(expected.shape)}, the graph gives {list(got.shape)}"
            )
    except (ClankersError, ValueError, TypeError) as err:
        report.add("verified", False, "parity probe", f"cannot replay the probe: {err}")
        return
    if policy.is_discrete:
        mismatches = int(np.sum(np.any((got != expected).reshape(n, -1), axis=1)))
        report.add(
            "verified", mismatches == 0, "parity probe", f"replayed {n} probe rows: {mismatches} differ"
        )
    else:
        diff = float(np.max(np.abs(got.astype(np.float64) - expected)))
        report.add(
            "verified",
            diff <= record.tolerance,
            "parity probe",
            f"replayed {n} probe rows: max |diff| {diff:.3g} (tolerance {record.tolerance:g})",
        )


def _probe_obs(policy: OnnxPolicy, obs: Any) -> Any:
    if policy.is_dict:
        if not isinstance(obs, dict):
            raise ValueError("a Dict policy's probe must map keys to observations")
        return {k: np.asarray(v) for k, v in obs.items()}
    return np.asarray(obs)
