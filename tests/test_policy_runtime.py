"""OnnxPolicy: loading, the three action transforms, batching, thread safety and every typed error."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from _policy_graphs import identity_first, linear_model, save, standard_props
from clankers.errors import (
    MetadataError,
    NotAnOnnxModelError,
    ObservationError,
    PolicyError,
    PolicyFileNotFoundError,
    PolicyTensorError,
    UnsupportedVersionError,
)
from clankers.policy import OnnxPolicy


def _weights(obs_dim: int = 4, act_dim: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(obs_dim, act_dim)).astype(np.float32)


@pytest.fixture
def standard_file(tmp_path: Path) -> Path:
    return save(linear_model(_weights(), props=standard_props()), tmp_path / "policy.onnx")


def test_loads_names_dims_and_metadata(standard_file: Path) -> None:
    policy = OnnxPolicy(standard_file)
    assert (policy.input_name, policy.output_name) == ("obs", "action")
    assert (policy.obs_dim, policy.act_dim) == (4, 2)
    assert policy.path == standard_file
    assert policy.metadata.training_framework == "stable-baselines3"
    assert policy.dynamic_batch


def test_act_matches_the_graph(standard_file: Path) -> None:
    policy, w = OnnxPolicy(standard_file), _weights()
    obs = np.array([0.5, -1.0, 2.0, 0.25], dtype=np.float32)
    out = policy.act(obs)
    assert out.shape == (2,) and out.dtype == np.float32
    np.testing.assert_allclose(out, obs @ w, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(policy.act(obs.tolist()), out)  # lists and float64 are converted


def test_act_batch_matches_rows(standard_file: Path) -> None:
    policy = OnnxPolicy(standard_file)
    obs = np.random.default_rng(1).normal(size=(7, 4)).astype(np.float32)
    batch = policy.act_batch(obs)
    assert batch.shape == (7, 2)
    np.testing.assert_allclose(batch, np.stack([policy.act(o) for o in obs]), atol=1e-6)
    assert policy.act_batch(np.zeros((0, 4))).shape == (0, 2)


def test_other_tools_file_tanh_scale_fixed_batch_no_dtype(tmp_path: Path) -> None:
    """The issue's example: 4-in/2-out identity, tanh with scale 2, fixed batch 1, no dtype, no version."""
    props = {
        "action_space": '{"type": "Box", "shape": [2], "low": [-2.0, -2.0], "high": [2.0, 2.0]}',
        "action_transform": "tanh",
        "action_scale": "[2.0, 2.0]",
        "action_offset": "[0.0, 0.0]",
    }
    path = save(linear_model(identity_first(), batch=1, props=props), tmp_path / "other.onnx")
    policy = OnnxPolicy(path)
    assert not policy.dynamic_batch
    np.testing.assert_array_equal(policy.act(np.array([1.0, 0.0, 0.0, 0.0])), [2.0, 0.0])
    # act_batch still works on a fixed-batch-1 graph (one call per row)
    out = policy.act_batch([[1.0, 0.0, 0, 0], [0.25, -0.5, 0, 0], [0, 0, 9, 9]])
    np.testing.assert_allclose(out, [[2.0, 0.0], [0.5, -1.0], [0.0, 0.0]])


def test_tanh_applies_scale_and_offset(tmp_path: Path) -> None:
    props = standard_props(action_transform="tanh", action_scale=[2.0, 0.5], action_offset=[1.0, -1.0])
    policy = OnnxPolicy(save(linear_model(identity_first(), props=props), tmp_path / "p.onnx"))
    np.testing.assert_allclose(policy.act([0.5, -0.5, 0, 0]), [0.5 * 2.0 + 1.0, -0.5 * 0.5 - 1.0])


def test_clip_clamps_to_action_space(tmp_path: Path) -> None:
    props = standard_props(action_transform="clip")
    policy = OnnxPolicy(save(linear_model(identity_first(), props=props), tmp_path / "p.onnx"))
    np.testing.assert_array_equal(policy.act([3.0, -0.25, 0, 0]), [1.0, -0.25])
    np.testing.assert_array_equal(
        policy.act_batch([[3.0, -7.0, 0, 0], [-0.5, 0.5, 0, 0]]), [[1, -1], [-0.5, 0.5]]
    )


def test_none_leaves_output_alone_and_missing_transform_means_none(tmp_path: Path) -> None:
    for props in (standard_props(), {}):
        policy = OnnxPolicy(save(linear_model(identity_first(), props=props), tmp_path / "p.onnx"))
        np.testing.assert_array_equal(policy.act([3.0, -7.0, 0, 0]), [3.0, -7.0])


def test_alternative_tensor_names(tmp_path: Path) -> None:
    model = linear_model(_weights(), in_name="observation", out_name="actions", props=standard_props())
    policy = OnnxPolicy(save(model, tmp_path / "p.onnx"))
    assert (policy.input_name, policy.output_name) == ("observation", "actions")
    assert policy.act(np.zeros(4)).shape == (2,)


def test_thread_safe_act(standard_file: Path) -> None:
    policy, w = OnnxPolicy(standard_file), _weights()
    errors: list[str] = []

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(300):
            obs = rng.normal(size=4).astype(np.float32)
            if not np.allclose(policy.act(obs), obs @ w, atol=1e-5):
                errors.append(f"thread {seed} got a wrong action")

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# --- typed errors --------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileNotFoundError, match="does not exist"):
        OnnxPolicy(tmp_path / "nope.onnx")


@pytest.mark.parametrize("content", [b"", b"definitely not protobuf \xff\xfe", b"PK\x03\x04zipfile"])
def test_not_onnx(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(NotAnOnnxModelError):
        OnnxPolicy(path)


def test_truncated_file(standard_file: Path) -> None:
    data = standard_file.read_bytes()
    standard_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(NotAnOnnxModelError):
        OnnxPolicy(standard_file)


def test_no_observation_input(tmp_path: Path) -> None:
    path = save(linear_model(_weights(), in_name="input_0"), tmp_path / "p.onnx")
    with pytest.raises(PolicyTensorError, match="input_0"):
        OnnxPolicy(path)


def test_no_action_output(tmp_path: Path) -> None:
    path = save(linear_model(_weights(), out_name="logits"), tmp_path / "p.onnx")
    with pytest.raises(PolicyTensorError, match="logits"):
        OnnxPolicy(path)


@pytest.mark.parametrize("in_shape", [["batch", "features"], ["batch", None], ["batch"]])
def test_unknown_observation_dims(tmp_path: Path, in_shape: list) -> None:
    path = save(linear_model(_weights(), in_shape=in_shape), tmp_path / "p.onnx")
    with pytest.raises(PolicyTensorError):
        OnnxPolicy(path)


def test_unknown_action_dims_without_metadata(tmp_path: Path) -> None:
    path = save(linear_model(_weights(), out_shape=["batch", "n"]), tmp_path / "p.onnx")
    with pytest.raises(PolicyTensorError, match="unknown"):
        OnnxPolicy(path)


def test_action_space_disagreeing_with_output(tmp_path: Path) -> None:
    path = save(linear_model(_weights(act_dim=3), props=standard_props(act_dim=2)), tmp_path / "p.onnx")
    with pytest.raises(MetadataError, match="3 per sample"):
        OnnxPolicy(path)


@pytest.mark.parametrize("obs", [np.zeros(3), np.zeros(5), np.zeros((1, 4)), np.zeros((2, 2)), 0.0])
def test_wrong_observation_size_is_never_padded(standard_file: Path, obs: object) -> None:
    with pytest.raises(ObservationError, match="expects"):
        OnnxPolicy(standard_file).act(obs)


def test_wrong_batch_shape(standard_file: Path) -> None:
    policy = OnnxPolicy(standard_file)
    with pytest.raises(ObservationError):
        policy.act_batch(np.zeros(4))
    with pytest.raises(ObservationError):
        policy.act_batch(np.zeros((3, 5)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_observation(standard_file: Path, bad: float) -> None:
    policy = OnnxPolicy(standard_file)
    with pytest.raises(ObservationError, match=r"NaN or inf at index\(es\) \[\(2,\)\]"):
        policy.act([0.0, 1.0, bad, 0.0])
    rows = np.zeros((3, 4))
    rows[1, 3] = bad
    with pytest.raises(ObservationError, match=r"\(1, 3\)"):
        policy.act_batch(rows)


def test_huge_but_finite_observation_is_accepted(standard_file: Path) -> None:
    # the float32 sum overflows, but every element is finite: must not be rejected
    out = OnnxPolicy(standard_file).act(np.full(4, 3e38, dtype=np.float32))
    assert out.shape == (2,)


def test_non_numeric_observation(standard_file: Path) -> None:
    with pytest.raises(ObservationError, match="numeric"):
        OnnxPolicy(standard_file).act(["a", "b", "c", "d"])


def test_unparsable_metadata_json(tmp_path: Path) -> None:
    props = standard_props()
    props["action_space"] = '{"type": "Box", "shape": [2'
    with pytest.raises(MetadataError, match="action_space"):
        OnnxPolicy(save(linear_model(_weights(), props=props), tmp_path / "p.onnx"))


def test_unsupported_major_version(tmp_path: Path) -> None:
    props = standard_props()
    props["clanker_policy_version"] = "2.0.0"
    with pytest.raises(UnsupportedVersionError, match=r"2\.0\.0"):
        OnnxPolicy(save(linear_model(_weights(), props=props), tmp_path / "p.onnx"))


def test_duplicate_metadata_key(tmp_path: Path) -> None:
    model = linear_model(_weights(), props=standard_props())
    extra = model.metadata_props.add()
    extra.key, extra.value = "action_transform", "tanh"
    with pytest.raises(MetadataError, match="more than once"):
        OnnxPolicy(save(model, tmp_path / "p.onnx"))


def test_integer_observation_input_is_refused(tmp_path: Path) -> None:
    path = save(linear_model(_weights(), in_type=TensorProto.INT32), tmp_path / "p.onnx")
    with pytest.raises(PolicyTensorError, match="int32"):
        OnnxPolicy(path)


def test_graph_onnxruntime_cannot_load(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("NoSuchOp", ["obs"], ["action"], domain="nowhere.example")],
        "g",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", 2])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("nowhere.example", 1)]
    )
    path = tmp_path / "p.onnx"
    onnx.save(model, str(path))
    with pytest.raises(PolicyError, match="onnxruntime cannot load"):
        OnnxPolicy(path)


def test_recurrent_without_state_description_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="recurrent"):
        OnnxPolicy(save(linear_model(_weights(), props=standard_props(recurrent=True)), tmp_path / "p.onnx"))


def test_unavailable_provider(standard_file: Path) -> None:
    with pytest.raises(PolicyError, match="not available"):
        OnnxPolicy(standard_file, providers=["NoSuchExecutionProvider"])


def test_cpu_is_the_default_provider(standard_file: Path) -> None:
    assert OnnxPolicy(standard_file).providers == ["CPUExecutionProvider"]
    auto = OnnxPolicy(standard_file, providers="auto")
    assert auto.providers[-1] == "CPUExecutionProvider"
    np.testing.assert_allclose(auto.act(np.ones(4)), OnnxPolicy(standard_file).act(np.ones(4)), atol=1e-6)


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA is available here")
def test_cuda_without_onnxruntime_gpu_is_a_clear_error(standard_file: Path) -> None:
    with pytest.raises(PolicyError, match="onnxruntime-gpu"):
        OnnxPolicy(standard_file, providers="cuda")


def test_strict_loading_refuses_incomplete_metadata(tmp_path: Path) -> None:
    props = standard_props()
    del props["deterministic_mode"]
    path = save(linear_model(_weights(), props=props), tmp_path / "p.onnx")
    assert OnnxPolicy(path).metadata.deterministic_mode is False  # lenient: the default
    with pytest.raises(MetadataError, match="deterministic_mode"):
        OnnxPolicy(path, strict=True)


def test_deterministic_mode_asks_onnxruntime_for_deterministic_kernels(tmp_path: Path) -> None:
    for flag in (False, True):
        props = standard_props(deterministic_mode=flag)
        policy = OnnxPolicy(save(linear_model(_weights(), props=props), tmp_path / f"p{flag}.onnx"))
        assert policy._session.get_session_options().use_deterministic_compute is flag
