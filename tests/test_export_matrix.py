"""The export matrix: algorithm x action space x observation kind x VecNormalize x recurrence.

Every case trains a tiny model for a few dozen steps (real, non-initial weights), exports it with
closed-loop verification in a toy environment, and then checks the file *independently of the exporter's
own parity code*: the deployment runtime :class:`OnnxPolicy` is fed raw environment observations (HWC
frames, unnormalized values, Dicts by key) and must return exactly what SB3 ``predict(deterministic=True)``
returns for the same observations after SB3's own ``VecNormalize.normalize_obs``.

Combinations SB3 itself refuses are listed in ``test_sb3_refuses`` so the matrix documents them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("sb3_contrib")

from clankers.export import export_sb3
from clankers.policy import OnnxPolicy, check_policy
from clankers.policy.spec import FORMAT_VERSION
from export_helpers import distinct_actions, randomize_final_layer
from export_toy_envs import env_id

NET = [16]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclass(frozen=True)
class Case:
    algo: str
    act: str
    obs: str = "vector"
    normalize: bool = False
    policy: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    learn: bool = True  # False: export the initial weights (SB3 cannot train this combination)

    @property
    def id(self) -> str:
        extra = f"-{self.policy}" if self.policy else ""
        return f"{self.algo}-{self.act}-{self.obs}{'-vecnorm' if self.normalize else ''}{extra}"


_ON = {"n_steps": 32, "batch_size": 32, "n_epochs": 1}
_OFF = {"learning_starts": 32, "buffer_size": 500, "batch_size": 16, "gradient_steps": 1}
_REC = {"n_steps": 32, "batch_size": 32, "n_epochs": 1}

CASES = [
    # --- on-policy, every action space --------------------------------------------------------------
    *[Case("PPO", act, kwargs=_ON) for act in ("box", "discrete", "multidiscrete", "multibinary")],
    *[Case("A2C", act, kwargs={"n_steps": 8}) for act in ("box", "discrete", "multidiscrete", "multibinary")],
    *[
        Case("TRPO", act, kwargs={"n_steps": 32, "batch_size": 32})
        for act in ("box", "discrete", "multidiscrete", "multibinary")
    ],
    Case(
        "PPO",
        "box",
        kwargs={**_ON, "use_sde": True, "policy_kwargs": {"squash_output": True}},
        policy="gsde-squash",
    ),
    Case("PPO", "box", kwargs={**_ON, "use_sde": True}, policy="gsde"),
    Case(
        "PPO", "box", kwargs={**_ON, "policy_kwargs": {"share_features_extractor": False}}, policy="unshared"
    ),
    # --- off-policy continuous ---------------------------------------------------------------------
    *[Case(algo, "box", kwargs=_OFF) for algo in ("SAC", "TD3", "DDPG", "TQC", "CrossQ")],
    Case("SAC", "box", kwargs={**_OFF, "use_sde": True}, policy="gsde"),
    # --- value-based, discrete ---------------------------------------------------------------------
    *[Case(algo, "discrete", kwargs=_OFF) for algo in ("DQN", "QRDQN")],
    # --- ARS (MLP and linear) ----------------------------------------------------------------------
    Case("ARS", "box", kwargs={"n_delta": 2}),
    Case("ARS", "discrete", kwargs={"n_delta": 2}),
    Case("ARS", "box", kwargs={"n_delta": 2}, policy="LinearPolicy"),
    # --- recurrent ---------------------------------------------------------------------------------
    *[Case("RecurrentPPO", act, kwargs=_REC) for act in ("box", "discrete", "multidiscrete")],
    # sb3-contrib 2.9.2 crashes training RecurrentPPO on MultiBinary (Bernoulli.log_prob on int8 actions);
    # the policy itself is fine, so export its initial weights.
    Case("RecurrentPPO", "multibinary", kwargs=_REC, learn=False),
    # --- images (raw uint8 frames; HWC transposed in the graph, or CHW as-is) ----------------------
    Case("PPO", "discrete", "image", kwargs=_ON),
    Case("PPO", "box", "image_chw", kwargs=_ON),
    Case(
        "PPO", "discrete", "image", kwargs={**_ON, "policy_kwargs": {"normalize_images": False}}, policy="raw"
    ),
    Case("PPO", "box", "cnn", kwargs=_ON, policy="CnnPolicy"),
    Case("SAC", "box", "image", kwargs=_OFF),
    Case("DQN", "discrete", "cnn", kwargs=_OFF, policy="CnnPolicy"),
    Case("RecurrentPPO", "box", "image", kwargs=_REC),
    Case("ARS", "discrete", "image", kwargs={"n_delta": 2}),
    # --- multi-dimensional Box observations and actions ------------------------------------------
    Case("PPO", "box2d", "matrix", kwargs=_ON),
    Case("SAC", "box2d", "matrix", kwargs=_OFF),
    Case("RecurrentPPO", "box2d", "matrix", kwargs=_REC),
    # --- Dict observations (one input per key) -----------------------------------------------------
    Case("PPO", "multidiscrete", "dict", kwargs=_ON),
    Case("PPO", "box", "dict_image", kwargs=_ON),
    Case("SAC", "box", "dict", kwargs=_OFF),
    Case("TQC", "box", "dict_image", kwargs=_OFF),
    Case("DQN", "discrete", "dict", kwargs=_OFF),
    Case("QRDQN", "discrete", "dict", kwargs=_OFF),
    Case("RecurrentPPO", "discrete", "dict", kwargs=_REC),
    # --- VecNormalize statistics baked into the graph ----------------------------------------------
    Case("PPO", "box", normalize=True, kwargs=_ON),
    Case("A2C", "multibinary", normalize=True, kwargs={"n_steps": 8}),
    Case("SAC", "box", normalize=True, kwargs=_OFF),
    Case("TD3", "box", normalize=True, kwargs=_OFF),
    Case("DQN", "discrete", normalize=True, kwargs=_OFF),
    Case("RecurrentPPO", "box", normalize=True, kwargs=_REC),
    Case("PPO", "discrete", "dict", normalize=True, kwargs=_ON),
    Case("PPO", "box", "dict_image", normalize=True, kwargs=_ON),
    # VecNormalize over a whole image: SB3 turns it into a float Box; the graph takes raw float frames.
    Case("PPO", "box", "image", normalize=True, kwargs=_ON),
]


def _algorithm_class(name: str) -> type:
    import sb3_contrib
    import stable_baselines3

    return getattr(stable_baselines3, name, None) or getattr(sb3_contrib, name)


def _policy_name(case: Case) -> str:
    if case.policy in ("CnnPolicy", "LinearPolicy"):
        return case.policy
    is_dict = case.obs.startswith("dict")
    if case.algo == "RecurrentPPO":
        return "MultiInputLstmPolicy" if is_dict else "MlpLstmPolicy"
    return "MultiInputPolicy" if is_dict else "MlpPolicy"


def _policy_kwargs(case: Case) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(case.kwargs.get("policy_kwargs", {}))
    if case.algo == "ARS" and case.policy == "LinearPolicy":
        return kwargs
    kwargs["net_arch"] = NET
    if case.algo == "RecurrentPPO":
        kwargs["lstm_hidden_size"] = 8
    if case.policy == "CnnPolicy":
        kwargs["features_extractor_kwargs"] = {"features_dim": 16}
    if case.obs == "dict_image":
        kwargs["features_extractor_kwargs"] = {"cnn_output_dim": 16}
    return kwargs


def _train(case: Case, workdir: Path) -> tuple[Any, Path, Path | None, Any]:
    """A tiny trained model, its zip and (optionally) its VecNormalize statistics."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    env_name = env_id(case.obs, case.act)
    venv: Any = DummyVecEnv([lambda: gym.make(env_name)])
    if case.normalize:
        keys = ["state"] if case.obs.startswith("dict") else None
        venv = VecNormalize(venv, norm_obs_keys=keys, norm_reward=False)
    kwargs = {k: v for k, v in case.kwargs.items() if k != "policy_kwargs"}
    model = _algorithm_class(case.algo)(
        _policy_name(case), venv, policy_kwargs=_policy_kwargs(case), seed=0, device="cpu", **kwargs
    )
    if case.learn:
        model.learn(total_timesteps=64 if case.algo != "ARS" else 100)
    if _discrete(case):
        # A few dozen training steps leave many discrete policies picking one action everywhere, and a
        # constant action cannot tell a right graph from a wrong one: spread the greedy action out.
        calibration = _raw_observations(gym.make(env_name), 256, seed=7)
        randomize_final_layer(model, venv.normalize_obs(calibration) if case.normalize else calibration)
    model_path = workdir / "model.zip"
    model.save(model_path)
    stats_path = None
    if case.normalize:
        stats_path = workdir / "vecnormalize.pkl"
        venv.save(stats_path)
    return model, model_path, stats_path, venv


def _discrete(case: Case) -> bool:
    return not case.act.startswith("box")


def _sb3_actions(model: Any, venv: Any, obs: Any, case: Case, state: Any = None, starts: Any = None) -> Any:
    """SB3's own path: VecNormalize.normalize_obs, then predict (which transposes HWC frames itself)."""
    if case.normalize:
        obs = venv.normalize_obs(obs)
    if case.algo == "RecurrentPPO":
        return model.predict(obs, state=state, episode_start=starts, deterministic=True)
    return model.predict(obs, deterministic=True)


def _raw_observations(env: gym.Env, n: int, seed: int) -> Any:
    """``n`` raw observations as the environment produces them (the runtime's input)."""
    env.observation_space.seed(seed)
    samples = [env.observation_space.sample() for _ in range(n)]
    if isinstance(samples[0], dict):
        return {k: np.stack([s[k] for s in samples]) for k in samples[0]}
    obs = np.stack(samples)
    if obs.dtype != np.uint8:
        obs = np.clip(obs, -5, 5).astype(np.float32)  # the toy vector space is unbounded
    return obs


def _assert_same(actions: np.ndarray, expected: np.ndarray, discrete: bool) -> None:
    expected = np.asarray(expected)
    assert actions.shape == expected.shape
    if discrete:
        assert actions.dtype == np.int64
        np.testing.assert_array_equal(actions, expected.astype(np.int64))
    else:
        assert np.max(np.abs(actions.astype(np.float64) - expected)) < 1e-5


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_export_matrix(case: Case, tmp_path: Path) -> None:
    model, model_path, stats_path, venv = _train(case, tmp_path)
    env_name = env_id(case.obs, case.act)
    out = tmp_path / "policy.onnx"
    report = export_sb3(
        model_path,
        out,
        vecnormalize=stats_path,
        verify_env=env_name,
        n_samples=1000,
        n_episode_states=100,
    )
    discrete = _discrete(case)

    # The exporter's evidence: >= 1000 samples, exact for discrete, closed loop passed, level verified.
    assert report.parity.passed and report.parity.n_samples >= 1000
    assert report.parity.n_episode_states == 100
    if discrete:
        assert report.parity.mismatches == 0
    else:
        assert report.parity.max_abs_diff < 1e-5
    assert report.closed_loop is not None and report.closed_loop.passed
    assert report.level == "verified"
    assert check_policy(out).level == "verified"

    # The metadata declares what the runtime needs.
    props = {k: v for k, v in report.metadata.items()}
    assert props["clanker_policy_version"] == FORMAT_VERSION
    assert props["algorithm"] == case.algo
    assert json.loads(props["action_space"])["type"] == type(model.action_space).__name__
    parity = json.loads(props["parity"])
    assert parity["closed_loop"]["env"] == env_name and parity["closed_loop"]["returns_equal"]
    lockstep = parity["closed_loop"]["lockstep"]
    assert lockstep["passed"] and lockstep["steps"] >= 3  # SB3 asked on every state the file visited
    assert ("observation_normalization" in props) == case.normalize
    assert ("recurrent_state" in props) == (case.algo == "RecurrentPPO")
    obs_space = json.loads(props["observation_space"])
    assert obs_space["type"] == ("Dict" if case.obs.startswith("dict") else "Box")

    # Independent check: OnnxPolicy on raw env observations == SB3 predict after SB3's own preprocessing.
    policy = OnnxPolicy(out)
    env = gym.make(env_name)
    obs = _raw_observations(env, 64, seed=1)
    if case.algo == "RecurrentPPO":
        rng = np.random.default_rng(2)
        state = None
        seen = []
        for t in range(12):
            starts = rng.random(64) < 0.2 if t else np.ones(64, dtype=bool)
            step_obs = _raw_observations(env, 64, seed=10 + t)
            expected, state = _sb3_actions(model, venv, step_obs, case, state, starts)
            _assert_same(policy.act_batch(step_obs, episode_start=starts), expected, discrete)
            seen.append(np.asarray(expected))
        expected = np.concatenate(seen)
    else:
        expected, _ = _sb3_actions(model, venv, obs, case)
        _assert_same(policy.act_batch(obs), expected, discrete)
        single = {k: v[0] for k, v in obs.items()} if isinstance(obs, dict) else obs[0]
        _assert_same(policy.act(single)[None], np.asarray(expected)[:1], discrete)
    if discrete:
        # The comparisons above can fail: SB3's reference actions vary across the observations.
        assert distinct_actions(expected) > 1, f"{case.id}: SB3 gives one constant action"
