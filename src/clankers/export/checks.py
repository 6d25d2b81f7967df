"""The checks a candidate policy file must pass, and the lines that report them.

Each ``check_*`` raises a typed error when the file is wrong and returns one line for the export report
when it is right; ``*_failure`` builds the message of a failed parity check, naming what differed and
where to look.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from clankers.errors import PolicyError
from clankers.export.closed_loop import ClosedLoopResult
from clankers.export.parity import ParityResult, random_feed
from clankers.export.runner import GraphRunner
from clankers.export.sb3 import ExportableActor
from clankers.export.shapes import action_shape


def check_tensors(runner: GraphRunner, actor: ExportableActor, rng: np.random.Generator) -> str:
    """Names, dtypes and per-sample shapes of every tensor, and inference at batch 1 and 5."""
    session = runner.session
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    if list(inputs) != actor.input_names or list(outputs) != actor.output_names:
        raise PolicyError(
            f"graph tensors are {list(inputs)} -> {list(outputs)}, expected {actor.input_names} -> "
            f"{actor.output_names}"
        )
    act_shape = action_shape(actor.action_space)
    act_dtype = np.float32 if isinstance(actor.action_space, gym.spaces.Box) else np.int64
    for batch in (1, 5):
        feed = random_feed(actor, batch, rng)
        if actor.recurrent is not None:
            action, state = runner.step(feed, runner.initial_state(batch), np.ones(batch, dtype=bool))
            if any(s.shape != actor.recurrent.state_shape(batch) for s in state):
                raise PolicyError(f"batch {batch}: state outputs have shapes {[s.shape for s in state]}")
        else:
            action = runner.act(feed)
        if action.shape != (batch, *act_shape) or action.dtype != act_dtype:
            raise PolicyError(
                f"batch {batch} inference returned {action.shape} {action.dtype}, expected "
                f"{(batch, *act_shape)} {np.dtype(act_dtype)}"
            )
    described = ", ".join(
        f"{spec.name}[batch, {', '.join(map(str, spec.graph_shape))}] {spec.dtype}" for spec in actor.inputs
    )
    return (
        f"tensors: {described} -> action[batch{''.join(f', {d}' for d in act_shape)}] "
        f"{np.dtype(act_dtype)}{' (+ LSTM state)' if actor.recurrent else ''}; onnxruntime at batch 1 and 5"
    )


def parity_line(parity: ParityResult) -> str:
    what = (
        f"{parity.mismatches} mismatches (exact)"
        if parity.discrete
        else f"max |diff| = {parity.max_abs_diff:.3g} ({parity.max_rel_diff:.3g} of the action scale) <= "
        f"tolerance {parity.tolerance:g} relative ({parity.abs_tolerance:.3g} absolute)"
    )
    state = (
        f", LSTM state max |diff| {parity.max_state_diff:.3g}" if parity.max_state_diff is not None else ""
    )
    return (
        f"parity with SB3 predict(deterministic=True) on {parity.n_samples} observations "
        f"({parity.n_episode_states} from real episodes): {what}{state}"
    )


def parity_failure(parity: ParityResult) -> tuple[str, str]:
    """The message and the hint of a failed parity check."""
    if parity.discrete and parity.mismatches:
        what = f"{parity.mismatches} of {parity.n_samples} discrete actions differ"
        hint = "discrete actions must match exactly; the graph computes something else than the model"
    else:
        what = (
            f"differs by up to {parity.max_abs_diff:.3g} absolute, {parity.max_rel_diff:.3g} of the action "
            f"scale (tolerance {parity.tolerance:g} relative, {parity.abs_tolerance:.3g} absolute)"
        )
        hint = (
            "float32 rounding stays far below the tolerance on a model's usual inputs; check that the "
            "model and the VecNormalize file belong together, or raise --tolerance if the graph is known "
            "to be right and the inputs are extreme"
        )
    state = (
        f"; LSTM state differs by {parity.max_state_diff:.3g} ({parity.max_state_rel_diff:.3g} relative)"
        if parity.max_state_diff is not None
        else ""
    )
    message = (
        f"the exported graph disagrees with SB3 predict(deterministic=True): {what}{state} on "
        f"{parity.n_samples} observations; nothing was written"
    )
    return message, hint


def closed_loop_line(loop: ClosedLoopResult) -> str:
    agreement = (
        f"{loop.lockstep_mismatches} mismatches"
        if loop.discrete
        else f"max action diff {loop.lockstep_max_action_diff:.3g}"
    )
    return (
        f"closed loop in {loop.env}, seeds {loop.seeds}: returns {_short(loop.returns)} "
        f"(SB3 {_short(loop.reference_returns)}), max trajectory diff {loop.max_trajectory_diff:.3g} <= "
        f"{loop.tolerance:g}; lockstep on {loop.lockstep_steps} steps: {agreement}"
    )


def _short(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.7g}" for v in values) + "]"


def closed_loop_failure(loop: ClosedLoopResult) -> str:
    head = (
        f"closed loop in {loop.env} on seeds {loop.seeds}: returns {loop.returns} vs SB3 "
        f"{loop.reference_returns} (equal within tolerance: {loop.returns_equal}), max trajectory diff "
        f"{loop.max_trajectory_diff:.3g} (tolerance {loop.tolerance:g}, relative above magnitude 1)"
    )
    if not loop.lockstep_passed:
        return (
            f"{head}; on the file's own trajectory SB3 chose different actions ("
            f"{loop.lockstep_mismatches} of {loop.lockstep_steps} steps, max diff "
            f"{loop.lockstep_max_action_diff:.3g}): the graph disagrees with the model on states the closed "
            "loop visits. Nothing was written"
        )
    return (
        f"{head}; SB3 agreed with the file on every one of its {loop.lockstep_steps} closed-loop states "
        f"(max action diff {loop.lockstep_max_action_diff:.3g}), so the two runs diverged through the "
        "dynamics: an unstable closed loop (e.g. an untrained policy) amplifies float32 rounding. Check a "
        "trained model, or raise --trajectory-tolerance. Nothing was written"
    )


def check_runtime(path: Path, actor: ExportableActor, feed: dict[str, np.ndarray]) -> str:
    """The deployment runtime must load the file and reproduce the exporter's own graph outputs."""
    from clankers.policy import OnnxPolicy

    policy = OnnxPolicy(path)
    runner = GraphRunner(path, actor)
    rows = min(64, len(next(iter(feed.values()))))
    sub = {name: value[:rows] for name, value in feed.items()}
    obs: Any = (
        {spec.key: sub[spec.name] for spec in actor.inputs} if actor.is_dict else sub[actor.inputs[0].name]
    )
    if actor.recurrent is not None:
        starts = np.ones(rows, dtype=bool)
        expected, _ = runner.step(sub, runner.initial_state(rows), starts)
        got, _ = policy.step(obs, None, starts)
    else:
        expected = runner.act(sub)
        got = policy.act_batch(obs)
    if got.shape != expected.shape or not np.array_equal(got, expected):
        raise PolicyError(
            f"OnnxPolicy gives different actions than the graph itself on {rows} observations "
            f"(shapes {got.shape} vs {expected.shape}); the metadata does not describe the graph"
        )
    return f"OnnxPolicy loads the file and reproduces the graph's actions on {rows} observations"


def check_conformance(path: Path, required: str) -> str:
    """``clankers check`` on the candidate: *verified* when parity covered enough samples, else *standard*."""
    from clankers.policy import check_policy
    from clankers.policy.report import LEVELS

    report = check_policy(path)
    if LEVELS.index(report.level) < LEVELS.index(required):
        reasons = "; ".join(f"{f.level}: {f.subject}: {f.message}" for f in report.failures)
        raise PolicyError(f"clankers check reaches only level {report.level!r}: {reasons}")
    return report.level
