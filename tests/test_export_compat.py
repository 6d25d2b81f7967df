"""The models people actually have: SB3 1.x zips saved under gym, old VecNormalize files, HER models.

Gym is not installed here (and never will be): the fixtures are written by ``export_legacy_fixtures``,
which pickles spaces under a stand-in ``gym`` package and rewrites zips into SB3 1.x's layout. Each fixture
is first shown to be what old files are to the installed SB3 (it cannot load them), then exported and
verified, and the file is checked against the model that produced the zip on raw observations.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("sb3_contrib")

from clankers.export import export_sb3
from clankers.export.legacy import loads, modern_space
from clankers.export.source import read_zip
from clankers.export.vecnormalize import load_vecnormalize
from clankers.policy import OnnxPolicy, check_policy
from export_helpers import distinct_actions, randomize_final_layer
from export_legacy_fixtures import gym_era_zip, numpy1_array_pickle, old_vecnormalize, stand_in_gym
from export_toy_envs import env_id

SMALL = {"net_arch": [16]}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class GoalEnv(gym.Env):
    """A goal-conditioned toy (observation, achieved_goal, desired_goal), as HER needs."""

    observation_space = gym.spaces.Dict(
        {
            "observation": gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
            "achieved_goal": gym.spaces.Box(-5.0, 5.0, (2,), np.float32),
            "desired_goal": gym.spaces.Box(-5.0, 5.0, (2,), np.float32),
        }
    )
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self._pos = self.np_random.uniform(-1, 1, 2)
        self._goal = self.np_random.uniform(-1, 1, 2)
        self._t = 0
        return self._obs(), {}

    def _obs(self) -> dict[str, np.ndarray]:
        vel = np.zeros(2) if self._t == 0 else self._vel
        return {
            "observation": np.concatenate([self._pos, vel]).astype(np.float32),
            "achieved_goal": self._pos.astype(np.float32),
            "desired_goal": self._goal.astype(np.float32),
        }

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self._vel = 0.1 * np.asarray(action, dtype=np.float64)
        self._pos = np.clip(self._pos + self._vel, -5, 5)
        self._t += 1
        obs = self._obs()
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], {}))
        return obs, reward, False, self._t >= 20, {}

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, info: Any) -> np.ndarray:
        return -(np.linalg.norm(np.asarray(achieved) - np.asarray(desired), axis=-1) > 0.1).astype(np.float32)


GOAL_ENV = "clankers_test/Goal-v0"
if GOAL_ENV not in gym.registry:
    gym.register(id=GOAL_ENV, entry_point=GoalEnv, max_episode_steps=20)


def _algorithm(name: str) -> type:
    import sb3_contrib
    import stable_baselines3

    return getattr(stable_baselines3, name, None) or getattr(sb3_contrib, name)


def _raw(space: gym.spaces.Space, n: int, seed: int) -> Any:
    space.seed(seed)
    samples = [space.sample() for _ in range(n)]
    if isinstance(samples[0], dict):
        return {k: np.clip(np.stack([s[k] for s in samples]), -3, 3) for k in samples[0]}
    out = np.stack(samples)
    return out if out.dtype == np.uint8 else np.clip(out, -3, 3).astype(np.float32)


# --- gym-era zips, every space type ----------------------------------------------------------------------

# (algorithm, policy, observation kind, action kind, gym release whose attribute layout the pickles have)
GYM_ERA = [
    ("PPO", "MlpPolicy", "vector", "box", "0.17"),
    ("PPO", "MlpPolicy", "vector", "discrete", "0.21"),
    ("A2C", "MlpPolicy", "vector", "multidiscrete", "0.26"),
    ("PPO", "MlpPolicy", "vector", "multibinary", "0.21"),
    ("TD3", "MlpPolicy", "matrix", "box2d", "0.17"),
    ("PPO", "CnnPolicy", "cnn", "discrete", "0.26"),  # shared CNN saved once (SB3 < 1.7)
    ("DQN", "CnnPolicy", "cnn", "discrete", "0.21"),  # uint8 image Box, transposed in the graph
    ("SAC", "MultiInputPolicy", "dict", "box", "0.21"),
]


def _make(algo: str, policy: str, obs: str, act: str) -> Any:
    kwargs: dict[str, Any] = {"policy_kwargs": dict(SMALL)}
    if policy == "CnnPolicy":
        kwargs["policy_kwargs"]["features_extractor_kwargs"] = {"features_dim": 16}
    if algo in ("DQN", "SAC", "TD3"):
        kwargs["buffer_size"] = 100
    return _algorithm(algo)(policy, gym.make(env_id(obs, act)), device="cpu", seed=0, **kwargs)


@pytest.mark.parametrize(
    ("algo", "policy", "obs", "act", "style"),
    GYM_ERA,
    ids=[f"{c[0]}-{c[2]}-{c[3]}-gym{c[4]}" for c in GYM_ERA],
)
def test_gym_era_zip_exports_and_verifies(
    algo: str, policy: str, obs: str, act: str, style: str, tmp_path: Path
) -> None:
    model = _make(algo, policy, obs, act)
    discrete = act not in ("box", "box2d")
    space = gym.make(env_id(obs, act)).observation_space
    if discrete:
        randomize_final_layer(model, _raw(space, 256, seed=7))
    model.save(tmp_path / "new.zip")
    old = gym_era_zip(tmp_path / "new.zip", tmp_path / "old.zip", style)

    # What such a file is to the installed SB3 without gym: unloadable.
    with pytest.raises(ModuleNotFoundError, match="gym"):
        _algorithm(algo).load(old, device="cpu")
    contents = read_zip(old)
    assert contents.gym_era and contents.sb3_version == "1.6.2"
    assert contents.data["observation_space"] == model.observation_space
    assert contents.data["action_space"] == model.action_space

    out = tmp_path / "policy.onnx"
    report = export_sb3(old, out, n_samples=1000)
    assert report.level == "verified" and check_policy(out).level == "verified"
    assert any("gym 0." in note and "rebuilt as Gymnasium spaces" in note for note in report.notes)
    assert report.parity.passed and (report.parity.mismatches == 0 if discrete else True)

    # Independent: the file on raw observations == the model that wrote the zip.
    space = gym.make(env_id(obs, act)).observation_space
    raw = _raw(space, 64, seed=3)
    expected, _ = model.predict(np.transpose(raw, (0, 3, 1, 2)) if obs == "cnn" else raw, deterministic=True)
    actions = OnnxPolicy(out).act_batch(raw)
    if discrete:
        np.testing.assert_array_equal(actions, np.asarray(expected).astype(np.int64))
        assert distinct_actions(expected) > 1  # the comparison can tell a wrong graph from a right one
    else:
        assert np.max(np.abs(actions - expected)) < 1e-5


def test_shared_actor_critic_layers_of_sb3_before_1_8(tmp_path: Path) -> None:
    """net_arch=[16, dict(pi=[8], vf=[8])]: current SB3 cannot build shared layers; the same function can."""
    import torch
    from stable_baselines3 import PPO

    arch = {"pi": [16, 8], "vf": [16, 8]}
    model = PPO(
        "MlpPolicy", gym.make(env_id("vector", "box")), policy_kwargs={"net_arch": arch}, device="cpu", seed=0
    )
    extractor = model.policy.mlp_extractor
    with torch.no_grad():  # one shared first layer: the value branch uses the policy's
        extractor.value_net[0].load_state_dict(extractor.policy_net[0].state_dict())
    model.save(tmp_path / "m.zip")
    old = gym_era_zip(tmp_path / "m.zip", tmp_path / "old.zip", "0.21", sb3_version="1.5.0", shared_layers=1)
    with zipfile.ZipFile(old) as archive:
        entries = json.loads(archive.read("data"))
    assert entries["policy_kwargs"]["net_arch"] == [16, {"pi": [8], "vf": [8]}]
    report = export_sb3(old, tmp_path / "p.onnx", n_samples=1000)
    assert report.level == "verified"
    raw = _raw(model.observation_space, 64, seed=2)
    got = OnnxPolicy(tmp_path / "p.onnx").act_batch(raw)
    assert np.max(np.abs(got - model.predict(raw, deterministic=True)[0])) < 1e-5


def test_gym_spaces_are_rebuilt_in_saved_order() -> None:
    """A Dict's key order is the order SB3's extractor concatenated features in: it must survive."""
    import cloudpickle

    space = gym.spaces.Dict({"zeta": gym.spaces.Discrete(4), "alpha": gym.spaces.MultiBinary(3)})
    from collections import OrderedDict

    ordered = gym.spaces.Dict(OrderedDict([("zeta", space["zeta"]), ("alpha", space["alpha"])]))
    from export_legacy_fixtures import old_space

    with stand_in_gym() as classes:
        raw = cloudpickle.dumps(old_space(ordered, "0.17", classes))
    obj, names = loads(raw)
    assert "gym.spaces.dict.Dict" in names
    rebuilt = modern_space(obj)
    assert list(rebuilt.spaces) == ["zeta", "alpha"]
    assert rebuilt["zeta"] == gym.spaces.Discrete(4) and rebuilt["alpha"] == gym.spaces.MultiBinary(3)


def test_numpy1_arrays_read() -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    raw = numpy1_array_pickle(array)
    assert b"numpy.core.multiarray" in raw
    value, _ = loads(raw)
    np.testing.assert_array_equal(value, array)


# --- old VecNormalize files ------------------------------------------------------------------------------


def _normalized(env_name: str, keys: list[str] | None = None) -> Any:
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    venv = VecNormalize(DummyVecEnv([lambda: gym.make(env_name)]), norm_obs_keys=keys, norm_reward=False)
    venv.reset()
    for _ in range(30):
        venv.step(np.array([venv.action_space.sample()]))
    return venv


def test_old_vecnormalize_is_read_as_data(tmp_path: Path) -> None:
    from stable_baselines3 import PPO

    venv = _normalized(env_id("vector", "box"))
    path = old_vecnormalize(venv, tmp_path / "old.pkl")
    # What the old file does to SB3's own object: any missing attribute recurses through the missing venv.
    with open(path, "rb") as handle:
        sb3_object = pickle.load(handle)
    with pytest.raises(RecursionError):
        getattr(sb3_object, "norm_obs_keys", None)

    stats = load_vecnormalize(path)
    assert stats is not None and stats.keys is None and stats.clip_obs == venv.clip_obs
    raw = np.random.default_rng(0).normal(0, 4, (128, 4)).astype(np.float32)
    np.testing.assert_array_equal(stats.normalize(raw), venv.normalize_obs(raw))

    model = PPO("MlpPolicy", venv, policy_kwargs=dict(SMALL), device="cpu", seed=0)
    model.save(tmp_path / "m.zip")
    gym_era_zip(tmp_path / "m.zip", tmp_path / "old.zip", "0.21")
    out = tmp_path / "p.onnx"
    report = export_sb3(tmp_path / "old.zip", out, vecnormalize=path, n_samples=1000)
    assert report.level == "verified"
    np.testing.assert_allclose(
        OnnxPolicy(out).act_batch(raw),
        model.predict(venv.normalize_obs(raw), deterministic=True)[0],
        atol=1e-5,
    )


def test_gym_era_dict_vecnormalize_and_her_model_export_without_env(tmp_path: Path) -> None:
    """SAC + HerReplayBuffer on a goal env, VecNormalize over the Dict: no environment needed to export."""
    from stable_baselines3 import SAC, HerReplayBuffer

    venv = _normalized(GOAL_ENV, keys=["observation", "desired_goal"])
    model = SAC(
        "MultiInputPolicy",
        venv,
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs={"n_sampled_goal": 2},
        policy_kwargs=dict(SMALL),
        buffer_size=200,
        learning_starts=20,
        device="cpu",
        seed=0,
    )
    model.learn(40)
    model.save(tmp_path / "her.zip")
    with pytest.raises(AssertionError, match="environment"):
        SAC.load(tmp_path / "her.zip", device="cpu")  # SB3 itself needs the env for HER
    stats_path = old_vecnormalize(venv, tmp_path / "old.pkl", gym_style="0.21")
    gym_era_zip(tmp_path / "her.zip", tmp_path / "old_her.zip", "0.21")

    for zip_path in (tmp_path / "her.zip", tmp_path / "old_her.zip"):
        out = tmp_path / f"{zip_path.stem}.onnx"
        report = export_sb3(zip_path, out, vecnormalize=stats_path, n_samples=1000)
        assert report.level == "verified"
        record = json.loads(report.metadata["observation_normalization"])
        assert record["keys"] == ["observation", "desired_goal"]
        assert json.loads(report.metadata["observation_space"])["type"] == "Dict"
        raw = _raw(GoalEnv.observation_space, 32, seed=5)
        expected = model.predict(venv.normalize_obs(raw), deterministic=True)[0]
        assert np.max(np.abs(OnnxPolicy(out).act_batch(raw) - expected)) < 1e-5

    # And closed loop in the goal environment itself.
    report = export_sb3(
        tmp_path / "old_her.zip",
        tmp_path / "loop.onnx",
        vecnormalize=stats_path,
        verify_env=GOAL_ENV,
        verify_episodes=2,
        n_episode_states=100,
    )
    assert report.closed_loop is not None and report.closed_loop.passed


def test_vecnormalize_without_keys_or_spaces(tmp_path: Path) -> None:
    """The oldest files: a Dict normalized under SB3 1.1 had no norm_obs_keys (all keys with statistics)."""
    venv = _normalized(GOAL_ENV)
    path = old_vecnormalize(
        venv, tmp_path / "v.pkl", gym_style="0.17", drop=("obs_spaces", "observation_space")
    )
    stats = load_vecnormalize(path)
    assert stats is not None and stats.keys == list(venv.obs_rms) and stats.space is None
    raw = _raw(GoalEnv.observation_space, 16, seed=1)
    for key in stats.keys:
        np.testing.assert_array_equal(stats.normalize(raw)[key], venv.normalize_obs(raw)[key])
