"""Malformed policy files: every one gets a typed PolicyError from the runtime, and the checker never conforms.

The corpus is generated here, deterministically, from one valid file: truncations at every top-level
protobuf field boundary and at evenly spaced cuts, random and foreign bytes, wrong dtypes, missing and
invalid metadata, wrong shapes, and future major versions. Hypothesis adds random bytes and random
metadata on top. Truncations are loaded with ``strict=True``: a cut that falls exactly between two metadata
entries leaves a readable model with fewer keys, which the lenient reader is *meant* to accept.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from _policy_graphs import (
    accumulator_model,
    dict_model,
    discrete_model,
    image_model,
    linear_model,
    metadata_props,
    standard_props,
)
from clankers.errors import PolicyError
from clankers.policy import OnnxPolicy, PolicyMetadata, check_policy
from clankers.policy.records import RecurrentState, StateTensor
from clankers.policy.spaces import BoxSpace, DictSpace, DiscreteSpace
from clankers.policy.spec import KEYS_1_0

W = np.random.default_rng(11).normal(size=(4, 2)).astype(np.float32)
ACT2 = BoxSpace(shape=[2], dtype="float32", low=[-1.0], high=[1.0])


def _bytes(model: onnx.ModelProto) -> bytes:
    return model.SerializeToString()


VALID = _bytes(linear_model(W, props=standard_props()))

Case = tuple[str, Callable[[], bytes], bool]  # (id, make file bytes, load strictly)
CASES: list[Case] = []


def case(name: str, make: Callable[[], bytes], strict: bool = False) -> None:
    CASES.append((name, make, strict))


# --- not ONNX at all ------------------------------------------------------------------------------------
case("empty", lambda: b"")
for i, n in enumerate([1, 2, 7, 64, 512, 4096]):
    case(f"random-bytes-{n}", lambda n=n, i=i: np.random.default_rng(i).bytes(n))
for label, blob in {
    "text": b"this is a policy, trust me\n",
    "json": json.dumps({"obs": [1, 2], "action": [3]}).encode(),
    "zip": b"PK\x03\x04" + bytes(60),
    "png": b"\x89PNG\r\n\x1a\n" + bytes(40),
    "pickle": b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.",
    "nul": bytes(100),
    "ff": b"\xff" * 100,
    "onnx-text-format": b'ir_version: 8\ngraph { name: "g" }\n',
}.items():
    case(f"foreign-{label}", lambda blob=blob: blob)
case("empty-model", lambda: _bytes(onnx.ModelProto()))
case("model-without-graph", lambda: _bytes(helper.make_model(helper.make_graph([], "g", [], []))))


# --- truncated ------------------------------------------------------------------------------------------
def _varint(data: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if byte < 0x80:
            return value, i


def _field_boundaries(data: bytes) -> list[int]:
    """Offsets where each top-level protobuf field ends (a cut exactly there leaves a parsable message)."""
    ends, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        wire = key & 7
        if wire == 0:
            _, i = _varint(data, i)
        elif wire == 2:
            length, i = _varint(data, i)
            i += length
        else:
            i += 8 if wire == 1 else 4
        ends.append(i)
    return ends


for cut in sorted({*(len(VALID) * k // 40 for k in range(1, 40)), 1, 2, 3, len(VALID) - 1}):
    case(f"truncated-at-{cut}", lambda cut=cut: VALID[:cut], strict=True)
for cut in _field_boundaries(VALID)[:-1]:
    case(f"truncated-at-field-boundary-{cut}", lambda cut=cut: VALID[:cut], strict=True)


# --- wrong dtypes ---------------------------------------------------------------------------------------
for label, elem in {"int32": TensorProto.INT32, "int64": TensorProto.INT64, "bool": TensorProto.BOOL}.items():
    case(
        f"obs-dtype-{label}", lambda elem=elem: _bytes(linear_model(W, in_type=elem, props=standard_props()))
    )


def _cast_output(to: int, props: dict[str, str] | None) -> bytes:
    model = linear_model(W, out_name="raw", props=props)
    model.graph.node.append(helper.make_node("Cast", ["raw"], ["action"], to=to))
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info("action", to, ["batch", 2]))
    return _bytes(model)


case("action-dtype-int64-for-box", lambda: _cast_output(TensorProto.INT64, standard_props()))
case("action-dtype-bool", lambda: _cast_output(TensorProto.BOOL, standard_props()))
case("action-dtype-int32-no-metadata", lambda: _cast_output(TensorProto.INT32, None))
case(
    "discrete-space-float-output",
    lambda: _bytes(linear_model(W, props=metadata_props(action_space=DiscreteSpace(n=2)))),
)


# --- missing metadata -----------------------------------------------------------------------------------
def _without(key: str) -> bytes:
    props = standard_props()
    del props[key]
    return _bytes(linear_model(W, props=props))


for key in KEYS_1_0:
    case(f"missing-{key}", lambda key=key: _without(key), strict=True)
case("missing-all-metadata", lambda: _bytes(linear_model(W)), strict=True)
case(
    "recurrent-without-recurrent_state",
    lambda: _bytes(
        accumulator_model(
            props=metadata_props(action_space=BoxSpace(shape=[3], low=[0], high=[1]), recurrent=True)
        )
    ),
)
case(
    "dict-inputs-without-observation_space",
    lambda: _bytes(dict_model(3, (4, 4, 1), ("obs.joints", "obs.camera"), metadata_props(action_space=ACT2))),
)


# --- invalid metadata -----------------------------------------------------------------------------------
def _with(**changes: str) -> Callable[[], bytes]:
    def make() -> bytes:
        props = standard_props()
        props.update(changes)
        return _bytes(linear_model(W, props=props))

    return make


INVALID: dict[str, dict[str, str]] = {
    "action_space-not-json": {"action_space": "{type: Box}"},
    "action_space-truncated-json": {"action_space": '{"type": "Box", "shape": [2'},
    "action_space-list": {"action_space": "[2]"},
    "action_space-unknown-type": {"action_space": '{"type": "Tuple", "spaces": []}'},
    "action_space-negative-shape": {
        "action_space": '{"type": "Box", "shape": [-2], "low": [0], "high": [1]}'
    },
    "action_space-low-above-high": {
        "action_space": '{"type": "Box", "shape": [2], "low": [1, 1], "high": [0, 0]}'
    },
    "action_space-nan-bound": {"action_space": '{"type": "Box", "shape": [2], "low": [NaN], "high": [1]}'},
    "action_space-bad-dtype": {
        "action_space": '{"type": "Box", "shape": [2], "dtype": "int3", "low": [0], "high": [1]}'
    },
    "action_space-bound-count": {
        "action_space": '{"type": "Box", "shape": [2], "low": [0, 0, 0], "high": [1]}'
    },
    "action_space-shape-mismatch": {"action_space": '{"type": "Box", "shape": [3], "low": [0], "high": [1]}'},
    "action_space-missing-shape": {"action_space": '{"type": "Box", "low": [0], "high": [1]}'},
    "action_space-image-layout": {
        "action_space": '{"type": "Box", "shape": [2, 1, 1], "low": [0], "high": [1], "image_layout": "HWC"}'
    },
    "action_transform-unknown": {"action_transform": "sigmoid"},
    "action_transform-empty": {"action_transform": ""},
    "action_scale-not-json": {"action_scale": "1.0, 1.0"},
    "action_scale-length": {"action_scale": "[1.0]"},
    "action_scale-strings": {"action_scale": '["a", "b"]'},
    "action_scale-infinite": {"action_scale": "[Infinity, 1.0]"},
    "action_offset-object": {"action_offset": '{"a": 1}'},
    "action_offset-length": {"action_offset": "[0, 0, 0]"},
    "recurrent-yes": {"recurrent": "yes"},
    "deterministic_mode-1": {"deterministic_mode": "1"},
    "batch_inference-empty": {"batch_inference": ""},
    "version-garbage": {"clanker_policy_version": "latest"},
    "version-two-parts": {"clanker_policy_version": "1.0"},
    "version-prefixed": {"clanker_policy_version": "v1.0.0"},
    "observation_space-not-json": {"observation_space": "Box(4)"},
    "observation_space-shape-mismatch": {
        "observation_space": '{"type": "Box", "shape": [5], "low": [0], "high": [1]}'
    },
    "observation_space-discrete": {"observation_space": '{"type": "Discrete", "n": 4}'},
    "observation_layout-length": {
        "observation_space": '{"type": "Box", "shape": [4], "low": [0], "high": [1]}',
        "observation_layout": '["a", "b"]',
    },
    "observation_inputs-without-dict": {"observation_inputs": '{"a": "obs"}'},
    "observation_normalization-not-in-graph": {
        "observation_normalization": '{"kind": "vecnormalize", "in_graph": false}'
    },
    "observation_normalization-unknown-kind": {"observation_normalization": '{"kind": "zscore"}'},
    "recurrent_state-without-recurrent": {"recurrent_state": '{"tensors": [{"input": "h", "output": "h2"}]}'},
    "recurrent_state-empty": {"recurrent": "true", "recurrent_state": '{"tensors": []}'},
    "software_versions-list": {"software_versions": '["torch"]'},
    "export_time-no-zone": {"export_time": "2026-11-28T19:00:00"},
    "export_time-garbage": {"export_time": "yesterday"},
    "source_model_sha256-short": {"source_model_sha256": "abc123"},
    "parity-negative-samples": {
        "parity": '{"reference": "x", "n_samples": -1, "max_abs_diff": 0, "tolerance": 0, "passed": true}'
    },
    "parity-missing-fields": {"parity": '{"reference": "x"}'},
    "parity-not-json": {"parity": "passed"},
}
for label, changes in INVALID.items():
    case(f"invalid-{label}", _with(**changes))


def _duplicate_key() -> bytes:
    model = linear_model(W, props=standard_props())
    extra = model.metadata_props.add()
    extra.key, extra.value = "action_transform", "clip"
    return _bytes(model)


case("duplicate-metadata-key", _duplicate_key)
case(
    "discrete-with-tanh",
    _with(
        action_space='{"type": "Discrete", "n": 2}',
        action_transform="tanh",
        action_scale="[1]",
        action_offset="[0]",
    ),
)


# --- wrong shapes and names -----------------------------------------------------------------------------
SHAPES: dict[str, dict] = {
    "obs-rank-1": {"in_shape": [4]},
    "obs-unknown-feature-dim": {"in_shape": ["batch", "features"]},
    "obs-missing-feature-dim": {"in_shape": ["batch", None]},
    "obs-fixed-batch-3": {"batch": 3},
    "action-unknown-dim-and-no-space": {"out_shape": ["batch", "n"]},
    "obs-input-renamed": {"in_name": "input_1"},
    "action-output-renamed": {"out_name": "logits"},
}
for label, kwargs in SHAPES.items():
    props = None if label == "action-unknown-dim-and-no-space" else standard_props()
    case(f"shape-{label}", lambda kwargs=kwargs, props=props: _bytes(linear_model(W, props=props, **kwargs)))
case(
    "shape-discrete-output-rank-3",
    lambda: _bytes(_reshaped_discrete()),
)


def _reshaped_discrete() -> onnx.ModelProto:
    model = discrete_model(np.ones((4, 3), np.float32), metadata_props(action_space=DiscreteSpace(n=3)))
    model.graph.output[0].type.tensor_type.shape.dim.add().dim_value = 2
    model.graph.output[0].type.tensor_type.shape.dim.add().dim_value = 2
    return model


case(
    "shape-image-space-mismatch",
    lambda: _bytes(
        image_model(
            (6, 5, 3),
            2,
            metadata_props(
                action_space=ACT2,
                observation_space=BoxSpace(
                    shape=[3, 6, 5], dtype="uint8", low=[0], high=[255], image_layout="CHW"
                ),
            ),
        )
    ),
)
case(
    "shape-dict-key-missing-input",
    lambda: _bytes(
        dict_model(
            3,
            (4, 4, 1),
            ("obs.joints", "camera"),
            metadata_props(
                action_space=ACT2,
                observation_space=DictSpace(
                    spaces={
                        "joints": BoxSpace(shape=[3], dtype="float32", low=[-1.0], high=[1.0]),
                        "camera": BoxSpace(shape=[4, 4, 1], dtype="uint8", low=[0], high=[255]),
                    }
                ),
            ),
        )
    ),
)
case(
    "shape-state-batch-axis-out-of-range",
    lambda: _bytes(
        accumulator_model(
            props=metadata_props(
                action_space=BoxSpace(shape=[3], low=[0], high=[1]),
                recurrent=True,
                recurrent_state=RecurrentState(
                    tensors=[
                        StateTensor(input="h_in", output="h_out", batch_axis=5),
                        StateTensor(input="c_in", output="c_out"),
                    ]
                ),
            )
        )
    ),
)
case(
    "shape-undeclared-extra-input",
    lambda: _bytes(
        accumulator_model(props=metadata_props(action_space=BoxSpace(shape=[3], low=[0], high=[1])))
    ),
)


# --- future (and past) major versions -------------------------------------------------------------------
for version in ("2.0.0", "3.1.4", "10.0.0", "0.9.0"):
    case(f"major-version-{version}", _with(clanker_policy_version=version))


# --- the tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "make", "strict"), CASES, ids=[c[0] for c in CASES])
def test_malformed_file_gets_a_typed_error(
    tmp_path: Path, name: str, make: Callable[[], bytes], strict: bool
) -> None:
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(make())
    with pytest.raises(PolicyError) as info:
        OnnxPolicy(path, strict=strict)
    assert str(info.value).strip(), "the error must say what is wrong"
    report = check_policy(path)  # the checker reports instead of raising
    assert not report.conforms
    assert report.failures, "the checker must name at least one unmet requirement"


def test_corpus_size() -> None:
    """The count reported in the issue note: keep it honest if cases are added or removed."""
    assert len(CASES) >= 150, len(CASES)


def test_valid_base_file_loads_strictly(tmp_path: Path) -> None:
    """The corpus is derived from a file that is fine: the errors come from the damage, not the base."""
    path = tmp_path / "valid.onnx"
    path.write_bytes(VALID)
    assert OnnxPolicy(path, strict=True).act(np.zeros(4)).shape == (2,)
    assert check_policy(path).conforms


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048))
def test_random_bytes_get_a_typed_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "random.onnx"
    path.write_bytes(data)
    with pytest.raises(PolicyError):
        OnnxPolicy(path)


KNOWN = [*KEYS_1_0, "observation_space", "observation_layout", "recurrent_state", "parity", "export_time"]


@settings(max_examples=300, deadline=None)
@given(
    props=st.dictionaries(
        st.sampled_from(KNOWN) | st.text(max_size=8),
        st.text(max_size=40)
        | st.sampled_from(["true", "false", "[1.0, 1.0]", "{}", "[]", "1.0.0", "2.0.0", "none"]),
        max_size=6,
    )
)
def test_random_metadata_is_parsed_or_refused_with_a_typed_error(props: dict[str, str]) -> None:
    with contextlib.suppress(PolicyError):
        PolicyMetadata.from_metadata_props(props)


VALUES = st.text(max_size=30) | st.sampled_from(
    [
        "true",
        "false",
        "[1.0, 1.0]",
        "[2.0]",
        "{}",
        "1.0.0",
        "1.1.0",
        "2.0.0",
        "tanh",
        "clip",
        '{"type": "Box", "shape": [2], "low": [-1], "high": [1]}',
        '{"type": "Box", "shape": [2], "dtype": "float32", "low": ["-inf"], "high": ["inf"]}',
        '{"type": "Discrete", "n": 2}',
        '{"tensors": [{"input": "h", "output": "h2"}]}',
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(props=st.dictionaries(st.sampled_from(KNOWN), VALUES, max_size=6))
def test_checker_and_runtime_survive_any_metadata(tmp_path: Path, props: dict[str, str]) -> None:
    """On a sound graph, arbitrary metadata either loads or is refused with a typed error; the checker
    always returns a report."""
    path = tmp_path / "fuzz.onnx"
    path.write_bytes(_bytes(linear_model(W, props=props)))
    with contextlib.suppress(PolicyError):
        OnnxPolicy(path)
    report = check_policy(path)
    assert report.level in ("none", "basic", "standard", "verified")
