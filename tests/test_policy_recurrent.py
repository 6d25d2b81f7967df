"""Recurrent policies: state kept per environment, reset on episode start, and a stateless step API."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from _policy_graphs import accumulator_model, metadata_props, save
from clankers.errors import PolicyError, PolicyTensorError, RecurrentStateError
from clankers.policy import OnnxPolicy, check_policy
from clankers.policy.records import RecurrentState, StateTensor
from clankers.policy.spaces import BoxSpace

ACT3 = BoxSpace(shape=[3], dtype="float32", low=["-inf"], high=["inf"])


def _props(episode_start: bool = False, **extra: object) -> dict[str, str]:
    state = RecurrentState(
        tensors=[
            StateTensor(input="h_in", output="h_out", batch_axis=1),
            StateTensor(input="c_in", output="c_out", batch_axis=0),
        ],
        episode_start="episode_start" if episode_start else None,
    )
    return metadata_props(action_space=ACT3, recurrent=True, recurrent_state=state, **extra)


@pytest.fixture(params=[False, True], ids=["runtime-reset", "graph-reset"])
def policy(request: pytest.FixtureRequest, tmp_path: Path) -> OnnxPolicy:
    with_start = request.param
    model = accumulator_model(episode_start=with_start, props=_props(with_start))
    return OnnxPolicy(save(model, tmp_path / "rnn.onnx"))


def test_state_carries_over_between_calls(policy: OnnxPolicy) -> None:
    assert policy.recurrent
    assert policy.dynamic_batch  # the state's batch axis is 1 for h and 0 for c: both dynamic
    np.testing.assert_allclose(policy.act([1.0, 2.0, 9.0]), [1.0, 2.0, 1.0])
    np.testing.assert_allclose(policy.act([0.5, 0.5, 9.0]), [1.5, 2.5, 2.0])
    np.testing.assert_allclose(policy.act([1.0, 1.0, 9.0], episode_start=True), [1.0, 1.0, 1.0])
    policy.reset()
    np.testing.assert_allclose(policy.act([3.0, 0.0, 0.0]), [3.0, 0.0, 1.0])


def test_batched_state_is_per_environment(policy: OnnxPolicy) -> None:
    obs = np.array([[1, 0, 0], [0, 1, 0], [2, 2, 0]], dtype=np.float32)
    policy.act_batch(obs)
    out = policy.act_batch(obs, episode_start=[False, True, False])
    # env 0 and 2 accumulate two steps; env 1 restarted and has one
    np.testing.assert_allclose(out, [[2, 0, 2], [0, 1, 1], [4, 4, 2]])
    out = policy.act_batch(obs)
    np.testing.assert_allclose(out[:, 2], [3, 2, 3])


def test_batch_size_change_needs_episode_starts(policy: OnnxPolicy) -> None:
    policy.act_batch(np.zeros((3, 3)))
    with pytest.raises(RecurrentStateError, match="batch changed"):
        policy.act_batch(np.zeros((2, 3)))
    out = policy.act_batch(np.ones((2, 3)), episode_start=[True, True])
    np.testing.assert_allclose(out, [[1, 1, 1], [1, 1, 1]])


def test_stateless_step_api(policy: OnnxPolicy) -> None:
    obs = np.ones((2, 3), dtype=np.float32)
    a1, s1 = policy.step(obs, None)
    a2, s2 = policy.step(obs, s1, episode_start=[True, False])
    np.testing.assert_allclose(a1[:, 2], [1, 1])
    np.testing.assert_allclose(a2[:, 2], [1, 2])
    assert [s.shape for s in s2] == [(1, 2, 2), (2, 1)]
    with pytest.raises(RecurrentStateError):
        policy.step(obs, [np.zeros((1, 3, 2)), np.zeros((2, 1))])
    # nothing was stored: act_batch still starts fresh
    np.testing.assert_allclose(policy.act_batch(obs)[:, 2], [1, 1])


def test_initial_state_shapes(policy: OnnxPolicy) -> None:
    h, c = policy.initial_state(4)
    assert h.shape == (1, 4, 2) and c.shape == (4, 1) and not h.any()


def test_concurrent_act_batch_keeps_state_consistent(policy: OnnxPolicy) -> None:
    obs = np.ones((2, 3), dtype=np.float32)
    policy.act_batch(obs)
    threads = [threading.Thread(target=lambda: [policy.act_batch(obs) for _ in range(50)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 1 + 200 steps, none lost to a race
    np.testing.assert_allclose(policy.act_batch(obs)[:, 2], [202, 202])


def test_fixed_batch_one_recurrent_graph_loops_rows(tmp_path: Path) -> None:
    policy = OnnxPolicy(save(accumulator_model(batch=1, props=_props()), tmp_path / "rnn1.onnx"))
    assert not policy.dynamic_batch
    obs = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32)
    policy.act_batch(obs)
    np.testing.assert_allclose(policy.act_batch(obs), [[2, 0, 2], [0, 2, 2]])


def test_recurrent_policy_conforms(tmp_path: Path) -> None:
    report = check_policy(
        save(accumulator_model(episode_start=True, props=_props(True)), tmp_path / "r.onnx")
    )
    assert report.conforms, report.to_text()


def test_recurrent_without_state_description(tmp_path: Path) -> None:
    props = metadata_props(action_space=ACT3, recurrent=True)
    with pytest.raises(PolicyError, match="recurrent_state"):
        OnnxPolicy(save(accumulator_model(props=props), tmp_path / "r.onnx"))


def test_state_not_in_graph(tmp_path: Path) -> None:
    state = RecurrentState(tensors=[StateTensor(input="hidden", output="h_out", batch_axis=1)])
    props = metadata_props(action_space=ACT3, recurrent=True, recurrent_state=state)
    with pytest.raises(PolicyTensorError, match="hidden"):
        OnnxPolicy(save(accumulator_model(props=props), tmp_path / "r.onnx"))


def test_undeclared_extra_input(tmp_path: Path) -> None:
    # the graph has state inputs, but the metadata does not declare the policy recurrent
    with pytest.raises(PolicyTensorError, match="neither observations nor declared"):
        OnnxPolicy(save(accumulator_model(props=metadata_props(action_space=ACT3)), tmp_path / "r.onnx"))


def test_act_after_act_batch_needs_an_episode_start(policy: OnnxPolicy) -> None:
    policy.act_batch(np.ones((3, 3)))
    with pytest.raises(RecurrentStateError, match="several"):
        policy.act(np.ones(3))
    np.testing.assert_allclose(policy.act(np.ones(3), episode_start=True), [1, 1, 1])


def test_state_output_shape_must_match_input(tmp_path: Path) -> None:
    model = accumulator_model(props=_props())
    # declare the c state as 2 wide on the way in, while it comes back 1 wide
    model.graph.input[2].type.tensor_type.shape.dim[1].dim_value = 2
    report = check_policy(save(model, tmp_path / "r.onnx"))
    assert not report.conforms
    assert any(f.subject == "state c_in" and "differ" in f.message for f in report.failures), report.to_text()
