"""Fast in-process vector environment: N MuJoCo tasks stepped by a small persistent thread pool.

Why threads and not processes: ``mujoco.mj_step`` releases the GIL, so while one thread integrates its
share of the batch another can run Python for its own share. With the batch split into one contiguous
slice per core, the physics of every slice runs in parallel and only the (small) Python part of each
env step is serialized. Processes (Gymnasium's ``AsyncVectorEnv``) pay for pickling and pipes on every
step instead, and ``mujoco.rollout`` copies the state in and out of its own buffers each call.

What this vector env guarantees:

- **Same results as stepping N single envs.** Env ``i`` is an ordinary instance of the task's single-env
  class; the vector env only decides *when* it is stepped or reset, never how. Given the same seeds and
  actions, observations, rewards and flags equal Gymnasium's ``SyncVectorEnv`` over the same class, bit
  for bit, in every auto-reset mode and for every thread count (each env touches only its own state and
  its own random generator, so the split into threads cannot change a number).
- **Gymnasium's auto-reset modes** (:class:`gymnasium.vector.AutoresetMode`): ``NEXT_STEP`` (default, as
  Gymnasium), ``SAME_STEP`` (the finished env is reset inside the same ``step``; its last observation and
  info are in ``infos["final_obs"]`` / ``infos["final_info"]`` with the ``_final_obs`` mask) and
  ``DISABLED`` (the caller resets with ``reset(options={"reset_mask": mask})``).
- **Seeding as Gymnasium's vector envs:** ``reset(seed=s)`` seeds env ``i`` with ``s + i``; a list gives
  one seed per env. Later auto-resets draw from each env's own generator, so one seed fixes every episode
  of every env.

Hot path hook (optional, duck-typed): when the single env defines ``step_unchecked(action)`` (``step``
without argument validation), the vector env validates the whole batch once (shape, NaN/inf) and calls
that instead of ``step``, saving a per-env conversion and check.

Batched tasks (:mod:`clankers.envs.tasks.batch`): when every env is a task that runs batched, the threads
only step the physics of their envs and copy each env's MuJoCo state into one row of ``[N, ...]``
arrays; every observation, reward and termination term is then evaluated once for all N envs (and
again for the envs reset in that step). Resets and their seeds are per env as before, so the results
still equal ``SyncVectorEnv`` over the single envs, bit for bit.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from clankers.errors import ActionError, ConfigError

EnvFactory = Callable[..., gym.Env]

# Below this many physics substeps per slice, a thread hand-off (~10-20 µs) costs more than it saves.
_MIN_SUBSTEPS_PER_THREAD = 40


def available_cores() -> int:
    """CPU cores this process may run on (affinity-aware where the OS tells us)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS/Windows
        return max(1, os.cpu_count() or 1)


class _SlicePool:
    """Persistent worker threads, each running ``work(k)`` for its slice index ``k`` on demand.

    The calling thread runs slice 0 itself, so a step costs one wake-up per *extra* thread. Signalling
    uses plain locks (acquire blocks until another thread releases), the cheapest primitive CPython has.
    Threads hold no reference to the vector env (only to this pool), so an unclosed env can still be
    garbage collected; a ``weakref.finalize`` then stops the threads.
    """

    def __init__(self, n_threads: int) -> None:
        self.n_threads = n_threads
        self._work: Callable[[int], None] | None = None
        self._errors: list[BaseException | None] = [None] * n_threads
        self._go = [threading.Lock() for _ in range(n_threads)]
        self._done = [threading.Lock() for _ in range(n_threads)]
        self._stop = False
        self._threads: list[threading.Thread] = []
        for k in range(1, n_threads):
            self._go[k].acquire()
            self._done[k].acquire()
            thread = threading.Thread(target=self._worker, args=(k,), name=f"clankers-vec-{k}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _worker(self, k: int) -> None:
        go, done = self._go[k], self._done[k]
        while True:
            go.acquire()
            if self._stop:
                done.release()
                return
            try:
                self._work(k)  # type: ignore[misc]
            except BaseException as exc:  # re-raised in the calling thread
                self._errors[k] = exc
            done.release()

    def run(self, work: Callable[[int], None]) -> None:
        """Run ``work(k)`` for every slice ``k`` (in parallel) and return when all are done."""
        if self.n_threads == 1:
            work(0)
            return
        self._work = work
        for k in range(1, self.n_threads):
            self._go[k].release()
        first: BaseException | None = None
        try:
            work(0)
        except BaseException as exc:
            first = exc
        for k in range(1, self.n_threads):
            # Wait for every worker even through a KeyboardInterrupt: returning while one still steps
            # would let the next run() see its stale "done" and race it. Re-raised below.
            while True:
                try:
                    self._done[k].acquire()
                    break
                except BaseException as exc:
                    first = first or exc
        self._work = None
        errors = [first, *self._errors[1:]]
        self._errors = [None] * self.n_threads
        for error in errors:
            if error is not None:
                raise error

    def shutdown(self) -> None:
        if self._stop:
            return
        self._stop = True
        for k in range(1, self.n_threads):
            self._go[k].release()
        for k in range(1, self.n_threads):
            self._done[k].acquire()
        for thread in self._threads:
            thread.join()


def _resolve_factory(env_entry_point: EnvFactory | str) -> EnvFactory:
    if isinstance(env_entry_point, str):
        if ":" not in env_entry_point:
            raise ConfigError(
                f"env entry point {env_entry_point!r} is not 'module:attribute'; "
                "pass e.g. 'my_package.envs:MyEnv' or the class itself"
            )
        try:
            return load_env_creator(env_entry_point)  # type: ignore[return-value]
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot load env entry point {env_entry_point!r}: {exc}") from exc
    if not callable(env_entry_point):
        raise ConfigError(
            f"env entry point must be a callable or 'module:attribute', got {env_entry_point!r}"
        )
    return env_entry_point


def _autoreset_mode(value: AutoresetMode | str) -> AutoresetMode:
    if isinstance(value, AutoresetMode):
        return value
    try:
        return AutoresetMode(value)
    except ValueError:
        by_name = {m.name.lower(): m for m in AutoresetMode}
        key = str(value).lower().replace("-", "_")
        if key in by_name:
            return by_name[key]
        known = ", ".join(f"{m.value!r}" for m in AutoresetMode)
        raise ConfigError(
            f"unknown autoreset_mode {value!r}; use an AutoresetMode or one of {known}"
        ) from None


class ClankersVectorEnv(VectorEnv):
    """``num_envs`` copies of one task, stepped in-process by a thread pool, with batched numpy I/O.

    Args:
        env_entry_point: the single-env class (or factory, or ``"module:Class"``); called once per env
            with ``env_kwargs``. Observation and action spaces must be ``Box`` spaces.
        num_envs: batch size N (>= 1).
        autoreset_mode: :class:`gymnasium.vector.AutoresetMode` or its value (``"NextStep"``,
            ``"SameStep"``, ``"Disabled"``); ``NEXT_STEP`` by default, as Gymnasium.
        num_threads: worker threads including the caller's; default: one per available core, fewer
            when the batch is too small to amortize a thread hand-off. Results never depend on it.
        copy: return fresh arrays from ``reset``/``step`` (default). ``False`` returns internal buffers
            that the next call overwrites (saves a copy; for callers that consume them at once).
        **env_kwargs: passed to every single env (e.g. ``max_episode_steps``, ``sim_config``).

    ``gymnasium.make_vec(task_id, num_envs=N, vectorization_mode="vector_entry_point", **kwargs)`` builds
    one through the task's registered vector entry point; ``autoreset_mode`` and ``num_threads`` may be
    passed there as keyword arguments too.

    One caller at a time: ``reset``/``step`` hand the batch to the pool and return when it is done, so
    do not call them concurrently from several threads (use one vector env per thread instead).
    """

    def __init__(
        self,
        env_entry_point: EnvFactory | str,
        num_envs: int,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        num_threads: int | None = None,
        copy: bool = True,
        **env_kwargs: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ConfigError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if num_threads is not None and (
            isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)) or num_threads < 1
        ):
            raise ConfigError(f"num_threads must be None (automatic) or an integer >= 1, got {num_threads!r}")
        factory = _resolve_factory(env_entry_point)
        self.num_envs = int(num_envs)
        self.autoreset_mode = _autoreset_mode(autoreset_mode)
        self.copy = bool(copy)
        self.envs: list[gym.Env] = [factory(**env_kwargs) for _ in range(self.num_envs)]

        first = self.envs[0]
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        for name, space in (
            ("observation", self.single_observation_space),
            ("action", self.single_action_space),
        ):
            if not isinstance(space, spaces.Box):
                raise ConfigError(
                    f"{type(first).__name__} has a {type(space).__name__} {name} space; ClankersVectorEnv "
                    "batches Box spaces only: use gymnasium.vector.SyncVectorEnv for this env"
                )
        for env in self.envs[1:]:
            if (
                env.observation_space != self.single_observation_space
                or env.action_space != self.single_action_space
            ):
                raise ConfigError(
                    "the sub-environments disagree on their spaces; every env of a vector env must have the "
                    "same observation and action space (check the env kwargs)"
                )
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = dict(getattr(first, "metadata", {}))
        self.metadata["autoreset_mode"] = self.autoreset_mode
        self.render_mode = first.render_mode

        self._obs_shape = self.single_observation_space.shape
        self._act_shape = self.single_action_space.shape
        self._observations = np.zeros(
            (self.num_envs, *self._obs_shape), dtype=self.single_observation_space.dtype
        )
        self._rewards = np.zeros(self.num_envs, dtype=np.float64)
        self._terminations = np.zeros(self.num_envs, dtype=np.bool_)
        self._truncations = np.zeros(self.num_envs, dtype=np.bool_)
        self._autoreset_envs = np.zeros(self.num_envs, dtype=np.bool_)
        self._needs_reset = True
        # Per-env results the workers fill (plain lists: assigning into them needs no numpy call).
        self._env_infos: list[dict[str, Any] | None] = [None] * self.num_envs
        self._final_obs: list[np.ndarray | None] = [None] * self.num_envs
        self._final_infos: list[dict[str, Any] | None] = [None] * self.num_envs
        self._any_final = False
        self._actions: np.ndarray = np.zeros((self.num_envs, *self._act_shape), dtype=np.float64)
        self._reset_args: tuple[list[int | None], dict[str, Any] | None, np.ndarray | None] = ([], None, None)

        # Bound methods once, so the hot loop does no attribute lookups on the envs.
        self._step_fns = [getattr(env, "step_unchecked", env.step) for env in self.envs]
        self._reset_fns = [env.reset for env in self.envs]

        self.num_threads = self._choose_threads(num_threads)
        bounds = np.linspace(0, self.num_envs, self.num_threads + 1).round().astype(int)
        self._slices = [(int(bounds[k]), int(bounds[k + 1])) for k in range(self.num_threads)]
        # Thread k works through its own slice first, then helps with the others' (see _claim).
        self._orders = [
            [(k + j) % self.num_threads for j in range(self.num_threads)] for k in range(self.num_threads)
        ]
        self._queues: list[Iterator[int]] = []
        self._pool = _SlicePool(self.num_threads)
        self._finalizer = weakref.finalize(self, self._pool.shutdown)
        self._engine = self._batch_engine()
        self._stepping: np.ndarray | None = None
        self._engine_infos: dict[str, Any] | None = None

    def _batch_engine(self) -> Any:
        """The batched engine over the envs when they are all one task that runs batched, else None."""
        if not all(getattr(env, "_batched", False) for env in self.envs):
            return None
        from clankers.envs.tasks.batch import TaskBatch

        return TaskBatch(self.envs)  # type: ignore[arg-type]

    def _choose_threads(self, requested: int | None) -> int:
        if requested is not None:
            return max(1, min(int(requested), self.num_envs))
        substeps = getattr(getattr(self.envs[0], "sim", None), "substeps", 1)
        by_work = max(1, (self.num_envs * substeps) // _MIN_SUBSTEPS_PER_THREAD)
        return max(1, min(available_cores(), self.num_envs, by_work))

    # --- reset ------------------------------------------------------------------------------------------

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset all envs (or those in ``options["reset_mask"]``); ``seed`` as Gymnasium's vector envs."""
        self._check_open()
        seeds = self._seeds(seed)
        mask: np.ndarray | None = None
        if options is not None and "reset_mask" in options:
            options = dict(options)
            mask = self._check_mask(options.pop("reset_mask"))
        self._reset_args = (seeds, options, mask)
        self._env_infos = [None] * self.num_envs
        self._run(self._reset_slice)
        if self._engine is not None:  # the reset envs' observations, computed once for all of them
            rows = np.arange(self.num_envs) if mask is None else np.flatnonzero(mask)
            self._observations[rows] = self._engine.observe(rows)
        if mask is None:
            self._terminations[:] = False
            self._truncations[:] = False
            self._autoreset_envs[:] = False
        else:
            self._terminations[mask] = False
            self._truncations[mask] = False
            self._autoreset_envs[mask] = False
        self._needs_reset = False
        infos = self._batch_infos(self._env_infos)
        return (self._observations.copy() if self.copy else self._observations), infos

    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)  # type: ignore[arg-type]
        if len(seeds) != self.num_envs:
            raise ConfigError(
                f"got {len(seeds)} seeds for {self.num_envs} envs; pass one int (env i gets seed + i) "
                "or a list with one seed (or None) per env"
            )
        return seeds

    def _check_mask(self, mask: object) -> np.ndarray:
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise ConfigError(
                f"options['reset_mask'] must be a numpy bool array of shape ({self.num_envs},), got "
                f"{type(mask).__name__} {getattr(mask, 'dtype', '')} {getattr(mask, 'shape', '')}".rstrip()
            )
        if not mask.any():
            raise ConfigError("options['reset_mask'] selects no env; set at least one entry to True")
        return mask

    def _run(self, work: Callable[[int], None]) -> None:
        """Run ``work(k)`` on every thread ``k``; each claims env indices through :meth:`_claim`."""
        self._queues = [iter(range(lo, hi)) for lo, hi in self._slices]
        self._pool.run(work)

    def _claim(self, k: int) -> Iterator[int]:
        """Env indices for thread ``k``: its own slice, then whatever is left of the others'.

        Static slices keep each env's MjData in one core's cache; the stealing keeps a thread from
        idling when the other is slow (a costlier env, or a core taken by another process). ``next``
        on a shared ``range`` iterator is atomic under the GIL, so every index is claimed exactly once.
        Which thread steps an env never changes its result: an env touches only its own state.
        """
        queues = self._queues
        for j in self._orders[k]:
            yield from queues[j]

    def _reset_slice(self, k: int) -> None:
        seeds, options, mask = self._reset_args
        obs, infos, reset_fns = self._observations, self._env_infos, self._reset_fns
        for i in self._claim(k):
            if mask is not None and not mask[i]:
                continue
            if self._engine is not None:
                info = self.envs[i]._reset_state(seed=seeds[i], options=options)  # type: ignore[attr-defined]
                if info:
                    infos[i] = info
                continue
            o, info = reset_fns[i](seed=seeds[i], options=options)
            obs[i] = o
            if info:
                infos[i] = info

    # --- step -------------------------------------------------------------------------------------------

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every env with its row of ``actions`` (shape ``(num_envs, *action_shape)``)."""
        self._step_batch(actions, infos_per_env=False)
        if self._engine_infos is not None:  # a batched step without resets: built from the arrays
            infos, self._engine_infos = self._engine_infos, None
        else:
            infos = self._batch_infos(self._env_infos)
        if self._any_final:
            for i in range(self.num_envs):
                if self._final_obs[i] is not None:
                    infos = self._add_info(
                        infos, {"final_obs": self._final_obs[i], "final_info": self._final_infos[i] or {}}, i
                    )
        if self.copy:
            return (
                self._observations.copy(),
                self._rewards.copy(),
                self._terminations.copy(),
                self._truncations.copy(),
                infos,
            )
        return self._observations, self._rewards, self._terminations, self._truncations, infos

    def _step_batch(self, actions: object, *, infos_per_env: bool = True) -> None:
        """Validate, then step all envs; results land in the buffers and the per-env lists.

        ``infos_per_env=False`` (``step``): a batched task may then give its infos in Gymnasium's batched
        form only (``self._engine_infos``), skipping one dict per env.
        """
        self._check_open()
        if self._needs_reset:
            raise ActionError(
                "step() called before reset(); call reset(seed=...) once after creating the env"
            )
        batch = self._check_actions(actions)
        if self.autoreset_mode is AutoresetMode.DISABLED and self._autoreset_envs.any():
            done = np.flatnonzero(self._autoreset_envs).tolist()
            raise ActionError(
                f"envs {done} finished their episode and autoreset_mode is Disabled; reset them first with "
                "reset(options={'reset_mask': terminations | truncations})"
            )
        self._actions = batch
        self._env_infos = [None] * self.num_envs
        if self._any_final:
            self._final_obs = [None] * self.num_envs
            self._final_infos = [None] * self.num_envs
            self._any_final = False
        if self._engine is not None:
            self._step_engine(batch, infos_per_env)
        else:
            self._run(self._step_slice)
        np.logical_or(self._terminations, self._truncations, out=self._autoreset_envs)

    def _physics_slice(self, k: int) -> None:
        physics, stepping = self._engine.physics, self._stepping
        for i in self._claim(k):
            if stepping is None or stepping[i]:
                physics(i)

    def _step_engine(self, actions: np.ndarray, infos_per_env: bool = True) -> None:
        """One step of a batched task: physics in the threads, every term once over the batch, then the
        auto-resets of the mode (each env reset by its own generators, their observations batched)."""
        engine, mode = self._engine, self.autoreset_mode
        pending = self._autoreset_envs.copy() if mode is AutoresetMode.NEXT_STEP else None
        self._stepping = None if pending is None or not pending.any() else ~pending
        engine.begin_step(actions)
        self._run(self._physics_slice)
        rewards, terminated, truncated = engine.evaluate(actions)
        self._observations[:] = engine.observe()
        self._rewards[:] = rewards
        self._terminations[:] = terminated
        self._truncations[:] = truncated
        self._engine_infos = None
        resetting = self._stepping is not None or (
            mode is AutoresetMode.SAME_STEP and bool((terminated | truncated).any())
        )
        if infos_per_env or resetting:
            infos: list[dict[str, Any] | None] = engine.infos()  # type: ignore[assignment]
        else:  # what _batch_infos would make of the per-env dicts, built from the arrays directly
            self._engine_infos = engine.batched_infos()
            infos = [None] * self.num_envs
        if self._stepping is not None:  # NEXT_STEP: the envs that ended last step start over instead
            resets = np.flatnonzero(pending)
            for i in resets:
                infos[i] = self.envs[i]._reset_state() or None  # type: ignore[attr-defined]
            self._observations[resets] = engine.observe(resets)
            self._rewards[resets] = 0.0
            self._terminations[resets] = False
            self._truncations[resets] = False
        elif mode is AutoresetMode.SAME_STEP:
            resets = np.flatnonzero(terminated | truncated)
            if len(resets):
                for i in resets:
                    self._final_obs[i] = self._observations[i].copy()
                    self._final_infos[i] = infos[i]
                    infos[i] = self.envs[i]._reset_state() or None  # type: ignore[attr-defined]
                self._any_final = True
                self._observations[resets] = engine.observe(resets)
        self._env_infos = infos

    def _check_actions(self, actions: object) -> np.ndarray:
        batch = np.asarray(actions, dtype=np.float64)
        expected = (self.num_envs, *self._act_shape)
        if batch.shape != expected:
            raise ActionError(
                f"actions have shape {batch.shape}; expected {expected}: one row of {self._act_shape} per env"
            )
        if not np.isfinite(batch).all():
            bad = np.flatnonzero(~np.isfinite(batch.reshape(self.num_envs, -1)).all(axis=1)).tolist()
            raise ActionError(f"actions of envs {bad} contain NaN or inf; send finite commands")
        return batch

    def _step_slice(self, k: int) -> None:
        actions, obs = self._actions, self._observations
        rewards, terms, truncs = self._rewards, self._terminations, self._truncations
        infos, step_fns, reset_fns = self._env_infos, self._step_fns, self._reset_fns
        mode = self.autoreset_mode
        if mode is AutoresetMode.NEXT_STEP:
            pending = self._autoreset_envs
            for i in self._claim(k):
                if pending[i]:
                    o, info = reset_fns[i]()
                    rewards[i] = 0.0
                    terms[i] = False
                    truncs[i] = False
                else:
                    o, rewards[i], terms[i], truncs[i], info = step_fns[i](actions[i])
                obs[i] = o
                if info:
                    infos[i] = info
        elif mode is AutoresetMode.SAME_STEP:
            final_obs, final_infos = self._final_obs, self._final_infos
            for i in self._claim(k):
                o, rewards[i], term, trunc, info = step_fns[i](actions[i])
                terms[i] = term
                truncs[i] = trunc
                if term or trunc:
                    final_obs[i] = o
                    final_infos[i] = info
                    self._any_final = True
                    o, info = reset_fns[i]()
                obs[i] = o
                if info:
                    infos[i] = info
        else:
            for i in self._claim(k):
                o, rewards[i], terms[i], truncs[i], info = step_fns[i](actions[i])
                obs[i] = o
                if info:
                    infos[i] = info

    # --- infos ------------------------------------------------------------------------------------------

    def _batch_infos(self, env_infos: list[dict[str, Any] | None]) -> dict[str, Any]:
        """Gymnasium's dict-of-arrays infos (``key`` and ``_key`` mask), with a fast path for uniform infos.

        Tasks usually return the same keys with values of the same types from every env (e.g. a reward
        breakdown dict, a success flag); those become one array per key, built from a list in one
        call, instead of N recursive dictionary merges. Anything irregular takes Gymnasium's own
        ``_add_info``, so the result is always what ``SyncVectorEnv`` returns.
        """
        present = [info for info in env_infos if info is not None]
        if not present:
            return {}
        if len(present) == self.num_envs:
            batched = self._uniform_infos(present)
            if batched is not None:
                return batched
        infos: dict[str, Any] = {}
        for i, info in enumerate(env_infos):
            if info is not None:
                infos = self._add_info(infos, info, i)
        return infos

    def _uniform_infos(self, infos: list[dict[str, Any]]) -> dict[str, Any] | None:
        """One info dict per env, all with the same keys and value types -> batched, else ``None``."""
        keys = infos[0].keys()
        if any(info.keys() != keys for info in infos):
            return None
        out: dict[str, Any] = {}
        for key in keys:
            first = infos[0][key]
            kind = type(first)
            values = [info[key] for info in infos]
            if any(type(v) is not kind for v in values):
                return None
            if kind is dict:
                array = self._uniform_infos(values)
                if array is None:
                    return None
            elif kind is np.ndarray:
                if any(v.shape != first.shape for v in values):
                    return None
                array = np.array(values, dtype=first.dtype)
            elif kind in (int, float, bool) or issubclass(kind, np.number):
                array = np.array(values, dtype=kind)
            else:  # lists, strings, ...: an object array, as Gymnasium makes
                array = np.empty(self.num_envs, dtype=object)
                for i, value in enumerate(values):
                    array[i] = value
            out[key] = array
            out[f"_{key}"] = np.ones(self.num_envs, dtype=np.bool_)
        return out

    # --- the rest of the VectorEnv API -----------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ConfigError("this vector env is closed; create a new one")

    def render(self) -> tuple[Any, ...] | None:
        """Each env's ``render()`` (``None`` entries when the task renders nothing)."""
        return tuple(env.render() for env in self.envs)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call method ``name`` on every env (or read the attribute when it is not callable)."""
        results = []
        for env in self.envs:
            attr = getattr(env, name)
            results.append(attr(*args, **kwargs) if callable(attr) else attr)
        return tuple(results)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Attribute ``name`` of every env."""
        return tuple(getattr(env, name) for env in self.envs)

    def set_attr(self, name: str, values: Any | list[Any] | tuple[Any, ...]) -> None:
        """Set attribute ``name`` on every env: one value for all, or a list/tuple with one per env."""
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ConfigError(f"got {len(values)} values for {self.num_envs} envs; pass one per env")
        for env, value in zip(self.envs, values, strict=True):
            setattr(env, name, value)

    @property
    def np_random_seed(self) -> tuple[int | None, ...]:
        return self.get_attr("np_random_seed")

    @property
    def np_random(self) -> tuple[np.random.Generator, ...]:
        return self.get_attr("np_random")

    def close_extras(self, **kwargs: Any) -> None:
        self._finalizer()
        for env in self.envs:
            env.close()


def vector_entry_point(env_entry_point: EnvFactory | str) -> Callable[..., ClankersVectorEnv]:
    """A Gymnasium ``vector_entry_point`` for a task whose single env is ``env_entry_point``.

    ``gymnasium.make_vec`` calls it as ``creator(num_envs=N, **kwargs)``, without the task's id; the
    task's single-env entry point (class, factory or ``"module:Class"``) is bound here, so one vector
    env class serves every registered task.
    """

    def create(num_envs: int = 1, **kwargs: Any) -> ClankersVectorEnv:
        return ClankersVectorEnv(env_entry_point, num_envs, **kwargs)

    label = (
        env_entry_point if isinstance(env_entry_point, str) else getattr(env_entry_point, "__name__", "env")
    )
    create.__name__ = create.__qualname__ = f"vector_entry_point[{label}]"
    return create


__all__ = ["ClankersVectorEnv", "available_cores", "vector_entry_point"]
