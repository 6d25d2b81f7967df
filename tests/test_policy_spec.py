"""The metadata model: what writers emit, what readers accept, and the typed errors for everything else."""

from __future__ import annotations

import json
import math

import pytest

from clankers.errors import MetadataError, UnsupportedVersionError
from clankers.policy import FORMAT_VERSION, BoxSpace, PolicyMetadata
from clankers.policy.spec import KEYS_1_0

NINE_KEYS = {
    "clanker_policy_version",
    "action_space",
    "action_transform",
    "action_scale",
    "action_offset",
    "training_framework",
    "recurrent",
    "deterministic_mode",
    "batch_inference",
}


def sb3_meta() -> PolicyMetadata:
    return PolicyMetadata(
        action_space=BoxSpace(shape=[2], dtype="float32", low=[-1.0, -1.0], high=[1.0, 1.0]),
        action_transform="none",
        action_scale=[1.0, 1.0],
        action_offset=[0.0, 0.0],
        training_framework="stable-baselines3",
        recurrent=False,
        deterministic_mode=False,
        batch_inference=True,
    )


def test_writer_emits_exactly_the_nine_keys_as_strings() -> None:
    props = sb3_meta().to_metadata_props()
    assert set(props) == NINE_KEYS == set(KEYS_1_0)
    assert all(isinstance(v, str) for v in props.values())
    assert props["clanker_policy_version"] == FORMAT_VERSION
    assert json.loads(props["action_space"]) == {
        "type": "Box",
        "shape": [2],
        "dtype": "float32",
        "low": [-1.0, -1.0],
        "high": [1.0, 1.0],
    }
    assert props["action_transform"] == "none"
    assert json.loads(props["action_scale"]) == [1.0, 1.0]
    assert json.loads(props["action_offset"]) == [0.0, 0.0]
    assert props["training_framework"] == "stable-baselines3"
    assert (props["recurrent"], props["deterministic_mode"], props["batch_inference"]) == (
        "false",
        "false",
        "true",
    )


def test_round_trip_is_lossless() -> None:
    meta = sb3_meta()
    assert PolicyMetadata.from_metadata_props(meta.to_metadata_props()) == meta


def test_writer_fills_defaults_for_scale_and_offset() -> None:
    meta = PolicyMetadata(action_space=BoxSpace(shape=[3], low=[-2.0], high=[2.0]), action_transform="tanh")
    props = meta.to_metadata_props()
    assert json.loads(props["action_scale"]) == [1.0, 1.0, 1.0]
    assert json.loads(props["action_offset"]) == [0.0, 0.0, 0.0]


def test_infinite_bounds_are_written_as_strings_and_read_back() -> None:
    inf = math.inf
    meta = PolicyMetadata(action_space=BoxSpace(shape=[2], dtype="float32", low=[-inf, 0.0], high=[inf, 1.0]))
    props = meta.to_metadata_props()
    assert json.loads(props["action_space"])["low"] == ["-inf", 0.0]  # standard JSON, no Infinity token
    assert PolicyMetadata.from_metadata_props(props).action_space.low == [-inf, 0.0]


def test_reader_defaults_for_absent_keys() -> None:
    meta = PolicyMetadata.from_metadata_props({})
    assert meta.clanker_policy_version == "1.0.0"
    assert meta.action_transform == "none"
    assert meta.action_space is None
    assert meta.recurrent is False and meta.batch_inference is True
    assert meta.scale_or_default(2) == [1.0, 1.0] and meta.offset_or_default(2) == [0.0, 0.0]


def test_reader_accepts_space_without_dtype_and_ignores_unknown_keys() -> None:
    props = {
        "clanker_policy_version": "1.0.0",
        "action_space": '{"type": "Box", "shape": [2], "low": [-1, -1], "high": [1, 1], "extra": 5}',
        "action_transform": "tanh",
        "action_scale": "[2.0, 2.0]",
        "action_offset": "[0.0, 0.0]",
        "some_other_tool_key": "{not json",
    }
    meta = PolicyMetadata.from_metadata_props(props)
    assert meta.action_space is not None and meta.action_space.dtype is None
    assert meta.action_scale == [2.0, 2.0]


def test_newer_minor_version_is_accepted() -> None:
    assert PolicyMetadata.from_metadata_props({"clanker_policy_version": "1.7.3"}).version == (1, 7, 3)


@pytest.mark.parametrize("version", ["2.0.0", "0.9.0", "10.1.0"])
def test_other_major_version_is_refused(version: str) -> None:
    with pytest.raises(UnsupportedVersionError, match=version):
        PolicyMetadata.from_metadata_props({"clanker_policy_version": version, "action_transform": "bogus"})


@pytest.mark.parametrize("version", ["1", "1.0", "v1.0.0", "1.0.0-beta", ""])
def test_malformed_version_is_a_metadata_error(version: str) -> None:
    with pytest.raises(MetadataError, match=r"MAJOR\.MINOR\.PATCH"):
        PolicyMetadata.from_metadata_props({"clanker_policy_version": version})


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("action_space", "{'type': 'Box'}", "not valid JSON"),
        ("action_scale", "[1.0, 1.0", "not valid JSON"),
        ("action_transform", "sigmoid", "action_transform"),
        ("recurrent", "yes", "'true' or 'false'"),
        ("action_space", '{"type": "Box", "shape": [2], "low": [1, 1], "high": [0, 0]}', "low > high"),
        ("action_space", '{"type": "Box", "shape": [2], "low": [0, 0, 0], "high": [1, 1, 1]}', "needs 2"),
        ("action_space", '{"type": "Box", "shape": [0], "low": [0], "high": [1]}', "positive"),
        ("action_space", '{"type": "Box", "shape": [1], "dtype": "int3", "low": [0], "high": [1]}', "dtype"),
        ("action_scale", '["a", "b"]', "action_scale"),
        ("action_offset", "[NaN, 0.0]", "finite"),
    ],
)
def test_invalid_values_are_metadata_errors(key: str, value: str, fragment: str) -> None:
    props = {"action_space": '{"type": "Box", "shape": [2], "low": [-1, -1], "high": [1, 1]}', key: value}
    with pytest.raises(MetadataError, match=fragment):
        PolicyMetadata.from_metadata_props(props)


def test_scale_length_must_match_action_space() -> None:
    with pytest.raises(MetadataError, match="action_scale has 3 values"):
        PolicyMetadata(action_space=BoxSpace(shape=[2], low=[-1.0], high=[1.0]), action_scale=[1.0, 1.0, 1.0])


def test_clip_needs_an_action_space() -> None:
    with pytest.raises(MetadataError, match="clip"):
        PolicyMetadata.from_metadata_props({"action_transform": "clip"})


def test_writing_needs_an_action_space() -> None:
    with pytest.raises(MetadataError, match="action_space"):
        PolicyMetadata().to_metadata_props()


def test_boolean_reading_is_case_lenient() -> None:
    assert PolicyMetadata.from_metadata_props({"deterministic_mode": "True"}).deterministic_mode is True
