"""Builders for small policy files, made with ``onnx.helper`` so policy tests need neither torch nor the exporter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from clankers.policy import BoxSpace, PolicyMetadata

Dim = int | str | None


def standard_props(act_dim: int = 2, **overrides: object) -> dict[str, str]:
    """The complete metadata an exporter writes for a Box policy with bounds [-1, 1]."""
    fields: dict[str, object] = {
        "action_space": BoxSpace(
            shape=[act_dim], dtype="float32", low=[-1.0] * act_dim, high=[1.0] * act_dim
        ),
        "action_transform": "none",
        "action_scale": [1.0] * act_dim,
        "action_offset": [0.0] * act_dim,
        "training_framework": "stable-baselines3",
        "recurrent": False,
        "deterministic_mode": False,
        "batch_inference": True,
    }
    fields.update(overrides)
    return PolicyMetadata(**fields).to_metadata_props()


def linear_model(
    weights: np.ndarray,
    *,
    in_name: str = "obs",
    out_name: str = "action",
    batch: Dim = "batch",
    in_shape: list[Dim] | None = None,
    out_shape: list[Dim] | None = None,
    in_type: int = TensorProto.FLOAT,
    props: dict[str, str] | None = None,
) -> onnx.ModelProto:
    """A graph computing ``obs @ weights`` (weights: [obs_dim, act_dim])."""
    obs_dim, act_dim = weights.shape
    nodes = []
    source = in_name
    if in_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [in_name], ["obs_f"], to=TensorProto.FLOAT))
        source = "obs_f"
    nodes.append(helper.make_node("MatMul", [source, "W"], [out_name]))
    graph = helper.make_graph(
        nodes,
        "policy",
        [helper.make_tensor_value_info(in_name, in_type, in_shape or [batch, obs_dim])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape or [batch, act_dim])],
        [numpy_helper.from_array(weights.astype(np.float32), "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime we support
    if props:
        helper.set_model_props(model, props)
    return model


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def identity_first(obs_dim: int = 4, act_dim: int = 2) -> np.ndarray:
    """Weights that copy the first ``act_dim`` observation entries to the action."""
    w = np.zeros((obs_dim, act_dim), dtype=np.float32)
    w[np.arange(act_dim), np.arange(act_dim)] = 1.0
    return w
