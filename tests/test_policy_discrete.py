"""Discrete, MultiDiscrete and MultiBinary action spaces: int64 actions straight from the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _policy_graphs import (
    discrete_model,
    linear_model,
    metadata_props,
    multibinary_model,
    multidiscrete_model,
    save,
)
from clankers.errors import MetadataError, PolicyTensorError
from clankers.policy import OnnxPolicy, check_policy
from clankers.policy.spaces import DiscreteSpace, MultiBinarySpace, MultiDiscreteSpace

RNG = np.random.default_rng(3)
W = RNG.normal(size=(4, 5)).astype(np.float32)
OBS = RNG.normal(size=(9, 4)).astype(np.float32)


def test_discrete_returns_int64_indices(tmp_path: Path) -> None:
    props = metadata_props(action_space=DiscreteSpace(n=5))
    policy = OnnxPolicy(save(discrete_model(W, props), tmp_path / "p.onnx"))
    assert policy.is_discrete and policy.act_shape == () and policy.act_dim == 1
    one = policy.act(OBS[0])
    assert one.shape == () and one.dtype == np.int64
    assert int(one) == int(np.argmax(OBS[0] @ W))
    batch = policy.act_batch(OBS)
    assert batch.shape == (9,) and batch.dtype == np.int64
    np.testing.assert_array_equal(batch, np.argmax(OBS @ W, axis=1))
    assert policy.act_batch(np.zeros((0, 4))).dtype == np.int64
    assert check_policy(policy.path).conforms


def test_discrete_with_kept_dimension_is_squeezed(tmp_path: Path) -> None:
    props = metadata_props(action_space=DiscreteSpace(n=5))
    policy = OnnxPolicy(save(discrete_model(W, props, keep_dim=True), tmp_path / "p.onnx"))
    assert policy.act_batch(OBS).shape == (9,)
    assert policy.act(OBS[0]).shape == ()


def test_multidiscrete_one_index_per_branch(tmp_path: Path) -> None:
    nvec = [2, 3]
    props = metadata_props(action_space=MultiDiscreteSpace(nvec=nvec))
    policy = OnnxPolicy(save(multidiscrete_model(W, nvec, props), tmp_path / "p.onnx"))
    logits = OBS @ W
    expected = np.stack([np.argmax(logits[:, :2], axis=1), np.argmax(logits[:, 2:], axis=1)], axis=1)
    np.testing.assert_array_equal(policy.act_batch(OBS), expected)
    assert policy.act(OBS[0]).shape == (2,)
    assert check_policy(policy.path).conforms


def test_multibinary(tmp_path: Path) -> None:
    props = metadata_props(action_space=MultiBinarySpace(n=5))
    policy = OnnxPolicy(save(multibinary_model(W, props), tmp_path / "p.onnx"))
    np.testing.assert_array_equal(policy.act_batch(OBS), (OBS @ W > 0).astype(np.int64))
    assert check_policy(policy.path).conforms


def test_float_output_with_discrete_space_is_refused(tmp_path: Path) -> None:
    props = metadata_props(action_space=DiscreteSpace(n=5))
    path = save(linear_model(W, props=props), tmp_path / "p.onnx")
    with pytest.raises(PolicyTensorError, match="not logits"):
        OnnxPolicy(path)


def test_integer_output_without_discrete_space_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyTensorError, match="Discrete"):
        OnnxPolicy(save(discrete_model(W), tmp_path / "p.onnx"))


def test_branch_count_mismatch(tmp_path: Path) -> None:
    props = metadata_props(action_space=MultiDiscreteSpace(nvec=[2, 2, 1]))
    with pytest.raises(MetadataError, match="output shape"):
        OnnxPolicy(save(multidiscrete_model(W, [2, 3], props), tmp_path / "p.onnx"))


def test_discrete_space_refuses_a_transform() -> None:
    with pytest.raises(MetadataError, match="only action_transform 'none'"):
        metadata_props(action_space=DiscreteSpace(n=5), action_transform="tanh")
