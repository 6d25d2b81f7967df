"""The SB3 VecEnv adapter over the wire: DummyVecEnv semantics, and PPO trains identically remotely."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from clankers.envs import make_env
from clankers.server import ProtocolServer, ServerConfig, env_source
from clankers.server.sb3 import RemoteSB3VecEnv

N = 4
HORIZON = 30  # short episodes so truncation (TimeLimit.truncated) happens within the test


@contextmanager
def remote(binary_batch: bool = True) -> Iterator[RemoteSB3VecEnv]:
    source = env_source("cartpole", max_episode_steps=HORIZON)
    with ProtocolServer(source, ServerConfig(port=0, num_envs=N)) as server:
        caps = {"batch_step": True, "binary_batch": binary_batch}
        env = RemoteSB3VecEnv(*server.address, capabilities=caps)
        try:
            yield env
        finally:
            env.close()


def local() -> DummyVecEnv:
    return DummyVecEnv([lambda: make_env("cartpole", max_episode_steps=HORIZON) for _ in range(N)])


@pytest.mark.parametrize("binary_batch", [False, True])
def test_remote_vec_env_is_a_dummy_vec_env_over_the_wire(binary_batch: bool) -> None:
    ref = local()
    with remote(binary_batch) as env:
        assert env.num_envs == N
        assert env.observation_space.shape == ref.observation_space.shape
        assert env.action_space == ref.action_space
        env.seed(3)
        ref.seed(3)
        np.testing.assert_array_equal(env.reset(), ref.reset())
        rng = np.random.default_rng(0)
        terminal = truncated = 0
        for _ in range(120):
            actions = rng.uniform(-1, 1, (N, 2)).astype(np.float32)
            a = env.step(actions)
            b = ref.step(actions)
            for x, y in zip(a[:3], b[:3], strict=True):
                np.testing.assert_array_equal(x, y)
            assert a[1].dtype == b[1].dtype == np.float32
            for ia, ib in zip(a[3], b[3], strict=True):
                assert ia["TimeLimit.truncated"] == ib["TimeLimit.truncated"]
                assert ("terminal_observation" in ia) == ("terminal_observation" in ib)
                if "terminal_observation" in ib:
                    np.testing.assert_array_equal(ia["terminal_observation"], ib["terminal_observation"])
                    terminal += 1
                    truncated += ib["TimeLimit.truncated"]
        assert terminal > 0 and truncated > 0  # both endings were exercised
        assert env.get_attr("render_mode") == [None] * N
        with pytest.raises(AttributeError):
            env.env_method("render")


def _params(model: PPO) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in model.policy.parameters()]


def _train(env) -> tuple[PPO, list[np.ndarray]]:  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)
    model = PPO(
        "MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=2, seed=7, device="cpu",
        policy_kwargs={"net_arch": [16, 16]},
    )  # fmt: skip
    initial = _params(model)
    model.learn(total_timesteps=2 * 64 * N)
    trained = _params(model)
    assert any(not np.array_equal(a, b) for a, b in zip(initial, trained, strict=True))  # it did learn
    return model, trained


def test_ppo_trains_identically_on_the_remote_cartpole() -> None:
    in_process_model, in_process = _train(local())
    with remote() as env:
        remote_model, over_the_wire = _train(env)
    assert remote_model.num_timesteps == in_process_model.num_timesteps
    assert len(in_process) == len(over_the_wire)
    for a, b in zip(in_process, over_the_wire, strict=True):
        np.testing.assert_array_equal(a, b)  # same data, same updates, bit for bit
