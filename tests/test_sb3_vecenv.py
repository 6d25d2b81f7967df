"""ClankersSB3VecEnv: identical to SB3's DummyVecEnv over the same envs, usable by PPO, typed errors."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

pytest.importorskip("stable_baselines3")

from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from clankers.envs import find_task
from clankers.envs.sb3 import ClankersSB3VecEnv, make_sb3_vec_env
from clankers.envs.vector import ClankersVectorEnv
from clankers.errors import ConfigError

CartPoleEnv = find_task("cartpole").factory  # type: ignore[union-attr]
N = 4
HORIZON = 20


def test_equals_dummy_vec_env_bit_for_bit() -> None:
    ours = make_sb3_vec_env("cartpole", N, seed=9, num_threads=2, max_episode_steps=HORIZON)
    dummy = DummyVecEnv([lambda: CartPoleEnv(max_episode_steps=HORIZON)] * N)
    dummy.seed(9)
    assert ours.reset().tobytes() == dummy.reset().tobytes()
    actions = np.random.default_rng(0).uniform(-1, 1, size=(100, N, 2)).astype(np.float32)
    finished = truncated = 0
    for action in actions:
        obs_a, rew_a, done_a, infos_a = ours.step(action)
        obs_b, rew_b, done_b, infos_b = dummy.step(action)
        assert obs_a.tobytes() == obs_b.tobytes()
        assert rew_a.dtype == rew_b.dtype and rew_a.tobytes() == rew_b.tobytes()
        np.testing.assert_array_equal(done_a, done_b)
        for a, b in zip(infos_a, infos_b, strict=True):
            assert a.keys() == b.keys()
            assert a["TimeLimit.truncated"] == b["TimeLimit.truncated"]
            if "terminal_observation" in b:
                assert a["terminal_observation"].tobytes() == b["terminal_observation"].tobytes()
        finished += int(done_a.sum())
        truncated += sum(info["TimeLimit.truncated"] for info in infos_a)
    assert finished > truncated > 0  # both failures and time-outs happened
    ours.close()


def test_ppo_trains_on_it_and_vecmonitor_counts_episodes() -> None:
    env = VecMonitor(make_sb3_vec_env("cartpole", N, seed=0))
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    assert len(model.ep_info_buffer) > 0  # episodes ended and were reported through the infos
    env.close()


def test_attribute_access_reaches_the_envs() -> None:
    env = make_sb3_vec_env("cartpole", 3)
    assert env.get_attr("max_episode_steps") == [500, 500, 500]
    env.set_attr("max_episode_steps", 2, indices=[1])
    assert env.get_attr("max_episode_steps", indices=1) == [2]
    names = env.env_method("__getattribute__", "observation_names", indices=[0])
    assert names[0][0] == "cart_slide.position"
    assert env.env_is_wrapped(gym.Wrapper) == [False, False, False]
    env.close()


class OptionEnv(gym.Env):
    """Start observation = options["x"]: shows which options each env was reset with."""

    observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return np.array([(options or {}).get("x", -1.0)], dtype=np.float32), {}

    def step(self, action: np.ndarray):
        return np.zeros(1, np.float32), 0.0, False, False, {}


def test_per_env_reset_options_as_sb3() -> None:
    env = ClankersSB3VecEnv(ClankersVectorEnv(OptionEnv, 3, autoreset_mode="SameStep"))
    env.set_options([{"x": 1.0}, {"x": 2.0}, {"x": 1.0}])
    assert env.reset().ravel().tolist() == [1.0, 2.0, 1.0]
    assert env.reset().ravel().tolist() == [-1.0, -1.0, -1.0]  # options apply once, as in SB3


def test_refuses_wrong_vector_envs() -> None:
    with pytest.raises(ConfigError, match="SameStep"):
        ClankersSB3VecEnv(ClankersVectorEnv(CartPoleEnv, 2))
    with pytest.raises(ConfigError, match="DummyVecEnv"):
        ClankersSB3VecEnv(gym.vector.SyncVectorEnv([CartPoleEnv]))  # type: ignore[arg-type]


class EndsBothWaysEnv(OptionEnv):
    """Terminates at step 2, and is also out of time at step 2 (max 2 steps): a failure, not a time-out."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.t = 0
        return super().reset(seed=seed, options=options)

    def step(self, action: np.ndarray):
        self.t += 1
        return np.full(1, self.t, np.float32), 1.0, self.t == 2 and action[0] > 0, self.t == 2, {"t": self.t}


def test_time_limit_flag_only_for_pure_time_outs() -> None:
    env = ClankersSB3VecEnv(ClankersVectorEnv(EndsBothWaysEnv, 2, autoreset_mode="SameStep"))
    env.reset()
    env.step(np.zeros((2, 1)))
    obs, _, dones, infos = env.step(np.array([[1.0], [-1.0]]))
    assert dones.tolist() == [True, True]
    assert [info["TimeLimit.truncated"] for info in infos] == [False, True]
    assert [info["t"] for info in infos] == [2, 2]  # the final step's info, not the reset's
    assert [info["terminal_observation"][0] for info in infos] == [2.0, 2.0]
    assert obs.ravel().tolist() == [-1.0, -1.0]  # already reset


def test_a_gymnasium_env_from_outside_clankers_gets_sb3s_dummy_vec_env() -> None:
    ours = make_sb3_vec_env("CartPole-v1", 2, seed=3)
    assert isinstance(ours, DummyVecEnv)
    reference = DummyVecEnv([lambda: gym.make("CartPole-v1")] * 2)
    reference.seed(3)
    assert ours.reset().tobytes() == reference.reset().tobytes()
    for _ in range(30):
        a, b = ours.step(np.array([0, 1])), reference.step(np.array([0, 1]))
        assert a[0].tobytes() == b[0].tobytes() and a[2].tolist() == b[2].tolist()
