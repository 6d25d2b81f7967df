"""Per-sample evidence that an exported graph computes what ``predict(deterministic=True)`` computes.

Observations come from where the model lived: states visited by the model itself in real episodes of an
environment (when one is given), and random samples from its operating region: the VecNormalize running
statistics (mean ± 3 std, a quarter of the samples with one dimension past the ``clip_obs`` clip), the
observation bounds where they are finite and sane, a ±5 window elsewhere, every pixel value for images
(:meth:`~clankers.export.observations.ObservationInput.sample`).

Discrete actions must agree exactly. Continuous actions are computed in float32 by two different
implementations (torch and onnxruntime sum in different orders), so they agree only up to rounding, and
rounding scales with the numbers involved: each component must satisfy
``|graph - predict| <= tolerance * scale`` with ``scale`` the component's half action range, or the
largest magnitude ``predict`` returned for it when that is larger (unbounded actions). The default
relative tolerance (1e-4) sits above float32 rounding through a few layers of a few hundred units and
well below a real error (one weight off by 1e-3); ``docs/export.md`` gives the reasoning. Both the
absolute and the relative error are reported.

Recurrent policies are compared over sequences: several rows stepped in lockstep with random episode
starts, so both the LSTM and the runtime's reset rule are exercised, and the state tensors are compared as
well as the actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from clankers.export.observations import (
    env_observation_to_graph,
    sample_inputs,
    to_model_observation,
)
from clankers.export.runner import GraphRunner
from clankers.export.sb3 import ExportableActor

#: Rows stepped in lockstep when checking a recurrent policy on random observations.
RECURRENT_ROWS = 8
#: Probability that a row's episode restarts at a step (random-sample recurrent parity).
EPISODE_START_P = 0.05
#: Numbers (observation elements) the metadata's parity probe may hold; keeps files small with images.
PROBE_BUDGET = 4096
PROBE_MAX_ROWS = 8

Feed = dict[str, np.ndarray]


@dataclass
class ParityResult:
    """Comparison of the ONNX graph with the source model on the same observations.

    ``tolerance`` is relative (of ``action_scale``, per component); ``abs_tolerance`` is the largest
    absolute difference it allows on any component (what the file's ``parity.tolerance`` records, so a
    reader can compare it with ``max_abs_diff`` without knowing the rule).
    """

    n_samples: int
    n_episode_states: int
    max_abs_diff: float
    tolerance: float
    max_rel_diff: float = 0.0
    action_scale: list[float] | None = None
    discrete: bool = False
    mismatches: int = 0
    max_state_diff: float | None = None
    max_state_rel_diff: float | None = None
    probe: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def abs_tolerance(self) -> float:
        if self.discrete or not self.action_scale:
            return 0.0
        return self.tolerance * max(self.action_scale)

    @property
    def passed(self) -> bool:
        state_ok = self.max_state_rel_diff is None or self.max_state_rel_diff <= self.tolerance
        if self.discrete:
            return self.mismatches == 0 and state_ok
        return self.max_rel_diff <= self.tolerance and state_ok

    def to_dict(self) -> dict[str, Any]:
        """The ``parity`` metadata record (``records.ParityRecord``), without the closed-loop part."""
        record: dict[str, Any] = {
            "reference": "stable-baselines3 predict(deterministic=True)",
            "n_samples": self.n_samples,
            "n_episode_states": self.n_episode_states,
            "max_abs_diff": self.max_abs_diff,
            "tolerance": self.abs_tolerance,
            "passed": self.passed,
        }
        if self.discrete:
            record["mismatches"] = self.mismatches
            record["comparison"] = "exact"
        else:
            record["comparison"] = "|onnx - reference| <= relative_tolerance * action_scale, per component"
            record["max_rel_diff"] = self.max_rel_diff
            record["relative_tolerance"] = self.tolerance
            record["action_scale"] = self.action_scale
        if self.max_state_diff is not None:
            record["max_state_diff"] = self.max_state_diff
            record["max_state_rel_diff"] = self.max_state_rel_diff
        if self.probe is not None:
            record["probe"] = self.probe
        return record


def reference_observation(actor: ExportableActor, feed: Feed) -> Any:
    """A graph feed (raw observations) -> what SB3's ``predict`` takes: model layout, then VecNormalize."""
    obs = to_model_observation(actor.inputs, feed, actor.is_dict)
    return actor.normalization.normalize(obs) if actor.normalization is not None else obs


def action_scale(space: gym.spaces.Space, expected: np.ndarray) -> list[float] | None:
    """Per-component scale of a Box action: half its range, or the largest |reference| when larger.

    Unbounded components have no range, so their scale is the output's own magnitude (at least 1, so an
    output that happens to be tiny is not held to an impossible absolute bound). None for discrete spaces.
    """
    if not isinstance(space, gym.spaces.Box):
        return None
    low = np.broadcast_to(space.low, space.shape).astype(np.float64).ravel()
    high = np.broadcast_to(space.high, space.shape).astype(np.float64).ravel()
    half = np.where(np.isfinite(low) & np.isfinite(high), (high - low) / 2.0, 0.0)
    ref = np.abs(np.asarray(expected, dtype=np.float64).reshape(-1, half.size))
    magnitude = ref.max(axis=0) if len(ref) else np.zeros_like(half)
    scale = np.maximum(half, magnitude)
    scale = np.where(np.isfinite(low) & np.isfinite(high), scale, np.maximum(scale, 1.0))
    return [float(v) if v > 0 else 1.0 for v in scale]


def _diff(expected: np.ndarray, actual: np.ndarray, scale: list[float] | None) -> tuple[float, float, int]:
    """(max |diff|, max |diff| / scale, rows that differ); a shape mismatch is an infinite difference."""
    expected, actual = np.asarray(expected), np.asarray(actual)
    if expected.shape != actual.shape:
        return float("inf"), float("inf"), len(expected)
    diff = np.abs(expected.astype(np.float64) - actual.astype(np.float64))
    flat = diff.reshape(len(diff), -1)
    rows = flat.max(axis=1, initial=0.0) if len(diff) else flat
    rel = float((flat / np.asarray(scale)).max(initial=0.0)) if scale is not None and flat.size else 0.0
    return float(diff.max(initial=0.0)), rel, int(np.count_nonzero(rows))


def _state_rel(diff: float, magnitude: float) -> float:
    """An LSTM state difference relative to the state's magnitude (at least 1)."""
    return diff / max(1.0, magnitude)


def _concat(feeds: list[Feed]) -> Feed:
    return {name: np.concatenate([f[name] for f in feeds]) for name in feeds[0]}


def _take(feed: Feed, index: Any) -> Feed:
    return {name: value[index] for name, value in feed.items()}


def _is_discrete(space: gym.spaces.Space) -> bool:
    return not isinstance(space, gym.spaces.Box)


# --- collecting observations ---------------------------------------------------------------------------


def episode_feeds(
    actor: ExportableActor, model: Any, env: gym.Env, n: int, seed: int
) -> tuple[Feed, np.ndarray]:
    """The first ``n`` observations visited when the SB3 model drives ``env`` from seeds ``seed, seed+1...``.

    Returns them as one graph feed plus the episode-start flag of each step (recurrent replay needs it).
    """
    feeds: list[Feed] = []
    starts: list[bool] = []
    episode = 0
    while len(feeds) < n:
        obs, _ = env.reset(seed=seed + episode)
        episode += 1
        state, start, done = None, True, False
        while not done and len(feeds) < n:
            feed = env_observation_to_graph(actor.inputs, obs, env.observation_space)
            feeds.append(feed)
            starts.append(start)
            ref = reference_observation(actor, feed)
            if actor.recurrent is not None:
                action, state = model.predict(
                    ref, state=state, episode_start=np.array([start]), deterministic=True
                )
            else:
                action, _ = model.predict(ref, deterministic=True)
            obs, _, terminated, truncated, _ = env.step(_env_action(action[0], env.action_space))
            done = bool(terminated or truncated)
            start = False
    return _concat(feeds), np.array(starts)


def _env_action(action: np.ndarray, space: gym.spaces.Space) -> Any:
    if isinstance(space, gym.spaces.Discrete):
        return int(action)
    return np.asarray(action)


# --- stateless policies --------------------------------------------------------------------------------


def stateless_parity(
    actor: ExportableActor,
    model: Any,
    runner: GraphRunner,
    random_feed: Feed,
    episode_feed: Feed | None,
    tolerance: float,
) -> ParityResult:
    """Graph vs ``predict`` on the random observations and the episode states, in one batch."""
    n_states = 0 if episode_feed is None else len(next(iter(episode_feed.values())))
    feed = random_feed if episode_feed is None else _concat([random_feed, episode_feed])
    expected, _ = model.predict(reference_observation(actor, feed), deterministic=True)
    actual = runner.act(feed)
    scale = action_scale(actor.action_space, expected)
    max_diff, max_rel, mismatches = _diff(expected, actual, scale)
    n = len(actual)
    return ParityResult(
        n_samples=n,
        n_episode_states=n_states,
        max_abs_diff=max_diff,
        tolerance=tolerance,
        max_rel_diff=max_rel,
        action_scale=scale,
        discrete=_is_discrete(actor.action_space),
        mismatches=mismatches,
        probe=_probe(actor, feed, np.asarray(expected), None),
    )


# --- recurrent policies --------------------------------------------------------------------------------


def _run_sequences(
    actor: ExportableActor, model: Any, runner: GraphRunner, steps: list[Feed], starts: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray], float, float]:
    """Step SB3 and the graph through ``steps`` (each a ``[rows, ...]`` feed); returns the actions, the
    largest state difference and the largest state magnitude."""
    rows = len(next(iter(steps[0].values())))
    sb3_state = None
    graph_state = runner.initial_state(rows)
    expected, actual, state_diff, magnitude = [], [], 0.0, 0.0
    for t, feed in enumerate(steps):
        action, sb3_state = model.predict(
            reference_observation(actor, feed), state=sb3_state, episode_start=starts[t], deterministic=True
        )
        graph_action, graph_state = runner.step(feed, graph_state, starts[t])
        expected.append(np.asarray(action))
        actual.append(graph_action)
        for ours, theirs in zip(graph_state, sb3_state, strict=True):
            state_diff = max(state_diff, float(np.abs(ours - theirs).max(initial=0.0)))
            magnitude = max(magnitude, float(np.abs(theirs).max(initial=0.0)))
    return expected, actual, state_diff, magnitude


def recurrent_parity(
    actor: ExportableActor,
    model: Any,
    runner: GraphRunner,
    random_feed: Feed,
    episode: tuple[Feed, np.ndarray] | None,
    tolerance: float,
    rng: np.random.Generator,
) -> ParityResult:
    """Graph vs ``predict`` over sequences: random rows with random resets, then real episodes (one row)."""
    n_random = len(next(iter(random_feed.values())))
    rows = min(RECURRENT_ROWS, n_random)
    length = n_random // rows
    steps = [_take(random_feed, slice(t * rows, (t + 1) * rows)) for t in range(length)]
    starts = rng.random((length, rows)) < EPISODE_START_P
    starts[0] = True
    expected, actual, state_diff, magnitude = _run_sequences(actor, model, runner, steps, starts)
    probe_rows = [_take(step, slice(0, 1)) for step in steps]
    probe = _probe(
        actor, _concat(probe_rows), np.concatenate([e[:1] for e in expected]), starts[:, 0].tolist()
    )
    n_states = 0
    if episode is not None:
        feed, ep_starts = episode
        n_states = len(ep_starts)
        ep_steps = [_take(feed, slice(t, t + 1)) for t in range(n_states)]
        e2, a2, d2, m2 = _run_sequences(actor, model, runner, ep_steps, ep_starts[:, None])
        expected, actual = expected + e2, actual + a2
        state_diff, magnitude = max(state_diff, d2), max(magnitude, m2)
    all_expected = np.concatenate(expected)
    scale = action_scale(actor.action_space, all_expected)
    max_diff, max_rel, mismatches = _diff(all_expected, np.concatenate(actual), scale)
    return ParityResult(
        n_samples=rows * length + n_states,
        n_episode_states=n_states,
        max_abs_diff=max_diff,
        tolerance=tolerance,
        max_rel_diff=max_rel,
        action_scale=scale,
        discrete=_is_discrete(actor.action_space),
        mismatches=mismatches,
        max_state_diff=state_diff,
        max_state_rel_diff=_state_rel(state_diff, magnitude),
        probe=probe,
    )


# --- the probe ---------------------------------------------------------------------------------------


def _probe(
    actor: ExportableActor, feed: Feed, expected: np.ndarray, episode_start: list[bool] | None
) -> dict[str, Any]:
    """A few rows of (raw observation, reference action) for a checker to re-run (``records.ParityProbe``).

    Recurrent probes are consecutive steps of one row, so they keep their order and episode starts.
    """
    per_row = sum(int(np.prod(v.shape[1:])) for v in feed.values())
    n = max(1, min(PROBE_MAX_ROWS, PROBE_BUDGET // max(per_row, 1), len(expected)))
    if episode_start is not None:
        n = min(n, len(episode_start))
    obs: list[Any] | dict[str, list[Any]]
    if actor.is_dict:
        obs = {spec.key or "": feed[spec.name][:n].tolist() for spec in actor.inputs}
    else:
        obs = feed[actor.inputs[0].name][:n].tolist()
    actions = np.asarray(expected)[:n]
    if _is_discrete(actor.action_space):
        actions = actions.astype(np.int64)  # predict returns floats for MultiBinary; the graph int64
    probe: dict[str, Any] = {"obs": obs, "action": actions.tolist()}
    if episode_start is not None:
        probe["episode_start"] = [bool(s) for s in episode_start[:n]]
    return probe


def random_feed(actor: ExportableActor, n: int, rng: np.random.Generator) -> Feed:
    """``n`` random observations for every graph input."""
    return sample_inputs(actor.inputs, n, rng)
