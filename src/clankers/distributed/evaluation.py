"""Evaluate a policy file on many seeded episodes: locally, or on torch-free Ray workers.

Both paths run the same function (:func:`run_episodes`, the closed-loop runner of
:mod:`clankers.envs.rollout` driving an :class:`~clankers.policy.OnnxPolicy`), and episode ``i`` is always
reset with seed ``seed + i`` on a freshly reset env, so an episode's result depends on its seed only, not
on which worker ran it or what ran before. The distributed report is therefore identical to the local one,
episode for episode (``tests/test_distributed_evaluation.py``).

**Every episode exactly once.** The seeds are cut into chunks; each chunk is one Ray task. Results are
kept by chunk, so a chunk counts once however often it ran. A chunk whose worker dies (process killed,
node lost) is submitted again, up to ``max_attempts`` times; each failure is recorded in the report
(``failures``), never dropped silently. When a chunk fails ``max_attempts`` times, or no chunk finishes
within ``stall_timeout_s``, :class:`~clankers.errors.WorkerError` names the seeds that are missing.
An error in the evaluation itself (a policy that does not fit the task) is raised at once, not retried.

**Torch-free workers.** A chunk needs numpy, onnxruntime, MuJoCo and the task; the policy file travels to
the workers as bytes (no shared filesystem needed). Every chunk reports whether torch was loaded in its
process (``torch_loaded``); ``clankers eval`` imports no torch, so neither do its workers.

Statistics: mean and standard deviation of the returns, a 95% confidence interval of the mean (Student
t), the success rate (the task's ``info["is_success"]`` at an episode's last step) with its 95% Wilson
interval.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import gymnasium as gym
import numpy as np

from clankers.errors import ConfigError, WorkerError

# --- statistics ---------------------------------------------------------------------------------------


def _t_central(t: float, dof: int) -> float:
    """P(|T| <= t) for Student's t with an integer ``dof``: the finite series of Abramowitz & Stegun
    26.7.3 (odd) and 26.7.4 (even) in ``theta = atan(t / sqrt(dof))``; exact up to rounding."""
    theta = math.atan(t / math.sqrt(dof))
    c2 = math.cos(theta) ** 2
    if dof % 2 == 1:
        total, term = 0.0, 1.0
        for k in range(1, (dof - 1) // 2 + 1):  # 1 + (2/3) c^2 + (2*4)/(3*5) c^4 + ...
            total += term
            term *= c2 * (2 * k) / (2 * k + 1)
        series = math.sin(theta) * math.cos(theta) * total if dof > 1 else 0.0
        return 2 / math.pi * (theta + series)
    total, term = 0.0, 1.0
    for k in range(1, dof // 2 + 1):  # 1 + (1/2) c^2 + (1*3)/(2*4) c^4 + ...
        total += term
        term *= c2 * (2 * k - 1) / (2 * k)
    return math.sin(theta) * total


def t_quantile(p: float, dof: int) -> float:
    """Quantile ``p`` of Student's t with ``dof`` degrees of freedom.

    Up to 2000 degrees of freedom by bisection on the exact distribution function (:func:`_t_central`);
    above, the normal quantile with the Cornish-Fisher correction of Abramowitz & Stegun 26.7.5 (error
    below 1e-6 there). Written out because the one alternative, scipy, is not otherwise a dependency.
    """
    if dof < 1:
        raise ConfigError(f"Student t needs >= 1 degree of freedom, got {dof}")
    if not 0 < p < 1:
        raise ConfigError(f"a quantile needs 0 < p < 1, got {p}")
    if p == 0.5:
        return 0.0
    central = abs(2 * p - 1)  # P(|T| <= t) for the t we want
    if dof <= 2000:
        low, high = 0.0, 1.0
        while _t_central(high, dof) < central:
            high *= 2
        for _ in range(200):
            mid = (low + high) / 2
            if _t_central(mid, dof) < central:
                low = mid
            else:
                high = mid
            if high - low < 1e-12 * high:
                break
        t = (low + high) / 2
    else:
        z = NormalDist().inv_cdf(0.5 + central / 2)
        v = float(dof)
        t = z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
    return t if p > 0.5 else -t


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Two-sided confidence interval of the mean (Student t); ``(mean, mean)`` for fewer than 2 values."""
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, mean
    half = t_quantile(0.5 + level / 2, len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return mean - half, mean + half


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a success rate (sensible at 0% and 100%, unlike mean ± 1.96 s.e.)."""
    if n == 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# --- one chunk of episodes (runs locally or on a worker) -----------------------------------------------


class _SuccessRecorder(gym.Wrapper):
    """Keeps ``info["is_success"]`` of each episode's last step (``None`` when the task reports none)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.successes: list[bool | None] = []

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            value = info.get("is_success")
            self.successes.append(None if value is None else bool(value))
        return obs, reward, terminated, truncated, info


def run_episodes(
    policy_path: str | Path, task: str, first_seed: int, count: int, env_kwargs: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Episodes ``first_seed .. first_seed + count - 1`` of ``task`` driven by the policy file.

    One dict per episode: ``seed``, ``return``, ``length``, ``terminated``, ``success`` (``None`` when
    the task reports none). Only clankers.policy and clankers.envs: no torch.
    """
    from clankers.envs import make_env
    from clankers.envs.rollout import evaluate
    from clankers.policy import OnnxPolicy

    policy = OnnxPolicy(policy_path)
    recorders: list[_SuccessRecorder] = []

    def factory() -> gym.Env:
        recorder = _SuccessRecorder(make_env(task, **(env_kwargs or {})))
        recorders.append(recorder)
        return recorder

    evaluation = evaluate(policy.act, task, count, first_seed, env_factory=factory, on_reset=policy.reset)
    successes = recorders[0].successes
    return [{**episode.to_dict(), "success": successes[i]} for i, episode in enumerate(evaluation.episodes)]


def _run_chunk(
    policy_bytes: bytes, task: str, first_seed: int, count: int, env_kwargs: dict[str, Any]
) -> dict[str, Any]:
    """A Ray task: one chunk of episodes, and where it ran. The policy file arrives as bytes."""
    from clankers.distributed.cluster import where

    with tempfile.TemporaryDirectory(prefix="clankers-eval-") as tmp:
        path = Path(tmp) / "policy.onnx"
        path.write_bytes(policy_bytes)
        episodes = run_episodes(path, task, first_seed, count, env_kwargs)
    return {"episodes": episodes, "torch_loaded": "torch" in sys.modules, **where()}


# --- the report ---------------------------------------------------------------------------------------


@dataclass
class EvaluationReport:
    """Per-episode results (sorted by seed) and their statistics; ``workers`` and ``failures`` on Ray."""

    policy: str
    task: str
    seed: int
    episodes: list[dict[str, Any]]
    backend: str = "local"
    workers: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    wall_time_s: float = 0.0

    @property
    def returns(self) -> np.ndarray:
        return np.array([e["return"] for e in self.episodes], dtype=np.float64)

    @property
    def mean(self) -> float:
        return float(self.returns.mean())

    @property
    def std(self) -> float:
        return float(self.returns.std())

    @property
    def ci95(self) -> tuple[float, float]:
        return mean_ci(self.returns)

    @property
    def success_rate(self) -> float | None:
        """Fraction of successful episodes; ``None`` when the task reports no success."""
        flags = [e["success"] for e in self.episodes if e["success"] is not None]
        return float(np.mean(flags)) if flags else None

    @property
    def success_ci95(self) -> tuple[float, float] | None:
        flags = [e["success"] for e in self.episodes if e["success"] is not None]
        return wilson_interval(sum(flags), len(flags)) if flags else None

    def results(self) -> dict[str, Any]:
        """What the evaluation measured, without where and how it ran: equal for local and Ray runs."""
        return {
            "policy": self.policy,
            "task": self.task,
            "seed": self.seed,
            "episodes": self.episodes,
            "mean_return": self.mean,
            "std_return": self.std,
            "ci95": list(self.ci95),
            "success_rate": self.success_rate,
            "success_ci95": None if self.success_ci95 is None else list(self.success_ci95),
            "mean_length": float(np.mean([e["length"] for e in self.episodes])),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.results(),
            "backend": self.backend,
            "workers": self.workers,
            "failures": self.failures,
            "wall_time_s": round(self.wall_time_s, 3),
        }


# --- local and distributed evaluation -------------------------------------------------------------------


def default_chunk_size(episodes: int, cpus: float) -> int:
    """About four chunks per CPU (so a slow or lost worker delays little), 1..50 episodes each."""
    return max(1, min(50, math.ceil(episodes / max(1.0, 4 * cpus))))


def check_inputs(policy: str | Path, task: str, episodes: int) -> None:
    """Raise the typed error for a bad policy file, task or episode count (before any worker starts)."""
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ConfigError(f"episodes must be an integer >= 1, got {episodes!r}")
    from clankers.envs import resolve_task
    from clankers.policy import OnnxPolicy

    resolve_task(task)
    OnnxPolicy(policy)  # the policy format's own errors: missing file, not ONNX, bad metadata


def evaluate_policy_file(
    policy: str | Path,
    task: str,
    episodes: int,
    seed: int = 0,
    *,
    use_ray: bool = False,
    chunk_size: int | None = None,
    max_attempts: int = 3,
    stall_timeout_s: float = 600.0,
    env_kwargs: dict[str, Any] | None = None,
) -> EvaluationReport:
    """Run ``episodes`` episodes (seeds ``seed, seed + 1, ...``) of ``task`` with the policy file.

    Locally by default; with ``use_ray`` on the connected Ray cluster (see the module docstring for how
    chunks, retries and failures work). The results are the same either way.
    """
    check_inputs(policy, task, episodes)
    if max_attempts < 1:
        raise ConfigError(f"max_attempts must be >= 1, got {max_attempts}")
    env_kwargs = dict(env_kwargs or {})
    start = time.perf_counter()
    if not use_ray:
        report = EvaluationReport(
            policy=str(policy),
            task=task,
            seed=seed,
            episodes=run_episodes(policy, task, seed, episodes, env_kwargs),
        )
        report.workers = [{"pid": os.getpid(), "episodes": episodes, "torch_loaded": "torch" in sys.modules}]
    else:
        report = _evaluate_on_ray(
            Path(policy), task, episodes, seed, chunk_size, max_attempts, stall_timeout_s, env_kwargs
        )
    report.wall_time_s = time.perf_counter() - start
    return report


def _evaluate_on_ray(
    policy: Path,
    task: str,
    episodes: int,
    seed: int,
    chunk_size: int | None,
    max_attempts: int,
    stall_timeout_s: float,
    env_kwargs: dict[str, Any],
) -> EvaluationReport:
    from clankers.distributed.cluster import cluster_cpus, require_connected

    ray = require_connected()
    size = chunk_size or default_chunk_size(episodes, cluster_cpus())
    if size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {size}")
    chunks = [(first, min(size, seed + episodes - first)) for first in range(seed, seed + episodes, size)]
    remote = ray.remote(_run_chunk).options(num_cpus=1, max_retries=0)  # retried here, and reported
    policy_ref = ray.put(policy.read_bytes())

    attempts = [0] * len(chunks)
    results: dict[int, dict[str, Any]] = {}
    failures: list[dict[str, Any]] = []
    in_flight: dict[Any, int] = {}

    def submit(c: int) -> None:
        attempts[c] += 1
        first, count = chunks[c]
        in_flight[remote.remote(policy_ref, task, first, count, env_kwargs)] = c

    for c in range(len(chunks)):
        submit(c)
    try:
        while in_flight:
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=stall_timeout_s)
            if not ready:
                missing = sorted(s for c in in_flight.values() for s in _seeds(chunks[c]))
                raise WorkerError(
                    f"no evaluation chunk finished within {stall_timeout_s:g} s; {len(missing)} episodes "
                    f"(seeds {_ranges(missing)}) have no result",
                    hint="check the cluster (ray status): a node may be overloaded or unreachable",
                )
            ref = ready[0]
            c = in_flight.pop(ref)
            try:
                result = ray.get(ref)
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.RayActorError,
                    ray.exceptions.ObjectLostError, ray.exceptions.NodeDiedError) as err:  # fmt: skip
                first, count = chunks[c]
                failures.append(
                    {"seeds": [first, first + count - 1], "attempt": attempts[c], "error": type(err).__name__}
                )
                if attempts[c] >= max_attempts:
                    raise WorkerError(
                        f"episodes with seeds {first}..{first + count - 1} failed {attempts[c]} times "
                        f"(worker lost: {type(err).__name__}); the evaluation is incomplete",
                        hint="check the cluster's nodes (ray status); raise max_attempts to retry more",
                    ) from err
                submit(c)
                continue
            if c not in results:  # a chunk counts once, however often it ran
                results[c] = result
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)

    episodes_out = [e for c in range(len(chunks)) for e in results[c]["episodes"]]
    expected = list(range(seed, seed + episodes))
    if [e["seed"] for e in episodes_out] != expected:  # pragma: no cover - guards the bookkeeping above
        raise WorkerError("the evaluation's episodes do not match the requested seeds (a bug in clankers)")
    by_worker: dict[tuple[Any, int], dict[str, Any]] = {}
    for c in range(len(chunks)):
        r = results[c]
        entry = by_worker.setdefault(
            (r["node"], r["pid"]),
            {"node": r["node"], "host": r["host"], "pid": r["pid"], "episodes": 0, "torch_loaded": False},
        )
        entry["episodes"] += len(r["episodes"])
        entry["torch_loaded"] = entry["torch_loaded"] or r["torch_loaded"]
    return EvaluationReport(
        policy=str(policy),
        task=task,
        seed=seed,
        episodes=episodes_out,
        backend="ray",
        workers=list(by_worker.values()),
        failures=failures,
    )


def _seeds(chunk: tuple[int, int]) -> range:
    return range(chunk[0], chunk[0] + chunk[1])


def _ranges(seeds: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1..3, 7"``."""
    parts: list[str] = []
    for s in seeds:
        if parts and s == int(parts[-1].split("..")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('..')[0]}..{s}"
        else:
            parts.append(str(s))
    return ", ".join(parts)


__all__ = [
    "EvaluationReport",
    "check_inputs",
    "default_chunk_size",
    "evaluate_policy_file",
    "mean_ci",
    "run_episodes",
    "t_quantile",
    "wilson_interval",
]
