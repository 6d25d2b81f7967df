"""RaySB3VecEnv: the local vector env's numbers bit for bit, PPO weights identical, dead workers replaced
and stuck ones reported, never a hang. Runs inside the network sandbox (test_distributed_sandbox.py)."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

pytest.importorskip("ray")
pytest.importorskip("stable_baselines3")

from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecMonitor

from _ray_helpers import FULL_SUITE_ONLY, SANDBOXED, shared_ray
from clankers.distributed.sb3 import RaySB3VecEnv
from clankers.envs.sb3 import make_sb3_vec_env
from clankers.errors import ConfigError, WorkerError

pytestmark = SANDBOXED

N, HORIZON = 6, 30


@pytest.fixture(scope="module", autouse=True)
def _ray() -> None:
    shared_ray()


def _same_step(a: tuple, b: tuple) -> None:
    (obs_a, rew_a, done_a, infos_a), (obs_b, rew_b, done_b, infos_b) = a, b
    assert obs_a.tobytes() == obs_b.tobytes()
    assert rew_a.dtype == rew_b.dtype and rew_a.tobytes() == rew_b.tobytes()
    np.testing.assert_array_equal(done_a, done_b)
    for x, y in zip(infos_a, infos_b, strict=True):
        assert x.keys() == y.keys()
        assert x["TimeLimit.truncated"] == y["TimeLimit.truncated"]
        if "terminal_observation" in y:
            assert x["terminal_observation"].tobytes() == y["terminal_observation"].tobytes()


def test_equals_the_local_vector_env_bit_for_bit() -> None:
    ours = RaySB3VecEnv("cartpole", N, num_workers=2, seed=7, max_episode_steps=HORIZON)
    local = make_sb3_vec_env("cartpole", N, seed=7, max_episode_steps=HORIZON)
    assert ours.reset().tobytes() == local.reset().tobytes()
    assert ours.reset_infos == local.reset_infos
    actions = np.random.default_rng(0).uniform(-1, 1, size=(90, N, 2)).astype(np.float32)
    ended = 0
    for action in actions[:60]:
        step = ours.step(action)
        _same_step(step, local.step(action))
        ended += int(step[2].sum())
    assert ended > N  # episodes ended (failures and time-outs) and the envs reset in step
    # Several steps per call: the same numbers as one call per step.
    obs, rewards, dones, infos = ours.step_sequence(actions[60:])
    for t, action in enumerate(actions[60:]):
        _same_step((obs[t], rewards[t], dones[t], infos[t]), local.step(action))
    assert ours.get_attr("dt", indices=[0, 5]) == local.get_attr("dt", indices=[0, 5])
    assert len({info["pid"] for info in ours.worker_info}) == 2
    ours.close()
    local.close()


def test_ppo_trains_to_identical_weights() -> None:
    def trained(env: object) -> dict:
        model = PPO("MlpPolicy", VecMonitor(env), n_steps=32, batch_size=64, n_epochs=2, seed=3, device="cpu")
        model.learn(total_timesteps=4 * 32 * 3)
        params = {k: v.detach().numpy().copy() for k, v in model.policy.state_dict().items()}
        model.env.close()
        return params

    import torch

    torch.set_num_threads(1)
    remote = trained(RaySB3VecEnv("cartpole", 4, num_workers=2, seed=3))
    local = trained(make_sb3_vec_env("cartpole", 4, seed=3))
    assert remote.keys() == local.keys()
    for name in local:
        assert remote[name].tobytes() == local[name].tobytes(), name


def test_a_killed_worker_is_replaced_and_training_goes_on() -> None:
    env = RaySB3VecEnv("cartpole", 4, num_workers=2, seed=0, max_restarts=2)

    class KillOnce(BaseCallback):
        killed: int | None = None
        restarted_infos = 0

        def _on_step(self) -> bool:
            self.restarted_infos += sum(bool(i.get("worker_restarted")) for i in self.locals["infos"])
            if self.killed is None and self.num_timesteps >= 40:  # mid-rollout (n_steps 32 x 4 envs)
                self.killed = env.worker_pids()[1]
                os.kill(self.killed, signal.SIGKILL)
            return True

    callback = KillOnce()
    model = PPO("MlpPolicy", VecMonitor(env), n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=4 * 32 * 3, callback=callback)
    assert model.num_timesteps == 4 * 32 * 3  # learn() ran to its end
    assert env.restarts == 1
    assert callback.killed not in env.worker_pids()  # a new process holds envs 2..3
    assert callback.restarted_infos == 2  # its two envs ended as truncated episodes, once
    env.close()


def test_after_max_restarts_a_dead_worker_is_a_clear_error() -> None:
    env = RaySB3VecEnv("cartpole", 2, num_workers=1, seed=0, max_restarts=0)
    env.reset()
    os.kill(env.worker_pids()[0], signal.SIGKILL)
    with pytest.raises(WorkerError, match=r"worker 0 \(envs 0\.\.1.*max_restarts=0"):
        env.step(np.zeros((2, 2), dtype=np.float32))
    env.close()


@FULL_SUITE_ONLY
def test_a_stuck_worker_is_reported_not_waited_for() -> None:
    env = RaySB3VecEnv("cartpole", 1, num_workers=1, seed=0, call_timeout_s=3)
    env.reset()
    pid = env.worker_pids()[0]
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(WorkerError, match=r"worker 0 .* did not answer within call_timeout_s=3"):
            env.step(np.zeros((1, 2), dtype=np.float32))
    finally:
        os.kill(pid, signal.SIGCONT)
        env.close()


def test_refuses_fewer_envs_than_workers() -> None:
    with pytest.raises(ConfigError, match="num_envs"):
        RaySB3VecEnv("cartpole", 2, num_workers=3)
