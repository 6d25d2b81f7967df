"""Closed-loop evidence: the policy file and the SB3 model drive the same environment on the same seeds.

Per-sample parity shows the graph matches ``predict`` on given observations; a deployment also depends on
everything around it (observation layout, the runtime's state resets, integer actions reaching the env).
Here both drive full episodes: episode ``i`` of each starts from ``env.reset(seed=seed + i)``; the returns
must be equal and every observation along the two trajectories within a stated tolerance
(:data:`TRAJECTORY_TOLERANCE`, relative to the observation's magnitude above 1). The result is
recorded in the file's ``parity`` metadata (``closed_loop``).

The loop mirrors :func:`clankers.envs.rollout.evaluate` (same seeding, same episode records, compared by
:func:`clankers.envs.rollout.compare_evaluations`), extended to recurrent state, Dict/image observations
and any registered Gymnasium id as well as clankers task names. Episode lengths must be equal (a
termination is a discrete event: both runs must reach it at the same step). Returns of discrete policies
must be exactly equal; with continuous actions torch and onnxruntime round float32 differently, the
dynamics amplify that, and the reward carries it, so returns are held to the trajectory tolerance:
``|a - b| <= tolerance * max(1, |b|)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from clankers.envs.rollout import TRAJECTORY_TOLERANCE, Evaluation, compare_evaluations, evaluate
from clankers.errors import ConfigError, ExportError
from clankers.export.observations import env_observation_to_graph
from clankers.export.parity import reference_observation
from clankers.export.runner import GraphRunner
from clankers.export.sb3 import ExportableActor

StepFn = Callable[[dict[str, np.ndarray], bool], np.ndarray]


def make_environment(env_id: str) -> gym.Env:
    """A clankers task by short name or id, else any registered Gymnasium id."""
    from clankers.envs import make_env

    try:
        return make_env(env_id)
    except ConfigError:
        pass
    try:
        return gym.make(env_id)
    except Exception as exc:
        raise ExportError(
            f"cannot make environment {env_id!r} ({type(exc).__name__}: {exc}); pass a clankers task "
            "(e.g. cartpole) or a registered Gymnasium id"
        ) from exc


@dataclass
class ClosedLoopResult:
    """The ``closed_loop`` part of the parity record."""

    env: str
    seeds: list[int]
    returns: list[float]
    reference_returns: list[float]
    returns_equal: bool
    max_trajectory_diff: float  # max |a - b| / max(1, |b|) over every observation element
    max_action_diff: float
    tolerance: float
    return_tolerance: float = 0.0
    max_abs_trajectory_diff: float = 0.0
    lockstep_steps: int = 0
    lockstep_max_action_diff: float = 0.0
    lockstep_mismatches: int = 0
    action_tolerance: float = 1e-5
    discrete: bool = False

    @property
    def lockstep_passed(self) -> bool:
        if self.discrete:
            return self.lockstep_mismatches == 0
        return self.lockstep_max_action_diff < self.action_tolerance

    @property
    def passed(self) -> bool:
        return self.returns_equal and self.max_trajectory_diff <= self.tolerance and self.lockstep_passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "seeds": self.seeds,
            "returns": self.returns,
            "reference_returns": self.reference_returns,
            "returns_equal": self.returns_equal,
            "max_trajectory_diff": self.max_trajectory_diff,
            "trajectory_metric": "max |onnx - reference| / max(1, |reference|) over every observation element",
            "max_abs_trajectory_diff": self.max_abs_trajectory_diff,
            "lockstep": {
                "steps": self.lockstep_steps,
                "max_action_diff": self.lockstep_max_action_diff,
                "mismatches": self.lockstep_mismatches,
                "tolerance": self.action_tolerance,
                "passed": self.lockstep_passed,
            },
            "max_action_diff": self.max_action_diff,
            "tolerance": self.tolerance,
            "return_tolerance": self.return_tolerance,
            "passed": self.passed,
        }


def _run(env_id: str, actor: ExportableActor, step: StepFn, episodes: int, seed: int) -> Evaluation:
    """:func:`clankers.envs.rollout.evaluate` with the graph's feed, episode starts and integer actions."""
    env = make_environment(env_id)
    start = [True]

    def act(obs: Any) -> Any:
        action = step(env_observation_to_graph(actor.inputs, obs, env.observation_space), start[0])
        start[0] = False
        return int(action) if isinstance(env.action_space, gym.spaces.Discrete) else action

    def on_reset() -> None:
        start[0] = True

    return evaluate(act, env_id, episodes, seed, record=True, env_factory=lambda: env, on_reset=on_reset)


def _graph_step(actor: ExportableActor, runner: GraphRunner) -> StepFn:
    state: list[Any] = [None]

    def step(feed: dict[str, np.ndarray], start: bool) -> np.ndarray:
        if actor.recurrent is None:
            return runner.act(feed)[0]
        if state[0] is None:
            state[0] = runner.initial_state(1)
        action, state[0] = runner.step(feed, state[0], np.array([start]))
        return action[0]

    return step


@dataclass
class _Lockstep:
    """SB3 evaluated on every observation of the file's own closed-loop run (no divergence possible)."""

    steps: int = 0
    max_diff: float = 0.0
    mismatches: int = 0


def _lockstep(graph: StepFn, reference: StepFn, record: _Lockstep) -> StepFn:
    def step(feed: dict[str, np.ndarray], start: bool) -> np.ndarray:
        ours, theirs = graph(feed, start), reference(feed, start)
        diff = np.abs(np.asarray(ours, np.float64) - np.asarray(theirs, np.float64))
        record.steps += 1
        record.max_diff = max(record.max_diff, float(diff.max(initial=0.0)))
        record.mismatches += int(np.any(diff > 0))
        return ours

    return step


def _model_step(actor: ExportableActor, model: Any) -> StepFn:
    state: list[Any] = [None]

    def step(feed: dict[str, np.ndarray], start: bool) -> np.ndarray:
        obs = reference_observation(actor, feed)
        if actor.recurrent is None:
            return model.predict(obs, deterministic=True)[0][0]
        action, state[0] = model.predict(
            obs, state=state[0], episode_start=np.array([start]), deterministic=True
        )
        return action[0]

    return step


def closed_loop(
    actor: ExportableActor,
    model: Any,
    runner: GraphRunner,
    env_id: str,
    episodes: int = 3,
    seed: int = 0,
    tolerance: float = TRAJECTORY_TOLERANCE,
    action_tolerance: float = 1e-5,
) -> ClosedLoopResult:
    """Run the graph and ``predict`` for ``episodes`` seeded episodes each and compare them.

    During the graph's run SB3 is also asked for its action on every observation the graph's closed loop
    visits (``lockstep``): those must agree like per-sample parity (``action_tolerance``; exactly for
    discrete actions), which separates a graph error from the dynamics amplifying rounding differences.
    """
    lockstep = _Lockstep()
    graph_step = _lockstep(_graph_step(actor, runner), _model_step(actor, model), lockstep)
    graph_run = _run(env_id, actor, graph_step, episodes, seed)
    model_run = _run(env_id, actor, _model_step(actor, model), episodes, seed)
    rtol = tolerance if isinstance(actor.action_space, gym.spaces.Box) else 0.0
    comparison = compare_evaluations(graph_run, model_run, tolerance, return_tolerance=rtol)
    return ClosedLoopResult(
        env=env_id,
        seeds=[seed + i for i in range(episodes)],
        returns=[float(r) for r in graph_run.returns],
        reference_returns=[float(r) for r in model_run.returns],
        returns_equal=comparison.returns_equal,
        return_tolerance=rtol,
        max_trajectory_diff=comparison.max_trajectory_diff,
        max_abs_trajectory_diff=comparison.max_observation_diff,
        max_action_diff=comparison.max_action_diff,
        tolerance=tolerance,
        lockstep_steps=lockstep.steps,
        lockstep_max_action_diff=lockstep.max_diff,
        lockstep_mismatches=lockstep.mismatches,
        action_tolerance=action_tolerance,
        discrete=not isinstance(actor.action_space, gym.spaces.Box),
    )
