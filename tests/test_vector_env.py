"""ClankersVectorEnv: equal to N single envs (and to Gymnasium's SyncVectorEnv) in every auto-reset mode,
for every thread count; seeding; bad input; errors from worker threads. (That every registered task's
vector env equals Sync is in tests/test_task_contract.py.)"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from _vector_helpers import assert_same_infos
from clankers.envs import find_task
from clankers.envs.vector import ClankersVectorEnv
from clankers.errors import ActionError, ConfigError, SimulationError

#: The cart-pole's single-env factory (what its Gymnasium entry point calls).
CartPoleEnv = find_task("cartpole").factory  # type: ignore[union-attr]
N = 5
# Short episodes and strong random pushes: both terminations and truncations happen within ~40 steps.
HORIZON = 25


def random_actions(steps: int, n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(steps, n, 2)).astype(np.float32)


def run_both(mode: AutoresetMode, threads: int, steps: int = 120) -> int:
    """Step ours and SyncVectorEnv side by side with the same seeds/actions; return episodes ended."""
    ours = ClankersVectorEnv(
        CartPoleEnv, N, autoreset_mode=mode, num_threads=threads, max_episode_steps=HORIZON
    )
    sync = SyncVectorEnv([lambda: CartPoleEnv(max_episode_steps=HORIZON)] * N, autoreset_mode=mode, copy=True)
    obs_a, info_a = ours.reset(seed=7)
    obs_b, info_b = sync.reset(seed=7)
    assert obs_a.tobytes() == obs_b.tobytes() and info_a == info_b == {}
    ended = 0
    for actions in random_actions(steps):
        a = ours.step(actions)
        b = sync.step(actions)
        assert a[0].dtype == b[0].dtype == np.float32 and a[0].shape == (N, 4)
        for x, y in zip(a[:4], b[:4], strict=True):
            assert x.tobytes() == y.tobytes()
        assert_same_infos(a[4], b[4])
        done = a[2] | a[3]
        ended += int(done.sum())
        if mode is AutoresetMode.DISABLED and done.any():
            mask = done.copy()
            obs_a, _ = ours.reset(options={"reset_mask": mask})
            obs_b, _ = sync.reset(options={"reset_mask": mask.copy()})
            assert obs_a.tobytes() == obs_b.tobytes()
    ours.close()
    sync.close()
    return ended


@pytest.mark.parametrize("mode", list(AutoresetMode))
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_equals_sync_vector_env_bit_for_bit(mode: AutoresetMode, threads: int) -> None:
    ended = run_both(mode, threads)
    assert ended >= N  # episodes really ended, so auto-reset was exercised


def test_equals_independent_single_envs_next_step() -> None:
    """Written out by hand, without Gymnasium's vector code: env i seeded with seed + i, next-step reset."""
    envs = [CartPoleEnv(max_episode_steps=HORIZON) for _ in range(N)]
    expected_obs = np.stack([env.reset(seed=3 + i)[0] for i, env in enumerate(envs)])
    vec = ClankersVectorEnv(CartPoleEnv, N, num_threads=2, max_episode_steps=HORIZON)
    obs, _ = vec.reset(seed=3)
    np.testing.assert_array_equal(obs, expected_obs)
    pending = [False] * N
    for actions in random_actions(100, seed=1):
        obs, rewards, terminated, truncated, _ = vec.step(actions)
        for i, env in enumerate(envs):
            if pending[i]:
                o, _ = env.reset()
                r, te, tr = 0.0, False, False
            else:
                o, r, te, tr, _ = env.step(actions[i])
            assert obs[i].tobytes() == o.tobytes()
            assert (rewards[i], terminated[i], truncated[i]) == (r, te, tr)
            pending[i] = te or tr


def test_same_step_keeps_terminal_observation() -> None:
    vec = ClankersVectorEnv(CartPoleEnv, 2, autoreset_mode="SameStep", max_episode_steps=HORIZON)
    reference = CartPoleEnv(max_episode_steps=HORIZON)
    vec.reset(seed=11)
    reference.reset(seed=11)
    push = np.array([[1.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    for _ in range(HORIZON):
        obs, reward, terminated, _, infos = vec.step(push)
        ref_obs, _, ref_term, ref_trunc, _ = reference.step(push[0])
        if ref_term or ref_trunc:
            break
        assert "final_obs" not in infos
    assert terminated[0] and reward[0] == 1.0
    assert infos["_final_obs"].tolist() == [True, False]
    assert infos["final_obs"][0].tobytes() == ref_obs.tobytes()  # the last state, not the reset one
    assert not np.array_equal(obs[0], ref_obs) and np.all(np.abs(obs[0]) <= 0.05)  # already reset


def test_next_step_reset_step_ignores_action_and_pays_nothing() -> None:
    vec = ClankersVectorEnv(CartPoleEnv, 1, max_episode_steps=3)
    vec.reset(seed=0)
    flags = [vec.step(np.zeros((1, 2)))[3][0] for _ in range(3)]
    assert flags == [False, False, True]
    obs, reward, terminated, truncated, _ = vec.step(np.full((1, 2), np.float32(1.0)))
    assert reward[0] == 0.0 and not terminated[0] and not truncated[0]
    assert np.all(np.abs(obs[0]) <= 0.05)  # a fresh start state


def test_same_seed_same_batch_for_any_thread_count() -> None:
    actions = random_actions(60, n=8, seed=2)

    def trajectory(threads: int, seed: int | list[int]) -> bytes:
        vec = ClankersVectorEnv(CartPoleEnv, 8, num_threads=threads, max_episode_steps=HORIZON)
        chunks = [vec.reset(seed=seed)[0].tobytes()]
        chunks += [vec.step(a)[0].tobytes() for a in actions]
        vec.close()
        return b"".join(chunks)

    one = trajectory(1, 5)
    assert trajectory(2, 5) == one
    assert trajectory(4, 5) == one
    assert trajectory(2, list(range(5, 13))) == one  # an int seed means seed + i for env i
    assert trajectory(2, 6) != one


def test_make_vec_builds_it_with_kwargs() -> None:
    vec = gym.make_vec(
        "clankers/CartPole-v1",
        num_envs=3,
        vectorization_mode="vector_entry_point",
        autoreset_mode="SameStep",
        max_episode_steps=7,
    )
    assert isinstance(vec.unwrapped, ClankersVectorEnv)
    assert vec.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    assert vec.observation_space.shape == (3, 4) and vec.action_space.shape == (3, 2)
    vec.reset(seed=0)
    truncated = [vec.step(np.zeros((3, 2)))[3] for _ in range(7)]
    assert truncated[-1].all() and not any(t.any() for t in truncated[:-1])
    vec.close()


# --- bad input ------------------------------------------------------------------------------------------


@pytest.fixture
def vec() -> ClankersVectorEnv:
    env = ClankersVectorEnv(CartPoleEnv, 3, num_threads=2)
    env.reset(seed=0)
    yield env
    env.close()


def test_wrong_action_shape_names_the_expected_one(vec: ClankersVectorEnv) -> None:
    with pytest.raises(ActionError, match=r"expected \(3, 2\)"):
        vec.step(np.zeros((2, 2)))
    with pytest.raises(ActionError, match=r"expected \(3, 2\)"):
        vec.step(np.zeros(2))


def test_nan_action_names_the_env_and_steps_nothing(vec: ClankersVectorEnv) -> None:
    before = [env.sim.data.time for env in vec.envs]
    actions = np.zeros((3, 2))
    actions[1, 0] = np.nan
    with pytest.raises(ActionError, match=r"envs \[1\]"):
        vec.step(actions)
    assert [env.sim.data.time for env in vec.envs] == before


def test_step_before_reset_and_after_close() -> None:
    env = ClankersVectorEnv(CartPoleEnv, 2)
    with pytest.raises(ActionError, match="before reset"):
        env.step(np.zeros((2, 2)))
    env.close()
    with pytest.raises(ConfigError, match="closed"):
        env.reset()


def test_disabled_mode_refuses_to_step_a_finished_env() -> None:
    env = ClankersVectorEnv(CartPoleEnv, 2, autoreset_mode=AutoresetMode.DISABLED, max_episode_steps=2)
    env.reset(seed=0)
    env.step(np.zeros((2, 2)))
    env.step(np.zeros((2, 2)))
    with pytest.raises(ActionError, match="reset_mask"):
        env.step(np.zeros((2, 2)))
    env.reset(options={"reset_mask": np.array([True, True])})
    env.step(np.zeros((2, 2)))  # fine again


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_envs": 0}, "num_envs"),
        ({"num_envs": 2, "num_threads": 0}, "num_threads"),
        ({"num_envs": 2, "autoreset_mode": "sometimes"}, "autoreset_mode"),
        ({"num_envs": 2, "env_entry_point": "no_colon"}, "module:attribute"),
        ({"num_envs": 2, "env_entry_point": "clankers.envs.tasks.env:Nope"}, "cannot load"),
    ],
)
def test_bad_configuration(kwargs: dict[str, Any], match: str) -> None:
    kwargs.setdefault("env_entry_point", CartPoleEnv)
    with pytest.raises(ConfigError, match=match):
        ClankersVectorEnv(**kwargs)


def test_bad_seeds_and_reset_mask(vec: ClankersVectorEnv) -> None:
    with pytest.raises(ConfigError, match="2 seeds for 3 envs"):
        vec.reset(seed=[1, 2])
    with pytest.raises(ConfigError, match="bool array of shape"):
        vec.reset(options={"reset_mask": [True, False, True]})
    with pytest.raises(ConfigError, match="selects no env"):
        vec.reset(options={"reset_mask": np.zeros(3, dtype=bool)})


# --- toy envs: worker errors, infos, threads --------------------------------------------------------------


class InfoEnv(gym.Env):
    """A physics-free env whose infos exercise both info paths (uniform keys, and keys only some envs have)."""

    def __init__(self, ragged: bool = False, fail_at: int = -1) -> None:
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.ragged, self.fail_at, self.t = ragged, fail_at, 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.normal(size=2).astype(np.float32), {"start": float(self.np_random.uniform())}

    def step(self, action: np.ndarray):
        self.t += 1
        if self.t == self.fail_at:
            raise SimulationError("boom")
        value = float(self.np_random.uniform())
        info: dict[str, Any] = {
            "terms": {"a": value, "b": self.t, "deep": {"c": np.float32(value)}},
            "vec": np.full(3, value),
            "fired": ["limit"] if value > 0.7 else [],
            "ok": np.bool_(value > 0.3),
        }
        if self.ragged and value > 0.5:
            info["flag"] = True
        obs = np.array([value, self.t], dtype=np.float32)
        return obs, value, value > 0.9, self.t >= 6, info


@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_infos_batched_as_gymnasium_does(ragged: bool, mode: AutoresetMode) -> None:
    ours = ClankersVectorEnv(InfoEnv, 4, num_threads=2, autoreset_mode=mode, ragged=ragged)
    sync = SyncVectorEnv([lambda: InfoEnv(ragged=ragged)] * 4, autoreset_mode=mode)
    _, info_a = ours.reset(seed=1)
    _, info_b = sync.reset(seed=1)
    assert_same_infos(info_a, info_b)
    for _ in range(20):
        a, b = ours.step(np.zeros((4, 1))), sync.step(np.zeros((4, 1)))
        np.testing.assert_array_equal(a[0], b[0])
        assert_same_infos(a[4], b[4])


def test_error_in_a_worker_thread_reaches_the_caller() -> None:
    env = ClankersVectorEnv(InfoEnv, 4, num_threads=2, fail_at=2)
    env.reset(seed=0)
    env.step(np.zeros((4, 1)))
    with pytest.raises(SimulationError, match="boom"):
        env.step(np.zeros((4, 1)))
    env.close()


def pool_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("clankers-vec-")}


def test_close_stops_the_worker_threads() -> None:
    before = pool_threads()
    env = ClankersVectorEnv(InfoEnv, 6, num_threads=3)
    mine = pool_threads() - before
    assert len(mine) == 2  # the caller runs slice 0 itself
    env.close()
    assert env.closed and not any(t.is_alive() for t in mine)


def test_an_unclosed_env_stops_its_threads_when_collected() -> None:
    before = pool_threads()
    env = ClankersVectorEnv(InfoEnv, 4, num_threads=2)
    env.reset(seed=0)
    env.step(np.zeros((4, 1)))
    mine = pool_threads() - before
    assert len(mine) == 1
    del env
    gc.collect()
    for thread in mine:
        thread.join(timeout=5)
    assert not any(t.is_alive() for t in mine)


class SlowFirstEnv(InfoEnv):
    """Env 0 of a batch sleeps in step (sleeping releases the GIL, as mj_step does); records its thread."""

    instances = 0

    def __init__(self) -> None:
        super().__init__()
        self.index = SlowFirstEnv.instances
        SlowFirstEnv.instances += 1
        self.stepped_by: int | None = None

    def step(self, action: np.ndarray):
        if self.index == 0:
            time.sleep(0.3)
        self.stepped_by = threading.get_ident()
        return super().step(action)


def test_idle_thread_steals_work_from_a_busy_one() -> None:
    SlowFirstEnv.instances = 0
    env = ClankersVectorEnv(SlowFirstEnv, 6, num_threads=2)  # slices: envs 0-2 (caller), 3-5 (worker)
    env.reset(seed=0)
    env.step(np.zeros((6, 1)))
    caller = threading.get_ident()
    assert env.envs[0].stepped_by == caller
    assert env.envs[1].stepped_by != caller and env.envs[2].stepped_by != caller  # taken by the worker
    env.close()


def test_gymnasium_vector_wrappers_work_on_it() -> None:
    """RecordEpisodeStatistics (reads autoreset_mode from metadata) counts the same episodes as on Sync."""

    def episodes(vec: gym.vector.VectorEnv) -> list[tuple[int, float]]:
        vec = gym.wrappers.vector.RecordEpisodeStatistics(gym.wrappers.vector.ClipAction(vec))
        vec.reset(seed=4)
        found = []
        for actions in random_actions(80, seed=5) * 2.0:  # out of bounds: ClipAction brings them back
            info = vec.step(actions)[4]
            if "episode" in info:
                found += [
                    (int(info["episode"]["l"][i]), float(info["episode"]["r"][i]))
                    for i in np.flatnonzero(info["_episode"])
                ]
        return found

    ours = episodes(ClankersVectorEnv(CartPoleEnv, N, num_threads=2, max_episode_steps=HORIZON))
    sync = episodes(SyncVectorEnv([lambda: CartPoleEnv(max_episode_steps=HORIZON)] * N))
    assert len(ours) >= N and ours == sync
