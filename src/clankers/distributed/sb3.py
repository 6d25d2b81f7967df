"""Distributed rollouts for Stable-Baselines3: a ``VecEnv`` whose environments live in Ray actors.

The design is RLlib's EnvRunner: each worker actor holds a contiguous slice of the environments as one
clankers vector env (threaded, same-step auto-reset) and steps its whole slice per call. The learner makes
one remote call per worker per step, never one per environment: a synchronous Ray actor call costs about
0.5-1.5 ms, the time to step some 30 cart-poles, so per-env calls would be slower than one core.

**Same numbers as the local vector env.** Env ``i`` is seeded ``seed + i`` exactly as in
:func:`clankers.envs.sb3.make_sb3_vec_env`; every worker turns its slice's results into SB3's step
semantics with :mod:`clankers.envs.sb3_steps`, the code the local :class:`~clankers.envs.sb3.ClankersSB3VecEnv`
runs; the learner concatenates the slices in env order. Observations, rewards, dones and infos are
therefore bit for bit those of the local env, and PPO trained on either ends with identical weights
(``tests/test_distributed_rollouts.py``). Workers import neither SB3 nor torch.

**Several steps per call.** :meth:`RaySB3VecEnv.step_sequence` sends ``T`` action batches per call
(open-loop: scripted or replayed actions, benchmarks). Closed-loop RL cannot batch steps that way, since
each action depends on the previous observation; evaluation runs the policy itself on the workers instead
(:mod:`clankers.distributed.evaluation`), whole episodes per call.

**Failures.** A worker that dies (its process killed, its node lost) is replaced: a new actor with the
same slice is started (anywhere in the cluster), its envs are reset, and the step in flight reports those
envs as *truncated* (``dones[i]`` and ``infos[i]["TimeLimit.truncated"]``, the last observation the learner
saw as ``terminal_observation``, reward 0, ``infos[i]["worker_restarted"] = True``), so SB3 bootstraps
their value and training goes on. Re-created envs are seeded ``last seed + num_envs * r`` (``r`` = restarts
so far). After ``max_restarts`` replacements, or when a worker does not answer within ``call_timeout_s``
(alive but stuck), :class:`~clankers.errors.WorkerError` names the worker and stops training: never a hang.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from clankers.distributed.cluster import require_connected
from clankers.distributed.env_worker import EnvSliceWorker, slice_bounds
from clankers.envs import resolve_task
from clankers.errors import ConfigError, WorkerError

log = logging.getLogger(__name__)

Info = dict[str, Any]


class RaySB3VecEnv(VecEnv):
    """An SB3 ``VecEnv`` of ``num_envs`` copies of ``task``, stepped by ``num_workers`` Ray actors.

    Args:
        task: short task name or Gymnasium id.
        num_envs: environments in total; worker ``k`` holds a contiguous slice of them.
        num_workers: Ray actors (each needs ``cpus_per_worker`` CPUs somewhere in the cluster).
        seed: seeds the first ``reset()`` (env ``i`` gets ``seed + i``), as ``make_sb3_vec_env``.
        cpus_per_worker: Ray CPUs each actor reserves; also its vector env's thread count unless
            ``threads_per_worker`` is given.
        max_restarts: dead workers replaced over the env's life before :class:`WorkerError` stops it.
        call_timeout_s: longest wait for one worker's answer before :class:`WorkerError` (a stuck worker).
        startup_timeout_s: longest wait for the workers to start (a cluster without room for them).
        spread: place the actors on as many nodes as possible (Ray's ``SPREAD`` strategy).
        **env_kwargs: passed to every env (e.g. ``max_episode_steps``).

    Ray must be connected (:func:`clankers.distributed.ray_session` or ``ray.init``). Closing the env
    ends its actors.

    Example::

        with ray_session():  # a private local Ray; ray_session("HEAD:6379") for a cluster
            env = RaySB3VecEnv("cartpole", 64, num_workers=4, seed=0)
            PPO("MlpPolicy", VecMonitor(env)).learn(100_000)
            env.close()
    """

    def __init__(
        self,
        task: str,
        num_envs: int,
        *,
        num_workers: int = 2,
        seed: int | None = None,
        cpus_per_worker: float = 1,
        threads_per_worker: int | None = None,
        max_restarts: int = 3,
        call_timeout_s: float = 120.0,
        startup_timeout_s: float = 120.0,
        spread: bool = True,
        **env_kwargs: Any,
    ) -> None:
        ray = require_connected()
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
            raise ConfigError(f"num_workers must be an integer >= 1, got {num_workers!r}")
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < num_workers:
            raise ConfigError(
                f"num_envs ({num_envs!r}) must be an integer >= num_workers ({num_workers}); "
                "every worker holds at least one env",
                hint="raise --num-envs or lower --num-workers",
            )
        if max_restarts < 0 or call_timeout_s <= 0 or startup_timeout_s <= 0:
            raise ConfigError("max_restarts must be >= 0 and the timeouts > 0")
        self.task = task
        self.env_id = resolve_task(task)
        self.num_workers = num_workers
        self.max_restarts = max_restarts
        self.restarts = 0
        self.call_timeout_s = float(call_timeout_s)
        self.startup_timeout_s = float(startup_timeout_s)
        self._env_kwargs = dict(env_kwargs)
        self._slices = slice_bounds(num_envs, num_workers)
        threads = threads_per_worker if threads_per_worker is not None else max(1, int(cpus_per_worker))
        self._actor_class = ray.remote(EnvSliceWorker).options(
            num_cpus=cpus_per_worker,
            max_restarts=0,  # replaced by us (see _replace), so the step in flight is accounted for
            scheduling_strategy="SPREAD" if spread else "DEFAULT",
        )
        self._threads = threads
        self._workers: list[Any] = [self._spawn(lo, hi) for lo, hi in self._slices]
        self.worker_info: list[dict[str, Any]] = self._await_started(list(range(num_workers)))
        first = self.worker_info[0]
        self._pending: list[Any] | None = None
        self._last_obs: np.ndarray | None = None
        self._last_seeds: list[int | None] = [None] * num_envs
        super().__init__(num_envs, first["observation_space"], first["action_space"])
        if seed is not None:
            self.seed(seed)

    # --- workers ----------------------------------------------------------------------------------------

    def _spawn(self, lo: int, hi: int) -> Any:
        return self._actor_class.remote(self.env_id, hi - lo, self._env_kwargs, self._threads)

    def _await_started(self, ks: list[int]) -> list[dict[str, Any]]:
        import ray

        refs = [self._workers[k].describe.remote() for k in ks]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=self.startup_timeout_s)
        if len(ready) < len(refs):
            self._kill_all()
            free = ray.available_resources().get("CPU", 0.0)
            raise WorkerError(
                f"{len(refs) - len(ready)} of {len(refs)} rollout workers did not start within "
                f"{self.startup_timeout_s:g} s (the cluster has {free:g} CPUs free)",
                hint="use fewer workers (--num-workers) or add nodes to the cluster",
            )
        try:
            return ray.get(refs)
        except ray.exceptions.RayActorError as err:
            self._kill_all()
            cause = err.cause if isinstance(getattr(err, "cause", None), Exception) else err
            raise WorkerError(f"a rollout worker failed to start: {cause}") from err

    def _describe(self, k: int) -> str:
        lo, hi = self._slices[k]
        info = self.worker_info[k]
        return f"worker {k} (envs {lo}..{hi - 1}, pid {info['pid']} on {info['host']})"

    def _replace(self, k: int, err: BaseException) -> None:
        """Start a new actor for worker ``k``'s slice after it died, or raise :class:`WorkerError`."""
        import ray

        what = self._describe(k)
        if self.restarts >= self.max_restarts:
            self._pending = None
            raise WorkerError(
                f"{what} died ({type(err).__name__}) and {self.restarts} of max_restarts="
                f"{self.max_restarts} replacements are used up",
                hint="check the worker's node (ray status, its logs); raise max_restarts to tolerate more",
            ) from err
        self.restarts += 1
        log.warning(
            "%s died (%s); starting a replacement (%d/%d)",
            what,
            type(err).__name__,
            self.restarts,
            self.max_restarts,
        )
        with contextlib.suppress(Exception):  # already gone
            ray.kill(self._workers[k], no_restart=True)
        lo, hi = self._slices[k]
        self._workers[k] = self._spawn(lo, hi)
        self.worker_info[k] = self._await_started([k])[0]

    def _recovery_seeds(self, k: int) -> list[int | None]:
        lo, hi = self._slices[k]
        return [None if s is None else s + self.num_envs * self.restarts for s in self._last_seeds[lo:hi]]

    def _gather(self, refs: list[Any], on_death: Any) -> list[Any]:
        """Every worker's answer, in order; ``on_death(k, err)`` supplies a dead worker's part."""
        import ray

        timeout = self.call_timeout_s
        try:  # the common case in one call; on any failure, find out worker by worker below
            return list(ray.get(refs, timeout=timeout))
        except ray.exceptions.GetTimeoutError:
            timeout = 0.01  # the full timeout has passed: now only see which worker is late
        except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError):
            pass
        parts = []
        for k, ref in enumerate(refs):
            try:
                parts.append(ray.get(ref, timeout=timeout))
            except ray.exceptions.GetTimeoutError as err:
                self._pending = None
                raise WorkerError(
                    f"{self._describe(k)} did not answer within call_timeout_s={self.call_timeout_s:g} s",
                    hint="a stuck env or an overloaded node; close() ends the workers",
                ) from err
            except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as err:
                parts.append(on_death(k, err))
        return parts

    def _kill_all(self) -> None:
        import ray

        for worker in self._workers:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(worker, no_restart=True)

    # --- the SB3 vector API -----------------------------------------------------------------------------

    def reset(self) -> np.ndarray:
        """Reset every env with the seeds/options set since the last reset (then forget them, as SB3)."""
        seeds, options = list(self._seeds), list(self._options)
        self._last_seeds = seeds

        def call(k: int) -> Any:
            lo, hi = self._slices[k]
            return self._workers[k].reset.remote(seeds[lo:hi], options[lo:hi])

        def on_death(k: int, err: BaseException) -> Any:
            self._replace(k, err)
            import ray

            return ray.get(call(k), timeout=self.call_timeout_s)

        parts = self._gather([call(k) for k in range(self.num_workers)], on_death)
        obs = np.concatenate([p[0] for p in parts])
        self.reset_infos = [info for p in parts for info in p[1]]
        self._reset_seeds()
        self._reset_options()
        self._last_obs = obs
        return obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        if self._last_obs is None:
            raise ConfigError("step() called before reset(); call reset() once after creating the env")
        self._pending = [
            worker.step.remote(actions[lo:hi])
            for worker, (lo, hi) in zip(self._workers, self._slices, strict=True)
        ]

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Info]]:
        if self._pending is None:
            raise ConfigError("step_wait() called without step_async(actions); call step(actions) instead")
        pending, self._pending = self._pending, None
        parts = self._gather(pending, self._truncated_by_death)
        obs = np.concatenate([p[0] for p in parts])
        rewards = np.concatenate([p[1] for p in parts])
        dones = np.concatenate([p[2] for p in parts])
        infos = [info for p in parts for info in p[3]]
        for k, part in enumerate(parts):
            lo = self._slices[k][0]
            for i, info in part[4].items():
                self.reset_infos[lo + i] = info
        self._last_obs = obs
        return obs.copy(), rewards, dones, infos

    def _truncated_by_death(self, k: int, err: BaseException) -> tuple:
        """Worker ``k`` died mid-step: replace it, reset its envs, report them as truncated episodes."""
        import ray

        self._replace(k, err)
        lo, hi = self._slices[k]
        seeds = self._recovery_seeds(k)
        obs, reset_infos = ray.get(
            self._workers[k].reset.remote(seeds, [{} for _ in range(hi - lo)]), timeout=self.call_timeout_s
        )
        assert self._last_obs is not None
        infos = [
            {
                "terminal_observation": self._last_obs[i].copy(),
                "TimeLimit.truncated": True,
                "worker_restarted": True,
            }
            for i in range(lo, hi)
        ]
        n = hi - lo
        return (
            obs,
            np.zeros(n, dtype=np.float32),
            np.ones(n, dtype=np.bool_),
            infos,
            dict(enumerate(reset_infos)),
        )

    def step_sequence(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
        """``T`` steps in one call per worker: ``actions`` ``[T, num_envs, *action_shape]`` (open loop).

        Returns observations ``[T, num_envs, ...]``, rewards and dones ``[T, num_envs]`` and ``T`` lists
        of infos, as ``T`` calls of :meth:`step` would. A worker that dies here raises
        :class:`WorkerError` (an open-loop sequence cannot be resumed halfway).
        """

        if self._last_obs is None:
            raise ConfigError("step_sequence() called before reset(); call reset() first")
        actions = np.asarray(actions)
        refs = [
            worker.step_sequence.remote(actions[:, lo:hi])
            for worker, (lo, hi) in zip(self._workers, self._slices, strict=True)
        ]

        def on_death(k: int, err: BaseException) -> Any:
            raise WorkerError(f"{self._describe(k)} died during step_sequence: {err}") from err

        parts = self._gather(refs, on_death)
        obs = np.concatenate([p[0] for p in parts], axis=1)
        rewards = np.concatenate([p[1] for p in parts], axis=1)
        dones = np.concatenate([p[2] for p in parts], axis=1)
        infos = [[info for p in parts for info in p[3][t]] for t in range(len(actions))]
        for k, part in enumerate(parts):
            for i, info in part[4].items():
                self.reset_infos[self._slices[k][0] + i] = info
        self._last_obs = obs[-1]
        return obs, rewards, dones, infos

    def close(self) -> None:
        import ray

        if getattr(self, "_workers", None):
            with contextlib.suppress(Exception):  # a dead worker has nothing left to close
                ray.get([w.close.remote() for w in self._workers], timeout=10)
            self._kill_all()
            self._workers = []

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (tests kill one to check recovery)."""
        return [int(info["pid"]) for info in self.worker_info]

    # --- attribute access: routed to the worker holding each env ----------------------------------------

    def _by_worker(self, indices: Any) -> list[tuple[int, list[int]]]:
        groups: dict[int, list[int]] = {}
        for i in self._get_indices(indices):
            k = next(k for k, (lo, hi) in enumerate(self._slices) if lo <= i < hi)
            groups.setdefault(k, []).append(i - self._slices[k][0])
        return list(groups.items())

    def _call(self, method: str, indices: Any, *args: Any) -> list[Any]:

        groups = self._by_worker(indices)
        refs = [getattr(self._workers[k], method).remote(*args, local) for k, local in groups]

        def on_death(k: int, err: BaseException) -> Any:
            raise WorkerError(f"{self._describe(groups[k][0])} died: {err}") from err

        return [value for part in self._gather(refs, on_death) for value in (part or [])]

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return self._call("get_attr", indices, attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        self._call("set_attr", indices, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
    ) -> list:
        return self._call("env_method", indices, method_name, method_args, method_kwargs)

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]  # the single envs are never wrapped

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            return [None for _ in range(self.num_envs)]
        import ray

        return [image for part in ray.get([w.render.remote() for w in self._workers]) for image in part]


def ray_vec_env(num_workers: int, **options: Any) -> Callable[[str, int, int], Any]:
    """A ``vec_env(task, num_envs, seed)`` factory for :func:`clankers.train.train`: the run's training
    envs on ``num_workers`` Ray workers (``options`` go to :class:`RaySB3VecEnv`), under ``VecMonitor``."""

    def make(task: str, num_envs: int, seed: int) -> Any:
        from stable_baselines3.common.vec_env import VecMonitor

        return VecMonitor(RaySB3VecEnv(task, num_envs, num_workers=num_workers, seed=seed, **options))

    return make


__all__ = ["RaySB3VecEnv", "ray_vec_env"]
