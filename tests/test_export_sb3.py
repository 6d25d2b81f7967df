"""SB3 -> clanker policy export: metadata, tensors, clipping in the graph, parity, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from clankers.errors import ExportError, ParityError
from clankers.export import export_sb3
from clankers.export.sb3 import detect_algorithm, load_model
from clankers.policy import OnnxPolicy, check_policy
from export_helpers import corrupt_graph, perturb_weight

FIXTURES = Path(__file__).parent / "fixtures"

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


def test_exported_file_has_the_format_contract(tiny_cartpole_policy: Path) -> None:
    model = onnx.load(tiny_cartpole_policy)
    props = {p.key: p.value for p in model.metadata_props}
    # The nine keys of format 1.0.0 with their 1.0.0 values; a 1.x writer may add keys (readers ignore them).
    assert set(props) >= NINE_KEYS
    assert props["clanker_policy_version"].startswith("1.")
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
    assert (
        props["training_framework"],
        props["recurrent"],
        props["deterministic_mode"],
        props["batch_inference"],
    ) == ("stable-baselines3", "false", "false", "true")
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "obs" and out.name == "action"
    in_dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert in_dims == ["batch", 4] and out_dims == ["batch", 2]
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert check_policy(tiny_cartpole_policy).conforms


def test_graph_matches_predict_including_clipping(tiny_cartpole_model: Path, tmp_path: Path) -> None:
    # Push the Gaussian mean far outside [-1, 1]: predict() clips, so the graph must clip too.
    model = load_model(tiny_cartpole_model)
    with torch.no_grad():
        model.policy.action_net.bias[:] = torch.tensor([4.0, -4.0])
    pushed = tmp_path / "pushed.zip"
    model.save(pushed)
    report = export_sb3(pushed, tmp_path / "pushed.onnx", n_samples=1000)
    assert report.parity.passed and report.parity.max_abs_diff < 1e-5
    policy = OnnxPolicy(tmp_path / "pushed.onnx")
    obs = np.random.default_rng(0).uniform(-1, 1, size=(50, 4)).astype(np.float32)
    actions = policy.act_batch(obs)
    assert actions.min() >= -1.0 and actions.max() <= 1.0
    assert np.any(actions == 1.0) and np.any(actions == -1.0)  # the clip was active
    np.testing.assert_allclose(actions, model.predict(obs, deterministic=True)[0], atol=1e-5)


def test_parity_counts_samples_and_episode_states(tiny_cartpole_model: Path, tmp_path: Path) -> None:
    report = export_sb3(
        tiny_cartpole_model, tmp_path / "p.onnx", env="cartpole", n_samples=1000, n_episode_states=300
    )
    assert report.parity.n_samples == 1300 and report.parity.n_episode_states == 300
    assert report.parity.max_abs_diff < 1e-5
    assert report.exporter == "torchscript" and report.opset == 17


def test_model_from_older_sb3_release_exports() -> None:
    # Saved by stable-baselines3 2.1.0 with gymnasium 0.29 (see the zip's system_info.txt).
    fixture = FIXTURES / "ppo_sb3_2.1.0_box4_box2.zip"
    assert detect_algorithm(fixture) == "PPO"
    out = FIXTURES.parent / ".old-model-export.onnx"
    try:
        report = export_sb3(fixture, out, n_samples=1000)
        assert (report.obs_dim, report.act_dim) == (4, 2)
        assert report.parity.passed
        assert check_policy(out).conforms
    finally:
        out.unlink(missing_ok=True)


def test_failed_check_writes_nothing(
    tiny_cartpole_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corrupt_graph(monkeypatch, perturb_weight(1e-2))
    target = tmp_path / "never.onnx"
    with pytest.raises(ParityError, match="nothing was written"):
        export_sb3(tiny_cartpole_model, target, n_samples=200)
    assert list(tmp_path.iterdir()) == []


def test_failed_check_keeps_previous_file(
    tiny_cartpole_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corrupt_graph(monkeypatch, perturb_weight(1e-2))
    target = tmp_path / "policy.onnx"
    target.write_bytes(b"previous")
    with pytest.raises(ParityError):
        export_sb3(tiny_cartpole_model, target, n_samples=200)
    assert target.read_bytes() == b"previous"


def test_not_a_model_zip(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        export_sb3(tmp_path / "missing.zip", tmp_path / "x.onnx")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ExportError, match="not a Stable-Baselines3 model"):
        export_sb3(junk, tmp_path / "x.onnx")
