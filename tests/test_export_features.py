"""Exporter behaviour beyond the matrix: detection and --algo, refusals, images, VecNormalize, recurrent
metadata, observation layout names, failure paths (nothing written), exporter fallback, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import onnx
import pytest

pytest.importorskip("sb3_contrib")

from typer.testing import CliRunner

from clankers.errors import ExportError, ParityError, UnsupportedModelError
from clankers.export import export_sb3
from clankers.export.detect import detect_algorithm
from clankers.policy import OnnxPolicy
from export_toy_envs import env_id

SMALL = {"net_arch": [16]}


def _props(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(path).metadata_props}


def _dims(value_info: Any) -> list[Any]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export-features")


@pytest.fixture(scope="module")
def td3_zip(workdir: Path) -> Path:
    from stable_baselines3 import TD3

    model = TD3(
        "MlpPolicy", gym.make(env_id("vector", "box")), policy_kwargs=dict(SMALL), device="cpu", seed=0
    )
    path = workdir / "td3.zip"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def image_ppo(workdir: Path) -> tuple[Any, Path]:
    from stable_baselines3 import PPO

    model = PPO(
        "MlpPolicy", gym.make(env_id("image", "discrete")), policy_kwargs=dict(SMALL), device="cpu", seed=0
    )
    path = workdir / "ppo_image.zip"
    model.save(path)
    return model, path


# --- detection ----------------------------------------------------------------------------------------


def test_ddpg_and_td3_are_told_apart(workdir: Path, td3_zip: Path) -> None:
    from stable_baselines3 import DDPG

    ddpg = DDPG(
        "MlpPolicy", gym.make(env_id("vector", "box")), policy_kwargs=dict(SMALL), device="cpu", seed=0
    )
    ddpg.save(workdir / "ddpg.zip")
    assert detect_algorithm(td3_zip) == "TD3"
    assert detect_algorithm(workdir / "ddpg.zip") == "DDPG"


def test_algo_override_and_wrong_override(td3_zip: Path, tmp_path: Path) -> None:
    report = export_sb3(td3_zip, tmp_path / "a.onnx", algo="ddpg", n_samples=200)  # same actor class
    assert report.algorithm == "DDPG" and _props(tmp_path / "a.onnx")["algorithm"] == "DDPG"
    with pytest.raises(ExportError, match="--algo PPO does not fit") as err:
        export_sb3(td3_zip, tmp_path / "b.onnx", algo="PPO")
    assert err.value.hint == "drop --algo to use the detected algorithm"
    with pytest.raises(UnsupportedModelError, match="not supported"):
        export_sb3(td3_zip, tmp_path / "c.onnx", algo="NoSuchAlgo")
    assert not (tmp_path / "b.onnx").exists() and not (tmp_path / "c.onnx").exists()


# --- refusals -----------------------------------------------------------------------------------------


class _DiscreteObsEnv(gym.Env):
    observation_space = gym.spaces.Discrete(5)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        return 0, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict]:
        return 0, 0.0, True, False, {}


class _StartedActionEnv(_DiscreteObsEnv):
    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Discrete(3, start=1)


def test_unsupported_models_name_the_problem(tmp_path: Path) -> None:
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO

    PPO("MlpPolicy", _StartedActionEnv(), policy_kwargs=dict(SMALL), device="cpu").save(tmp_path / "s.zip")
    with pytest.raises(UnsupportedModelError, match="non-zero start"):
        export_sb3(tmp_path / "s.zip", tmp_path / "s.onnx")
    PPO("MlpPolicy", _DiscreteObsEnv(), policy_kwargs=dict(SMALL), device="cpu").save(tmp_path / "d.zip")
    with pytest.raises(UnsupportedModelError, match="Discrete"):
        export_sb3(tmp_path / "d.zip", tmp_path / "d.onnx")
    MaskablePPO("MlpPolicy", gym.make(env_id("vector", "discrete")), device="cpu").save(tmp_path / "m.zip")
    with pytest.raises(UnsupportedModelError, match="MaskablePPO"):
        export_sb3(tmp_path / "m.zip", tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.zip", "m.zip", "s.zip"]


@pytest.mark.parametrize(
    ("algo", "policy", "act", "obs"),
    [
        ("SAC", "MlpPolicy", "discrete", "vector"),  # continuous-only algorithms
        ("TD3", "MlpPolicy", "multidiscrete", "vector"),
        ("DQN", "MlpPolicy", "box", "vector"),  # discrete-only
        ("QRDQN", "MlpPolicy", "multibinary", "vector"),
        ("ARS", "MlpPolicy", "multidiscrete", "vector"),  # ARS: Box and Discrete only
        ("CrossQ", "MultiInputPolicy", "box", "dict"),  # CrossQ has no Dict policy
    ],
)
def test_sb3_refuses(algo: str, policy: str, act: str, obs: str) -> None:
    """Matrix cells SB3 itself forbids (the exporter is never reached): documented here."""
    import sb3_contrib
    import stable_baselines3

    cls = getattr(stable_baselines3, algo, None) or getattr(sb3_contrib, algo)
    with pytest.raises((AssertionError, ValueError, KeyError)):
        cls(policy, gym.make(env_id(obs, act)), device="cpu")


# --- images -----------------------------------------------------------------------------------------


def test_image_graph_takes_raw_hwc_frames(image_ppo: tuple[Any, Path], tmp_path: Path) -> None:
    model, path = image_ppo
    out = tmp_path / "img.onnx"
    export_sb3(path, out, n_samples=1000)
    graph = onnx.load(out).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert _dims(graph.input[0]) == ["batch", 8, 8, 3]  # HWC, as the camera gives it
    assert model.observation_space.shape == (3, 8, 8)  # what SB3's policy saw (after VecTransposeImage)
    space = json.loads(_props(out)["observation_space"])
    assert space["image_layout"] == "HWC" and space["dtype"] == "uint8" and space["shape"] == [8, 8, 3]
    frames = np.random.default_rng(0).integers(0, 256, (32, 8, 8, 3), dtype=np.uint8)
    expected = model.predict(np.transpose(frames, (0, 3, 1, 2)), deterministic=True)[0]
    np.testing.assert_array_equal(OnnxPolicy(out).act_batch(frames), expected)


def test_image_layout_chw_on_request(image_ppo: tuple[Any, Path], tmp_path: Path) -> None:
    model, path = image_ppo
    out = tmp_path / "chw.onnx"
    export_sb3(path, out, n_samples=1000, image_layout="CHW")
    assert _dims(onnx.load(out).graph.input[0]) == ["batch", 3, 8, 8]
    assert json.loads(_props(out)["observation_space"])["image_layout"] == "CHW"
    frames = np.random.default_rng(1).integers(0, 256, (16, 3, 8, 8), dtype=np.uint8)
    np.testing.assert_array_equal(
        OnnxPolicy(out).act_batch(frames), model.predict(frames, deterministic=True)[0]
    )


# --- VecNormalize -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def normalized_ppo(workdir: Path) -> tuple[Any, Any, Path, Path]:
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    venv = VecNormalize(
        DummyVecEnv([lambda: gym.make(env_id("vector", "box"))]), clip_obs=2.0, norm_reward=False
    )
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=64,
        batch_size=64,
        n_epochs=1,
        policy_kwargs=dict(SMALL),
        device="cpu",
        seed=0,
    )
    model.learn(64)
    model.save(workdir / "norm.zip")
    venv.save(workdir / "norm.pkl")
    return model, venv, workdir / "norm.zip", workdir / "norm.pkl"


def test_vecnormalize_is_baked_and_recorded(
    normalized_ppo: tuple[Any, Any, Path, Path], tmp_path: Path
) -> None:
    model, venv, zip_path, stats = normalized_ppo
    out = tmp_path / "n.onnx"
    export_sb3(zip_path, out, vecnormalize=stats, n_samples=1000)
    record = json.loads(_props(out)["observation_normalization"])
    import hashlib

    assert record == {
        "kind": "vecnormalize",
        "in_graph": True,
        "epsilon": 1e-8,
        "clip_obs": 2.0,
        "source_sha256": hashlib.sha256(stats.read_bytes()).hexdigest(),
    }
    raw = np.random.default_rng(0).normal(0, 3, (64, 4)).astype(np.float32)
    policy = OnnxPolicy(out)
    expected = model.predict(venv.normalize_obs(raw), deterministic=True)[0]
    assert np.max(np.abs(policy.act_batch(raw) - expected)) < 1e-5
    # Without the statistics the same model gives other actions on raw observations: the baking matters.
    export_sb3(zip_path, tmp_path / "plain.onnx", n_samples=1000)
    assert np.max(np.abs(OnnxPolicy(tmp_path / "plain.onnx").act_batch(raw) - expected)) > 1e-3


def test_normalization_in_the_graph_is_bit_exact(normalized_ppo: tuple[Any, Any, Path, Path]) -> None:
    """The graph's normalization is SB3's numpy formula in float64: equal to the last bit, not just close."""
    import torch

    from clankers.export.observations import ObservationAdapter, observation_inputs
    from clankers.export.vecnormalize import load_vecnormalize

    model, venv, _, stats_path = normalized_ppo
    stats = load_vecnormalize(stats_path)
    assert stats is not None
    adapter = ObservationAdapter(observation_inputs(model.observation_space, None, stats), is_dict=False)
    raw = np.random.default_rng(3).normal(0, 5, (256, 4)).astype(np.float32)
    with torch.no_grad():
        ours = adapter(torch.from_numpy(raw)).numpy()
    np.testing.assert_array_equal(ours, venv.normalize_obs(raw))
    assert np.any(np.abs(ours) == 2.0)  # the clip_obs clip was active


def test_bad_sample_counts_are_refused(td3_zip: Path, tmp_path: Path) -> None:
    from clankers.errors import ConfigError

    with pytest.raises(ConfigError, match="n_samples"):
        export_sb3(td3_zip, tmp_path / "p.onnx", n_samples=0)
    with pytest.raises(ConfigError, match="verify_episodes"):
        export_sb3(td3_zip, tmp_path / "p.onnx", verify_env=env_id("vector", "box"), verify_episodes=0)
    assert list(tmp_path.iterdir()) == []


def test_vecnormalize_file_errors(normalized_ppo: tuple[Any, Any, Path, Path], tmp_path: Path) -> None:
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    _, _, zip_path, _ = normalized_ppo
    with pytest.raises(ExportError, match="does not exist"):
        export_sb3(zip_path, tmp_path / "x.onnx", vecnormalize=tmp_path / "missing.pkl")
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(ExportError, match="not a VecNormalize"):
        export_sb3(zip_path, tmp_path / "x.onnx", vecnormalize=junk)
    other = VecNormalize(DummyVecEnv([lambda: gym.make(env_id("dict", "box"))]))
    other.save(tmp_path / "dict.pkl")
    with pytest.raises(ExportError, match="Dict"):
        export_sb3(zip_path, tmp_path / "x.onnx", vecnormalize=tmp_path / "dict.pkl")
    assert not (tmp_path / "x.onnx").exists()


# --- recurrent ---------------------------------------------------------------------------------------


def test_recurrent_state_tensors_declared(tmp_path: Path) -> None:
    from sb3_contrib import RecurrentPPO

    model = RecurrentPPO(
        "MlpLstmPolicy",
        gym.make(env_id("vector", "discrete")),
        n_steps=32,
        batch_size=32,
        policy_kwargs={"lstm_hidden_size": 8, "n_lstm_layers": 2, **SMALL},
        device="cpu",
        seed=0,
    )
    model.save(tmp_path / "r.zip")
    report = export_sb3(tmp_path / "r.zip", tmp_path / "r.onnx", n_samples=1000)
    assert report.parity.max_state_diff is not None and report.parity.max_state_diff < 1e-5
    props = _props(tmp_path / "r.onnx")
    assert props["recurrent"] == "true"
    state = json.loads(props["recurrent_state"])
    assert [(t["input"], t["output"], t["batch_axis"], t["init"], t["shape"]) for t in state["tensors"]] == [
        ("lstm_h", "lstm_h_out", 1, 0.0, [2, "batch", 8]),
        ("lstm_c", "lstm_c_out", 1, 0.0, [2, "batch", 8]),
    ]
    graph = onnx.load(tmp_path / "r.onnx").graph
    inputs = {i.name: _dims(i) for i in graph.input}
    assert inputs["lstm_h"] == [2, "batch", 8] and inputs["lstm_c"] == [2, "batch", 8]
    assert [o.name for o in graph.output] == ["action", "lstm_h_out", "lstm_c_out"]
    probe = json.loads(props["parity"])["probe"]
    assert probe["episode_start"][0] is True and len(probe["obs"]) == len(probe["action"])


# --- layout names, closed loop and provenance on a clankers task ----------------------------------------


def test_cartpole_layout_names_and_closed_loop(tiny_cartpole_model: Path, tmp_path: Path) -> None:
    from clankers.envs import make_env

    out = tmp_path / "cp.onnx"
    report = export_sb3(tiny_cartpole_model, out, verify_env="cartpole", n_samples=1000, n_episode_states=200)
    props = _props(out)
    names = list(make_env("cartpole").unwrapped.observation_names)
    assert json.loads(props["observation_layout"]) == names
    loop = json.loads(props["parity"])["closed_loop"]
    assert loop["env"] == "cartpole" and loop["passed"] and loop["returns_equal"]
    assert loop["returns"] == loop["reference_returns"]  # cart-pole rewards are integers: exactly equal
    assert report.closed_loop is not None and report.closed_loop.tolerance == 1e-3
    assert report.closed_loop.max_trajectory_diff <= report.closed_loop.tolerance
    assert json.loads(props["exporter"]) == {"name": "clankers", "backend": "torchscript", "opset": 17}
    versions = json.loads(props["software_versions"])
    assert {"torch", "stable-baselines3", "onnx", "clankers"} <= set(versions)
    import hashlib

    assert props["source_model_sha256"] == hashlib.sha256(tiny_cartpole_model.read_bytes()).hexdigest()
    assert props["export_time"].endswith("Z")


@pytest.mark.parametrize(
    ("task", "algo"),
    [("pendulum", "SAC"), ("arm_reach", "PPO"), ("arm_reach6", "SAC"), ("two_arm_reach", "TD3")],
)
def test_clankers_tasks_closed_loop_with_vecnormalize(task: str, algo: str, tmp_path: Path) -> None:
    """Real MuJoCo tasks: normalized off- and on-policy models, verified closed-loop in the simulator."""
    import stable_baselines3
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from clankers.envs import make_env

    venv = VecNormalize(DummyVecEnv([lambda: make_env(task)]), norm_reward=False)
    kwargs: dict[str, Any] = (
        {"n_steps": 32, "batch_size": 32, "n_epochs": 1}
        if algo == "PPO"
        else {"learning_starts": 32, "buffer_size": 500, "batch_size": 16}
    )
    model = getattr(stable_baselines3, algo)(
        "MlpPolicy", venv, policy_kwargs=dict(SMALL), seed=0, device="cpu", **kwargs
    )
    model.learn(64)
    model.save(tmp_path / "m.zip")
    venv.save(tmp_path / "v.pkl")
    report = export_sb3(
        tmp_path / "m.zip",
        tmp_path / "p.onnx",
        vecnormalize=tmp_path / "v.pkl",
        verify_env=task,
        verify_episodes=2,
        n_episode_states=200,
    )
    assert report.level == "verified" and report.parity.max_abs_diff < 1e-5
    loop = json.loads(report.metadata["parity"])["closed_loop"]
    assert loop["passed"] and loop["returns_equal"] and loop["max_trajectory_diff"] <= 1e-3
    layout = json.loads(report.metadata["observation_layout"])
    assert layout == list(make_env(task).unwrapped.observation_names)


# --- failure paths: nothing is written --------------------------------------------------------------


def test_discrete_mismatch_is_a_parity_error(
    image_ppo: tuple[Any, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clankers.export import runner

    original = runner.GraphRunner.act
    monkeypatch.setattr(runner.GraphRunner, "act", lambda self, feed: (original(self, feed) + 1) % 3)
    with pytest.raises(ParityError, match="discrete actions differ"):
        export_sb3(image_ppo[1], tmp_path / "p.onnx", n_samples=1000)
    assert list(tmp_path.iterdir()) == []


def test_wrong_environment_is_refused(td3_zip: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="action space"):
        export_sb3(td3_zip, tmp_path / "p.onnx", verify_env=env_id("vector", "discrete"))
    with pytest.raises(ExportError, match="observation"):
        export_sb3(td3_zip, tmp_path / "p.onnx", env=env_id("matrix", "box"), algo="TD3")
    with pytest.raises(ExportError, match="cannot make environment"):
        export_sb3(td3_zip, tmp_path / "p.onnx", verify_env="NoSuchEnv-v9")
    assert list(tmp_path.iterdir()) == []


def test_closed_loop_failure_writes_nothing(td3_zip: Path, tmp_path: Path) -> None:
    with pytest.raises(ParityError, match="diverged through the dynamics"):
        export_sb3(td3_zip, tmp_path / "p.onnx", verify_env=env_id("vector", "box"), trajectory_tolerance=0.0)
    assert list(tmp_path.iterdir()) == []


def test_closed_loop_lockstep_catches_a_wrong_runtime_path(
    td3_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that acts differently only in closed loop (here: a biased step) fails the lockstep check."""
    from clankers.export import closed_loop

    original = closed_loop._graph_step

    def biased(actor: Any, runner: Any) -> Any:
        step = original(actor, runner)
        return lambda feed, start: step(feed, start) + 1e-3

    monkeypatch.setattr(closed_loop, "_graph_step", biased)
    with pytest.raises(ParityError, match="SB3 chose different actions"):
        export_sb3(td3_zip, tmp_path / "p.onnx", verify_env=env_id("vector", "box"), trajectory_tolerance=1.0)
    assert list(tmp_path.iterdir()) == []


def test_exporter_falls_back_to_dynamo(
    td3_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    real_export = torch.onnx.export

    def torchscript_broken(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("dynamo") is False:
            raise RuntimeError("torchscript exporter broke")
        return real_export(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", torchscript_broken)
    report = export_sb3(td3_zip, tmp_path / "f.onnx", n_samples=200)
    assert report.exporter == "dynamo" and report.parity.passed
    assert json.loads(_props(tmp_path / "f.onnx")["exporter"])["backend"] == "dynamo"


def test_exporter_names_every_failure(td3_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{'dynamo' if kwargs.get('dynamo') else 'torchscript'} exporter broke")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(ExportError) as err:
        export_sb3(td3_zip, tmp_path / "f.onnx", n_samples=200)
    assert "torchscript: RuntimeError: torchscript exporter broke" in str(err.value)
    assert "dynamo: RuntimeError: dynamo exporter broke" in str(err.value)
    assert not (tmp_path / "f.onnx").exists()


@pytest.mark.parametrize("opset", [13, 18])
def test_opset_is_chosen_and_recorded(opset: int, tmp_path: Path) -> None:
    from sb3_contrib import RecurrentPPO

    model = RecurrentPPO(
        "MlpLstmPolicy",
        gym.make(env_id("vector", "multidiscrete")),
        n_steps=32,
        batch_size=32,
        policy_kwargs={"lstm_hidden_size": 8, **SMALL},
        device="cpu",
        seed=0,
    )
    model.save(tmp_path / "r.zip")
    report = export_sb3(tmp_path / "r.zip", tmp_path / "r.onnx", n_samples=1000, opset=opset)
    assert report.opset == opset and report.level == "verified"
    assert json.loads(_props(tmp_path / "r.onnx")["exporter"])["opset"] == opset
    assert [
        o.version for o in onnx.load(tmp_path / "r.onnx").opset_import if o.domain in ("", "ai.onnx")
    ] == [opset]


# --- the CLI ----------------------------------------------------------------------------------------


def test_cli_export_with_vecnormalize_and_verify_env(
    normalized_ppo: tuple[Any, Any, Path, Path], tmp_path: Path
) -> None:
    from clankers.cli import app

    _, _, zip_path, stats = normalized_ppo
    out = tmp_path / "cli.onnx"
    result = CliRunner().invoke(
        app,
        [
            "export",
            str(zip_path),
            "-o",
            str(out),
            "--vecnormalize",
            str(stats),
            "--verify-env",
            env_id("vector", "box"),
            "--episode-states",
            "100",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "level verified" in result.output and "closed loop" in result.output
    assert "obs[batch, 4] float32" in result.output  # tensor shapes are printed, not eaten as markup
    props = _props(out)
    assert json.loads(props["parity"])["closed_loop"]["passed"] is True
    assert "observation_normalization" in props
    failed = CliRunner().invoke(
        app, ["export", str(zip_path), "-o", str(tmp_path / "x.onnx"), "--algo", "DQN"]
    )
    assert failed.exit_code != 0 and not (tmp_path / "x.onnx").exists()
