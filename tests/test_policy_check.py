"""check_policy: the strict reading of the format, with a conformance level and a reason for every miss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _policy_graphs import identity_first, linear_model, save, standard_props
from clankers.errors import PolicyFileNotFoundError
from clankers.policy import CheckReport, check_policy
from clankers.policy.spec import KEYS_1_0


def _w() -> np.ndarray:
    return identity_first()


def _failed_subjects(report: CheckReport) -> set[str]:
    """Unmet requirements up to standard (these files carry no parity record, so verified always fails)."""
    return {f.subject for f in report.failures if f.level != "verified"}


def test_exporter_style_file_conforms(tmp_path: Path) -> None:
    report = check_policy(save(linear_model(_w(), props=standard_props()), tmp_path / "p.onnx"))
    assert report.conforms and report.level == "standard"
    assert _failed_subjects(report) == set()
    assert {f.subject for f in report.failures} == {"parity"}  # verified needs a parity record
    assert [t.name for t in report.inputs] == ["obs"] and report.inputs[0].shape == ("batch", 4)
    assert [t.name for t in report.outputs] == ["action"]
    assert set(report.metadata) == set(KEYS_1_0)


def test_file_without_metadata_is_basic_with_a_reason_per_key(tmp_path: Path) -> None:
    report = check_policy(save(linear_model(_w()), tmp_path / "p.onnx"))
    assert report.level == "basic" and not report.conforms
    assert _failed_subjects(report) == {f"metadata {k}" for k in KEYS_1_0}
    assert all(f.level in ("standard", "verified") for f in report.failures)


def test_other_tools_fixed_batch_file_is_basic(tmp_path: Path) -> None:
    props = {
        "clanker_policy_version": "1.0.0",
        "action_space": '{"type": "Box", "shape": [2], "low": [-2, -2], "high": [2, 2]}',
        "action_transform": "tanh",
        "action_scale": "[2.0, 2.0]",
        "action_offset": "[0.0, 0.0]",
    }
    report = check_policy(save(linear_model(_w(), batch=1, props=props), tmp_path / "p.onnx"))
    assert report.level == "basic"
    failed = _failed_subjects(report)
    assert {"input obs batch", "output action batch", "metadata action_space", "metadata recurrent"} <= failed
    assert any("dtype is required" in f.message for f in report.failures)


def test_alias_names_load_but_do_not_conform(tmp_path: Path) -> None:
    model = linear_model(_w(), in_name="observation", out_name="actions", props=standard_props())
    report = check_policy(save(model, tmp_path / "p.onnx"))
    assert report.level == "basic"
    assert _failed_subjects(report) == {"input obs name", "output action name"}


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("recurrent", "True", "'true' or 'false'"),  # the reader accepts it, the checker does not
        ("action_scale", "[1.0, 1.0, 1.0]", "has 3 values"),
        (
            "action_space",
            '{"type": "Box", "shape": [2], "dtype": "float32", "low": [-Infinity, -1], "high": [1, 1]}',
            "not JSON",
        ),
        (
            "action_space",
            '{"type": "Box", "shape": [3], "dtype": "float32", "low": [-1], "high": [1]}',
            "differs",
        ),
        (
            "action_space",
            '{"type": "Box", "shape": [2], "dtype": "float64", "low": [-1], "high": [1]}',
            "dtype",
        ),
        ("training_framework", "  ", "non-empty"),
        ("batch_inference", "false", "graph's batch axis is dynamic"),
        ("clanker_policy_version", " 1.0.0", "whitespace"),
    ],
)
def test_strict_value_checks(tmp_path: Path, key: str, value: str, fragment: str) -> None:
    props = standard_props()
    props[key] = value
    report = check_policy(save(linear_model(_w(), props=props), tmp_path / "p.onnx"))
    assert not report.conforms
    assert any(f.subject == f"metadata {key}" and fragment in f.message for f in report.failures), (
        report.to_text()
    )


def test_future_major_version_is_not_loadable(tmp_path: Path) -> None:
    props = standard_props()
    props["clanker_policy_version"] = "2.0.0"
    report = check_policy(save(linear_model(_w(), props=props), tmp_path / "p.onnx"))
    assert report.level == "none"
    assert "metadata" in _failed_subjects(report)


def test_unknown_keys_and_ignored_scale_are_warnings_only(tmp_path: Path) -> None:
    props = standard_props(action_scale=[3.0, 3.0])
    props["vendor_note"] = "hello"
    report = check_policy(save(linear_model(_w(), props=props), tmp_path / "p.onnx"))
    assert report.conforms
    warned = {f.subject for f in report.warnings}
    assert {"metadata vendor_note", "metadata action_scale"} <= warned
    assert "metadata algorithm" in warned  # 1.1 provenance keys are recommended, not required


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02 random", b"ir_version: 8"])
def test_garbage_reaches_no_level(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "p.onnx"
    path.write_bytes(content)
    report = check_policy(path)
    assert report.level == "none" and not report.conforms
    assert report.failures[0].subject == "file"


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileNotFoundError):
        check_policy(tmp_path / "nope.onnx")


def test_report_renders_every_key_and_serialises(tmp_path: Path) -> None:
    props = standard_props()
    props["action_transform"] = "sigmoid"
    report = check_policy(save(linear_model(_w(), props=props), tmp_path / "p.onnx"))
    text = report.to_text()
    for key in KEYS_1_0:
        assert key in text
    assert "[batch, 4]" in text  # shapes are shown literally, not eaten as rich markup
    assert "sigmoid" in text and "does NOT conform" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["conforms"] is False and data["level"] == "none"
    assert data["metadata"]["action_transform"] == "sigmoid"
    assert data["inputs"] == [{"name": "obs", "dtype": "float32", "shape": ["batch", 4]}]


def test_a_format_1_0_0_file_stays_valid(tmp_path: Path) -> None:
    """Exactly what issue 2's exporter wrote: version 1.0.0 and the nine keys, nothing else."""
    props = standard_props()
    props["clanker_policy_version"] = "1.0.0"
    report = check_policy(save(linear_model(_w(), props=props), tmp_path / "p.onnx"))
    assert report.conforms and report.level == "standard"
    assert report.warnings == []  # 1.1 provenance keys are not expected from a 1.0.0 file


def test_1_1_keys_in_a_file_declaring_1_0_0(tmp_path: Path) -> None:
    props = standard_props()
    props["clanker_policy_version"] = "1.0.0"
    props["algorithm"] = "PPO"
    report = check_policy(save(linear_model(_w(), props=props), tmp_path / "p.onnx"))
    assert not report.conforms
    assert any(
        f.subject == "metadata clanker_policy_version" and "1.1.0" in f.message for f in report.failures
    ), report.to_text()


def test_newer_minor_version_is_checked_with_a_warning(tmp_path: Path) -> None:
    props = standard_props()
    props["clanker_policy_version"] = "1.9.0"
    props["some_1_9_key"] = "x"
    report = check_policy(save(linear_model(_w(), props=props), tmp_path / "p.onnx"))
    assert report.conforms
    assert any("newer than this checker" in f.message for f in report.warnings)
