"""OnnxPolicy latency per kind of policy (Box, Discrete, image, recurrent) vs bare onnxruntime on the same file.

Each kind is a small representative graph built with ``onnx.helper`` (no torch needed): a 64x64 MLP with a
Box head, the same MLP with an in-graph argmax (Discrete), a small Nature-style CNN on a raw 84x84x3 uint8
frame, and an LSTM (64 hidden units) whose state the policy carries. "Bare" is the shortest correct
onnxruntime call a user could write: a prepared ``[1, ...]`` array, the same session options, and for the
recurrent kind the state tensors fed back by hand. The overhead of ``act`` is what validation, state
keeping and the action transform cost on top.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from benchmarks._timing import compare, machine_line, us
from clankers.policy import (
    BoxSpace,
    DiscreteSpace,
    OnnxPolicy,
    PolicyMetadata,
    RecurrentState,
    StateTensor,
)
from clankers.policy.runtime import session_options

RNG = np.random.default_rng(0)
OBS_DIM, HIDDEN, ACT_DIM = 4, 64, 2
TARGET = 1.2  # act within 1.2x of bare onnxruntime (issue 2's target for the Box kind)


def _init(name: str, shape: tuple[int, ...], scale: float = 0.1) -> onnx.TensorProto:
    return numpy_helper.from_array((RNG.normal(size=shape) * scale).astype(np.float32), name)


def _model(nodes: list, inputs: list, outputs: list, inits: list, meta: PolicyMetadata) -> onnx.ModelProto:
    model = helper.make_model(
        helper.make_graph(nodes, "policy", inputs, outputs, inits),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    helper.set_model_props(model, meta.to_metadata_props())
    onnx.checker.check_model(model)
    return model


def _mlp(source: str, in_dim: int) -> tuple[list, list]:
    nodes = [
        helper.make_node("Gemm", [source, "W1", "B1"], ["h1"]),
        helper.make_node("Tanh", ["h1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "W2", "B2"], ["h2"]),
        helper.make_node("Tanh", ["h2"], ["a2"]),
    ]
    inits = [
        _init("W1", (in_dim, HIDDEN)),
        _init("B1", (HIDDEN,)),
        _init("W2", (HIDDEN, HIDDEN)),
        _init("B2", (HIDDEN,)),
    ]
    return nodes, inits


BOX = BoxSpace(shape=[ACT_DIM], dtype="float32", low=[-1.0], high=[1.0])


def box_model() -> onnx.ModelProto:
    nodes, inits = _mlp("obs", OBS_DIM)
    nodes += [
        helper.make_node("Gemm", ["a2", "W3", "B3"], ["mean"]),
        helper.make_node("Clip", ["mean", "lo", "hi"], ["action"]),
    ]
    inits += [
        _init("W3", (HIDDEN, ACT_DIM)),
        _init("B3", (ACT_DIM,)),
        numpy_helper.from_array(np.array(-1.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(1.0, np.float32), "hi"),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", OBS_DIM])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", ACT_DIM])],
        inits,
        PolicyMetadata(action_space=BOX, algorithm="PPO"),
    )


def discrete_model() -> onnx.ModelProto:
    nodes, inits = _mlp("obs", OBS_DIM)
    nodes += [
        helper.make_node("Gemm", ["a2", "W3", "B3"], ["logits"]),
        helper.make_node("ArgMax", ["logits"], ["action"], axis=1, keepdims=0),
    ]
    inits += [_init("W3", (HIDDEN, 3)), _init("B3", (3,))]
    return _model(
        nodes,
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", OBS_DIM])],
        [helper.make_tensor_value_info("action", TensorProto.INT64, ["batch"])],
        inits,
        PolicyMetadata(action_space=DiscreteSpace(n=3), algorithm="DQN"),
    )


IMAGE = (84, 84, 3)


def image_model() -> onnx.ModelProto:
    h, w, c = IMAGE
    nodes = [
        helper.make_node("Cast", ["obs"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["f", "k255"], ["scaled"]),
        helper.make_node("Transpose", ["scaled"], ["chw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["chw", "K1", "C1"], ["c1"], kernel_shape=[8, 8], strides=[4, 4]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "K2", "C2"], ["c2"], kernel_shape=[4, 4], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Flatten", ["r2"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "WF", "BF"], ["fc"]),
        helper.make_node("Relu", ["fc"], ["rf"]),
        helper.make_node("Gemm", ["rf", "WA", "BA"], ["action"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(255.0, np.float32), "k255"),
        _init("K1", (16, c, 8, 8)),
        _init("C1", (16,)),
        _init("K2", (32, 16, 4, 4)),
        _init("C2", (32,)),
        _init("WF", (32 * 9 * 9, 128), 0.01),
        _init("BF", (128,)),
        _init("WA", (128, ACT_DIM)),
        _init("BA", (ACT_DIM,)),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("obs", TensorProto.UINT8, ["batch", h, w, c])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", ACT_DIM])],
        inits,
        PolicyMetadata(
            action_space=BOX,
            observation_space=BoxSpace(
                shape=list(IMAGE), dtype="uint8", low=[0], high=[255], image_layout="HWC"
            ),
        ),
    )


def recurrent_model() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Unsqueeze", ["obs", "ax0"], ["x"]),
        helper.make_node(
            "LSTM", ["x", "LW", "LR", "LB", "", "h_in", "c_in"], ["y", "h_out", "c_out"], hidden_size=HIDDEN
        ),
        helper.make_node("Squeeze", ["h_out", "ax0"], ["h"]),
        helper.make_node("Gemm", ["h", "WA", "BA"], ["action"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "ax0"),
        _init("LW", (1, 4 * HIDDEN, OBS_DIM)),
        _init("LR", (1, 4 * HIDDEN, HIDDEN)),
        _init("LB", (1, 8 * HIDDEN)),
        _init("WA", (HIDDEN, ACT_DIM)),
        _init("BA", (ACT_DIM,)),
    ]
    state = RecurrentState(
        tensors=[
            StateTensor(input="h_in", output="h_out", batch_axis=1),
            StateTensor(input="c_in", output="c_out", batch_axis=1),
        ]
    )
    return _model(
        nodes,
        [
            helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", OBS_DIM]),
            helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, "batch", HIDDEN]),
            helper.make_tensor_value_info("c_in", TensorProto.FLOAT, [1, "batch", HIDDEN]),
        ],
        [
            helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", ACT_DIM]),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, "batch", HIDDEN]),
            helper.make_tensor_value_info("c_out", TensorProto.FLOAT, [1, "batch", HIDDEN]),
        ],
        inits,
        PolicyMetadata(action_space=BOX, recurrent=True, recurrent_state=state, algorithm="RecurrentPPO"),
    )


def _observation(kind: str, n: int | None) -> np.ndarray:
    lead = () if n is None else (n,)
    if kind == "image":
        return RNG.integers(0, 256, size=(*lead, *IMAGE), dtype=np.uint8)
    return RNG.uniform(-1, 1, size=(*lead, OBS_DIM)).astype(np.float32)


def _bare(session: ort.InferenceSession, kind: str, x: np.ndarray):
    """The shortest correct bare onnxruntime call for ``x`` (a batch), state fed back by hand."""
    if kind != "recurrent":
        names = ["action"]
        return lambda: session.run(names, {"obs": x})
    n = x.shape[0]
    state = {"h_in": np.zeros((1, n, HIDDEN), np.float32), "c_in": np.zeros((1, n, HIDDEN), np.float32)}
    names = ["action", "h_out", "c_out"]

    def call() -> object:
        action, state["h_in"], state["c_in"] = session.run(names, {"obs": x, **state})
        return action

    return call


def measure(kind: str, path: Path, batch: int) -> tuple[float, float]:
    """Median seconds per call of ``OnnxPolicy`` and of the bare session, for one batch size."""
    policy = OnnxPolicy(path)
    session = ort.InferenceSession(
        str(path), sess_options=session_options(), providers=["CPUExecutionProvider"]
    )
    single = batch == 1
    obs = _observation(kind, None if single else batch)

    def ours() -> object:
        return policy.act(obs) if single else policy.act_batch(obs)

    bare = _bare(session, kind, obs[None] if single else obs)
    calls = {(True, False): 2000, (True, True): 300, (False, False): 100, (False, True): 3}
    number = calls[(single, kind == "image")]
    times = compare({"ours": ours, "bare": bare}, number=number, rounds=15)
    return times["ours"], times["bare"]


BUILDERS = {"Box": box_model, "Discrete": discrete_model, "image": image_model, "recurrent": recurrent_model}
KIND_NOTES = {
    "Box": "4 -> 64x64 tanh MLP -> 2, clip in graph",
    "Discrete": "same MLP, argmax in graph (int64)",
    "image": "raw 84x84x3 uint8 -> 2 convs -> 128 -> 2",
    "recurrent": "LSTM(64) state kept per env",
}


def main() -> str:
    lines = [
        "## Policy runtime latency per kind (OnnxPolicy vs bare onnxruntime)",
        "",
        machine_line(),
        "",
        "Command: `python -m benchmarks.run policy_runtime`. Same file, same session options "
        "(1 thread, no spinning); bare = `session.run` on a prepared array (recurrent: state fed back by hand).",
        "",
        "| kind | graph | batch | OnnxPolicy | bare onnxruntime | ratio |",
        "|---|---|---|---|---|---|",
    ]
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, build in BUILDERS.items():
            path = Path(tmp) / f"{kind}.onnx"
            onnx.save(build(), str(path))
            for batch in (1, 256):
                ours, bare = measure(kind, path, batch)
                ratio = ours / bare
                lines.append(
                    f"| {kind} | {KIND_NOTES[kind]} | {batch} | {us(ours)} | {us(bare)} | {ratio:.2f}x |"
                )
                if batch == 1:
                    verdicts.append(f"{kind} {ratio:.2f}x")
    met = all(float(v.split()[-1][:-1]) <= TARGET for v in verdicts)
    lines += [
        "",
        f"- `act` / bare at batch 1: {', '.join(verdicts)} (target <= {TARGET}x): {'met' if met else 'NOT met'}",
        "- The per-call overhead is the observation check (shape, dtype, NaN/inf), the action transform and, "
        "for recurrent policies, the state bookkeeping under a lock; it is a fixed cost, so it vanishes "
        "relative to larger graphs (image) and larger batches. `OnnxPolicy` calls onnxruntime's C session "
        "directly, skipping the Python-level input-name validation of the public `run()` (about 1 µs), "
        "which pays for most of its own checks.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
