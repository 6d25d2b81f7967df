"""Closed-loop evaluation: any ``obs -> action`` function driving a task for seeded episodes.

Deployment and verification share this loop, so "the ONNX policy scores 500" and "the ONNX policy and
the SB3 model produce the same trajectory" are measured by exactly the same code. It imports neither
torch nor SB3: ``clankers run`` stays torch-free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from clankers.envs import make_env
from clankers.errors import ObservationLayoutError

ActFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class Episode:
    """One episode: seed, return, length, and (optionally) every observation and action."""

    seed: int
    episode_return: float
    length: int
    terminated: bool
    observations: np.ndarray | None = None
    actions: np.ndarray | None = None
    rewards: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "return": self.episode_return,
            "length": self.length,
            "terminated": self.terminated,
        }


@dataclass
class Evaluation:
    """A set of episodes run with seeds ``seed, seed + 1, ...``."""

    task: str
    episodes: list[Episode] = field(default_factory=list)
    control_dt: float | None = None  # simulated seconds per step, when the env says (``env.unwrapped.dt``)

    @property
    def returns(self) -> np.ndarray:
        return np.array([e.episode_return for e in self.episodes])

    @property
    def lengths(self) -> np.ndarray:
        return np.array([e.length for e in self.episodes])

    @property
    def mean_return(self) -> float:
        return float(self.returns.mean())

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "episodes": [e.to_dict() for e in self.episodes],
            "mean_return": self.mean_return,
            "std_return": float(self.returns.std()),
            "mean_length": float(self.lengths.mean()),
        }


def evaluate(
    act: ActFn,
    task: str,
    episodes: int,
    seed: int = 0,
    record: bool = False,
    env_factory: Callable[[], gym.Env] | None = None,
    on_reset: Callable[[], None] | None = None,
) -> Evaluation:
    """Run ``episodes`` episodes of ``task`` with ``act`` choosing every action.

    Episode ``i`` is reset with seed ``seed + i``, so two policies evaluated with the same arguments
    face identical start states. ``env_factory`` replaces ``make_env(task)``: a remote env (a simulator or
    a robot bridge speaking the clankers wire protocol), or any Gymnasium env; ``task`` then only labels it.
    ``on_reset`` is called after every reset (a stateful policy clears its memory there).

    With ``record``, every observation (flattened to float64; Dict keys in order) and action is kept.
    """
    env = env_factory() if env_factory is not None else make_env(task)
    result = Evaluation(task=task, control_dt=getattr(env.unwrapped, "dt", None))
    for index in range(episodes):
        obs, _ = env.reset(seed=seed + index)
        if on_reset is not None:
            on_reset()
        observations, actions, rewards = [_flat(obs)], [], []
        total, length, terminated, truncated = 0.0, 0, False, False
        while not (terminated or truncated):
            action = act(obs)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            length += 1
            if record:
                observations.append(_flat(obs))
                actions.append(_flat(action))
                rewards.append(float(reward))
        episode = Episode(
            seed=seed + index,
            episode_return=total,
            length=length,
            terminated=bool(terminated),
            observations=np.array(observations) if record else None,
            actions=np.array(actions) if record else None,
            rewards=np.array(rewards) if record else None,
        )
        result.episodes.append(episode)
    env.close()
    return result


def check_observation_fit(
    env: gym.Env,
    layout: list[str] | dict[str, list[str]] | None,
    shape: tuple[int, ...] | None,
    policy_name: str,
    task: str,
) -> None:
    """Refuse a policy trained for another task before its first step, naming both observation layouts.

    ``layout`` is the policy file's declared observation layout (its ``observation_layout`` metadata,
    one name per element) and ``shape`` its observation shape; the environment's side is
    ``env.unwrapped.observation_names`` and its observation space. Without this, the first step fails
    deep in inference with a shape error that does not say the real problem.
    """
    names = getattr(env.unwrapped, "observation_names", None)
    ours: Any = None
    if names is not None:
        ours = {k: list(v) for k, v in names.items()} if isinstance(names, dict) else [str(n) for n in names]
    env_shape = getattr(env.observation_space, "shape", None)
    if layout is not None and ours is not None:
        if layout == ours:
            return
        raise ObservationLayoutError(
            f"{policy_name} was trained for another task: its observations are {_describe(layout)}, "
            f"but {task} observes {_describe(ours)}",
            hint=f"run it in the task it was trained for, or train and export a policy for {task}",
        )
    if shape is not None and env_shape is not None and tuple(shape) != tuple(env_shape):
        raise ObservationLayoutError(
            f"{policy_name} takes observations of shape {tuple(shape)}"
            + (f" ({_describe(layout)})" if layout is not None else "")
            + f", but {task} gives shape {tuple(env_shape)}"
            + (f" ({_describe(ours)})" if ours is not None else ""),
            hint=f"run it in the task it was trained for, or train and export a policy for {task}",
        )


def _describe(layout: list[str] | dict[str, list[str]]) -> str:
    if isinstance(layout, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in layout.items()) + "}"
    return f"[{', '.join(layout)}] ({len(layout)} values)"


def _flat(value: Any) -> np.ndarray:
    """An observation or action as one float64 vector (Dict keys in order), comparable element-wise."""
    if isinstance(value, dict):
        return np.concatenate([np.asarray(value[k], dtype=np.float64).ravel() for k in value])
    return np.asarray(value, dtype=np.float64).ravel()


@dataclass
class Comparison:
    """Two evaluations on the same seeds, episode by episode.

    Trajectory differences are scaled: ``|a - b| / max(1, |b|)`` per observation element, i.e. absolute
    below magnitude 1 and relative above, so a tolerance means the same for radians and for millimetres.
    """

    returns_equal: bool
    max_trajectory_diff: float
    max_observation_diff: float
    max_action_diff: float
    tolerance: float
    return_tolerance: float = 0.0

    @property
    def trajectories_match(self) -> bool:
        return self.max_trajectory_diff <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {
            "returns_equal": self.returns_equal,
            "trajectories_match": self.trajectories_match,
            "max_trajectory_diff": self.max_trajectory_diff,
            "trajectory_metric": "max |a - b| / max(1, |b|) over every observation element",
            "max_observation_diff": self.max_observation_diff,
            "max_action_diff": self.max_action_diff,
            "tolerance": self.tolerance,
            "return_tolerance": self.return_tolerance,
        }


#: Default trajectory tolerance. Both runs start identical; float32 rounding differences (~1e-7) between
#: torch and onnxruntime are amplified by the dynamics (a 6-joint arm reaches 2e-4 in a transient).
TRAJECTORY_TOLERANCE = 1e-3


def compare_evaluations(
    a: Evaluation, b: Evaluation, tolerance: float = TRAJECTORY_TOLERANCE, return_tolerance: float = 0.0
) -> Comparison:
    """Compare two recorded evaluations (``record=True``) of the same task and seeds; ``b`` is the reference.

    Returns are equal when every episode has the same length and ``|ra - rb| <= return_tolerance *
    max(1, |rb|)`` (exact equality by default). Episodes of different length count as an infinite
    trajectory difference.
    """
    scaled, obs_diff, act_diff = 0.0, 0.0, 0.0
    for ea, eb in zip(a.episodes, b.episodes, strict=True):
        if ea.observations is None or eb.observations is None or ea.actions is None or eb.actions is None:
            raise ValueError("compare_evaluations needs evaluations run with record=True")
        if ea.observations.shape != eb.observations.shape:
            scaled = obs_diff = act_diff = float("inf")
            continue
        delta = np.abs(ea.observations - eb.observations)
        scaled = max(scaled, float((delta / np.maximum(1.0, np.abs(eb.observations))).max(initial=0.0)))
        obs_diff = max(obs_diff, float(delta.max(initial=0.0)))
        act_diff = max(act_diff, float(np.abs(ea.actions - eb.actions).max(initial=0.0)))
    same_lengths = np.array_equal(a.lengths, b.lengths)
    within = np.abs(a.returns - b.returns) <= return_tolerance * np.maximum(1.0, np.abs(b.returns))
    return Comparison(
        returns_equal=bool(same_lengths and np.all(within)),
        max_trajectory_diff=scaled,
        max_observation_diff=obs_diff,
        max_action_diff=act_diff,
        tolerance=tolerance,
        return_tolerance=return_tolerance,
    )
