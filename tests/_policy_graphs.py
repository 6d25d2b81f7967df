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


# --- format 1.1 kinds -----------------------------------------------------------------------------------


def _model(
    nodes: list, inputs: list, outputs: list, inits: list, props: dict[str, str] | None
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "policy", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    if props:
        helper.set_model_props(model, props)
    return model


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(value, name)


def discrete_model(
    weights: np.ndarray, props: dict[str, str] | None = None, keep_dim: bool = False
) -> onnx.ModelProto:
    """``argmax(obs @ weights)`` as int64 ``[batch]`` (or ``[batch, 1]`` with ``keep_dim``)."""
    obs_dim = weights.shape[0]
    nodes = [
        helper.make_node("MatMul", ["obs", "W"], ["logits"]),
        helper.make_node("ArgMax", ["logits"], ["action"], axis=1, keepdims=int(keep_dim)),
    ]
    out_shape: list[Dim] = ["batch", 1] if keep_dim else ["batch"]
    return _model(
        nodes,
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", obs_dim])],
        [helper.make_tensor_value_info("action", TensorProto.INT64, out_shape)],
        [_const("W", weights.astype(np.float32))],
        props,
    )


def multidiscrete_model(
    weights: np.ndarray, nvec: list[int], props: dict[str, str] | None = None
) -> onnx.ModelProto:
    """One argmax per branch of ``obs @ weights`` (columns split by ``nvec``): int64 ``[batch, len(nvec)]``."""
    obs_dim = weights.shape[0]
    branches = [f"b{i}" for i in range(len(nvec))]
    picks = [f"p{i}" for i in range(len(nvec))]
    nodes = [
        helper.make_node("MatMul", ["obs", "W"], ["logits"]),
        helper.make_node("Split", ["logits", "sizes"], branches, axis=1),
        *[
            helper.make_node("ArgMax", [b], [p], axis=1, keepdims=1)
            for b, p in zip(branches, picks, strict=True)
        ],
        helper.make_node("Concat", picks, ["action"], axis=1),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", obs_dim])],
        [helper.make_tensor_value_info("action", TensorProto.INT64, ["batch", len(nvec)])],
        [_const("W", weights.astype(np.float32)), _const("sizes", np.array(nvec, dtype=np.int64))],
        props,
    )


def multibinary_model(weights: np.ndarray, props: dict[str, str] | None = None) -> onnx.ModelProto:
    """``obs @ weights > 0`` as int64 ``[batch, n]``."""
    obs_dim, n = weights.shape
    nodes = [
        helper.make_node("MatMul", ["obs", "W"], ["logits"]),
        helper.make_node("Greater", ["logits", "zero"], ["on"]),
        helper.make_node("Cast", ["on"], ["action"], to=TensorProto.INT64),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", obs_dim])],
        [helper.make_tensor_value_info("action", TensorProto.INT64, ["batch", n])],
        [_const("W", weights.astype(np.float32)), _const("zero", np.array(0.0, dtype=np.float32))],
        props,
    )


def image_model(
    hwc: tuple[int, int, int], act_dim: int, props: dict[str, str] | None = None
) -> onnx.ModelProto:
    """uint8 HWC frame -> per-channel mean of pixels/255 -> first ``act_dim`` channel means as the action."""
    h, w, c = hwc
    select = np.zeros((c, act_dim), dtype=np.float32)
    select[np.arange(min(c, act_dim)), np.arange(min(c, act_dim))] = 1.0
    nodes = [
        helper.make_node("Cast", ["obs"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["f", "k255"], ["scaled"]),
        helper.make_node("ReduceMean", ["scaled"], ["means"], axes=[1, 2], keepdims=0),
        helper.make_node("MatMul", ["means", "S"], ["action"]),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("obs", TensorProto.UINT8, ["batch", h, w, c])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", act_dim])],
        [_const("k255", np.array(255.0, dtype=np.float32)), _const("S", select)],
        props,
    )


def dict_model(
    vec_dim: int, img_hwc: tuple[int, int, int], names: tuple[str, str], props: dict[str, str] | None = None
) -> onnx.ModelProto:
    """Two inputs: a float vector and a uint8 image; action = [sum(vector), mean(image)/255]."""
    vec, img = names
    h, w, c = img_hwc
    nodes = [
        helper.make_node("ReduceSum", [vec, "ax1"], ["vsum"], keepdims=1),
        helper.make_node("Cast", [img], ["imgf"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["imgf", "k255"], ["imgs"]),
        helper.make_node("ReduceMean", ["imgs"], ["imean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["imean", "ax1"], ["imean2"]),
        helper.make_node("Concat", ["vsum", "imean2"], ["action"], axis=1),
    ]
    return _model(
        nodes,
        [
            helper.make_tensor_value_info(vec, TensorProto.FLOAT, ["batch", vec_dim]),
            helper.make_tensor_value_info(img, TensorProto.UINT8, ["batch", h, w, c]),
        ],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", 2])],
        [_const("k255", np.array(255.0, dtype=np.float32)), _const("ax1", np.array([1], dtype=np.int64))],
        props,
    )


def accumulator_model(
    obs_dim: int = 3,
    *,
    episode_start: bool = False,
    batch: Dim = "batch",
    props: dict[str, str] | None = None,
) -> onnx.ModelProto:
    """A recurrent toy with two states whose values are easy to predict.

    ``h`` ([1, batch, 2], batch axis 1) accumulates the first two observation entries; ``c`` ([batch, 1])
    counts steps. The action is ``[h_new[0], h_new[1], c_new]``. With ``episode_start`` the graph also
    zeroes both states where the flag is 1 (as SB3's recurrent policies do).
    """
    nodes = [
        helper.make_node("Slice", ["obs", "s0", "s2", "ax1"], ["x2"]),  # [batch, 2]
        helper.make_node("Unsqueeze", ["x2", "ax0"], ["x3"]),  # [1, batch, 2]
    ]
    h, c = "h_in", "c_in"
    inputs = [
        helper.make_tensor_value_info("obs", TensorProto.FLOAT, [batch, obs_dim]),
        helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, batch, 2]),
        helper.make_tensor_value_info("c_in", TensorProto.FLOAT, [batch, 1]),
    ]
    if episode_start:
        inputs.append(helper.make_tensor_value_info("episode_start", TensorProto.FLOAT, [batch]))
        nodes += [
            helper.make_node("Sub", ["one", "episode_start"], ["keep"]),  # [batch]
            helper.make_node("Unsqueeze", ["keep", "ax1"], ["keep_c"]),  # [batch, 1]
            helper.make_node("Unsqueeze", ["keep_c", "ax0"], ["keep_h"]),  # [1, batch, 1]
            helper.make_node("Mul", ["h_in", "keep_h"], ["h_kept"]),
            helper.make_node("Mul", ["c_in", "keep_c"], ["c_kept"]),
        ]
        h, c = "h_kept", "c_kept"
    nodes += [
        helper.make_node("Add", [h, "x3"], ["h_out"]),
        helper.make_node("Add", [c, "one"], ["c_out"]),
        helper.make_node("Squeeze", ["h_out", "ax0"], ["h_flat"]),
        helper.make_node("Concat", ["h_flat", "c_out"], ["action"], axis=1),
    ]
    inits = [
        _const("s0", np.array([0], dtype=np.int64)),
        _const("s2", np.array([2], dtype=np.int64)),
        _const("ax0", np.array([0], dtype=np.int64)),
        _const("ax1", np.array([1], dtype=np.int64)),
        _const("one", np.array(1.0, dtype=np.float32)),
    ]
    return _model(
        nodes,
        inputs,
        [
            helper.make_tensor_value_info("action", TensorProto.FLOAT, [batch, 3]),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, batch, 2]),
            helper.make_tensor_value_info("c_out", TensorProto.FLOAT, [batch, 1]),
        ],
        inits,
        props,
    )


def metadata_props(**fields: object) -> dict[str, str]:
    """Complete metadata for any kind: pass action_space and whatever 1.1 keys the case needs."""
    space = fields["action_space"]
    size = space.size  # type: ignore[attr-defined]
    base: dict[str, object] = {
        "action_transform": "none",
        "action_scale": [1.0] * size,
        "action_offset": [0.0] * size,
        "training_framework": "stable-baselines3",
    }
    base.update(fields)
    return PolicyMetadata(**base).to_metadata_props()
