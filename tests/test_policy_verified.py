"""The verified level: a parity record that passed, and a probe the checker can replay without torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _policy_graphs import accumulator_model, discrete_model, linear_model, metadata_props, save
from clankers.policy import check_policy
from clankers.policy.records import ClosedLoopRecord, ParityProbe, ParityRecord, RecurrentState, StateTensor
from clankers.policy.spaces import BoxSpace, DiscreteSpace

RNG = np.random.default_rng(7)
W = RNG.normal(size=(4, 2)).astype(np.float32)
PROBE_OBS = RNG.uniform(-1, 1, size=(8, 4)).astype(np.float32)
ACT2 = BoxSpace(shape=[2], dtype="float32", low=["-inf"], high=["inf"])


def _record(**overrides: Any) -> ParityRecord:
    fields: dict[str, Any] = {
        "reference": "stable-baselines3 predict(deterministic=True)",
        "n_samples": 2000,
        "n_episode_states": 1000,
        "max_abs_diff": 2.4e-7,
        "tolerance": 1e-5,
        "passed": True,
        "probe": ParityProbe(obs=PROBE_OBS.tolist(), action=(PROBE_OBS @ W).tolist()),
    }
    fields.update(overrides)
    return ParityRecord(**fields)


def _provenance() -> dict[str, Any]:
    return {
        "observation_space": BoxSpace(shape=[4], dtype="float32", low=[-1.0], high=[1.0]),
        "observation_layout": ["a", "b", "c", "d"],
        "algorithm": "PPO",
        "software_versions": {"stable-baselines3": "2.9.2", "torch": "2.13.0", "clankers": "0.1.0"},
        "exporter": {"name": "clankers", "backend": "torchscript", "opset": 17},
        "export_time": "2026-11-28T19:00:00Z",
        "source_model_sha256": "ab" * 32,
    }


def _check(tmp_path: Path, parity: ParityRecord | None, **extra: Any):
    props = metadata_props(action_space=ACT2, parity=parity, **_provenance(), **extra)
    return check_policy(save(linear_model(W, props=props), tmp_path / "p.onnx"))


def test_complete_export_is_verified_without_warnings_except_closed_loop(tmp_path: Path) -> None:
    report = _check(tmp_path, _record())
    assert report.level == "verified", report.to_text()
    assert {f.subject for f in report.warnings} == {"closed loop"}


def test_closed_loop_record_passes(tmp_path: Path) -> None:
    loop = ClosedLoopRecord(
        env="clankers/CartPole-v0",
        seeds=[0, 1],
        returns_equal=True,
        max_trajectory_diff=0.0,
        tolerance=1e-4,
        passed=True,
    )
    report = _check(tmp_path, _record(closed_loop=loop))
    assert report.level == "verified" and report.warnings == []


@pytest.mark.parametrize(
    ("overrides", "subject"),
    [
        ({"passed": False}, "parity"),
        ({"max_abs_diff": 1e-3}, "parity tolerance"),
        ({"n_samples": 999}, "parity samples"),
        ({"probe": None}, "parity probe"),
        (
            {"probe": ParityProbe(obs=PROBE_OBS.tolist(), action=(PROBE_OBS @ W + 1e-3).tolist())},
            "parity probe",
        ),
        ({"probe": ParityProbe(obs=PROBE_OBS.tolist(), action=(PROBE_OBS @ W)[:3].tolist())}, "parity probe"),
        (
            {"probe": ParityProbe(obs=PROBE_OBS[:, :3].tolist(), action=(PROBE_OBS @ W).tolist())},
            "parity probe",
        ),
        (
            {"closed_loop": ClosedLoopRecord(env="e", seeds=[0], returns_equal=False, passed=False)},
            "closed loop",
        ),
    ],
)
def test_failed_or_unreproducible_record_stays_standard(
    tmp_path: Path, overrides: dict, subject: str
) -> None:
    report = _check(tmp_path, _record(**overrides))
    assert report.level == "standard"
    assert subject in {f.subject for f in report.failures}


def test_no_record_is_standard(tmp_path: Path) -> None:
    report = _check(tmp_path, None)
    assert report.level == "standard" and [f.subject for f in report.failures] == ["parity"]


def test_discrete_probe_must_match_exactly(tmp_path: Path) -> None:
    w = RNG.normal(size=(4, 5)).astype(np.float32)
    actions = np.argmax(PROBE_OBS @ w, axis=1)
    for probe_actions, mismatches, level in ((actions, 0, "verified"), ((actions + 1) % 5, 0, "standard")):
        record = _record(
            probe=ParityProbe(obs=PROBE_OBS.tolist(), action=probe_actions.tolist()),
            max_abs_diff=0.0,
            mismatches=mismatches,
        )
        props = metadata_props(action_space=DiscreteSpace(n=5), parity=record, **_provenance())
        report = check_policy(save(discrete_model(w, props), tmp_path / "d.onnx"))
        assert report.level == level, report.to_text()


def test_recurrent_probe_is_replayed_as_a_sequence(tmp_path: Path) -> None:
    obs = np.array([[1, 0, 0], [1, 1, 0], [2, 0, 0], [0, 1, 0]], dtype=np.float32)
    starts = [True, False, True, False]
    expected = [[1, 0, 1], [2, 1, 2], [2, 0, 1], [2, 1, 2]]
    state = RecurrentState(
        tensors=[
            StateTensor(input="h_in", output="h_out", batch_axis=1),
            StateTensor(input="c_in", output="c_out", batch_axis=0),
        ]
    )
    for actions, level in ((expected, "verified"), ([[1, 0, 1]] * 4, "standard")):
        record = _record(probe=ParityProbe(obs=obs.tolist(), action=actions, episode_start=starts))
        props = metadata_props(
            action_space=BoxSpace(shape=[3], dtype="float32", low=["-inf"], high=["inf"]),
            recurrent=True,
            recurrent_state=state,
            parity=record,
        )
        report = check_policy(save(accumulator_model(props=props), tmp_path / "r.onnx"))
        assert report.level == level, report.to_text()
