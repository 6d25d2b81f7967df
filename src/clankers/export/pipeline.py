"""The export pipeline: model zip (+ VecNormalize statistics) -> verified, self-describing policy file.

Stages: detect and load the model; wrap its deterministic actor with SB3's pre- and post-processing;
export with torch (TorchScript first, dynamo as fallback); write a *candidate* file beside the target and
check it: ONNX checker, tensor names/dtypes/shapes, onnxruntime at batch 1 and 5, per-sample parity with
``predict(deterministic=True)``, optionally closed-loop parity in an environment; record the evidence in
the metadata; load it with the deployment runtime (:class:`OnnxPolicy`), which must give the same actions,
and with the conformance checker, which must reach *verified*. Only then does the file get its final name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import onnx
import torch

from clankers.errors import ConfigError, ExportError, ParityError, PolicyError
from clankers.export.closed_loop import TRAJECTORY_TOLERANCE, ClosedLoopResult, closed_loop, make_environment
from clankers.export.detect import canonical_algorithm, detect_algorithm, load_model
from clankers.export.metadata import build_metadata
from clankers.export.onnx_writer import (
    DEFAULT_OPSET,
    EXPORTERS,
    model_opset,
    pin_shapes,
    set_metadata,
    staged_file,
    torch_to_onnx,
)
from clankers.export.parity import (
    ParityResult,
    episode_feeds,
    random_feed,
    recurrent_parity,
    stateless_parity,
)
from clankers.export.runner import GraphRunner
from clankers.export.sb3 import ExportableActor, build_actor
from clankers.export.vecnormalize import NormalizationStats, load_vecnormalize

#: Smallest number of observations a per-sample parity check must cover (the format's *verified* level).
MIN_PARITY_SAMPLES = 1000


@dataclass
class ExportReport:
    """What was written and the evidence that it is right."""

    path: Path
    algorithm: str
    exporter: str
    opset: int
    obs_dim: int
    act_dim: int
    parity: ParityResult
    metadata: dict[str, str]
    checks: list[str] = field(default_factory=list)
    seconds: float = 0.0
    torch_export_seconds: float = 0.0  # torch -> ONNX only (what the export-time benchmark reports)
    closed_loop: ClosedLoopResult | None = None
    level: str = ""


def export_sb3(
    model_path: str | Path,
    output: str | Path,
    *,
    algo: str | None = None,
    env: str | None = None,
    vecnormalize: str | Path | None = None,
    verify_env: str | None = None,
    verify_episodes: int = 3,
    image_layout: str | None = None,
    n_samples: int = 1000,
    n_episode_states: int = 1000,
    seed: int = 0,
    tolerance: float = 1e-5,
    trajectory_tolerance: float = TRAJECTORY_TOLERANCE,
    opset: int = DEFAULT_OPSET,
    exporters: tuple[str, ...] = EXPORTERS,
) -> ExportReport:
    """Export an SB3 / sb3-contrib model's deterministic actor to a verified clanker policy file.

    Args:
        model_path: the ``model.zip`` SB3 saved (a pickle container: trusted files only).
        output: where the policy file goes; written only if every check passes.
        algo: algorithm name, detected from the zip when omitted.
        env: environment (clankers task or Gymnasium id) whose real episodes, driven by the model, add
            parity observations; it also provides the observation layout names when it publishes them.
        vecnormalize: ``VecNormalize.save`` statistics to bake into the graph (the file then takes raw
            observations).
        verify_env: run the file and the model closed-loop in this environment on the same seeds
            (``verify_episodes`` episodes); returns must be equal and every observation along the
            trajectories within ``trajectory_tolerance * max(1, |reference|)``. Also used for episode states when ``env`` is not given.
        image_layout: ``HWC`` (default: what cameras give) or ``CHW`` for image inputs.
        n_samples, n_episode_states: parity observations of each kind.
        tolerance: the largest allowed |graph - predict| on any continuous action component.
        exporters: torch exporters to try, in order.

    Raises:
        UnsupportedModelError: algorithm, policy or space the exporter does not handle (nothing written).
        ParityError: the graph disagrees with ``predict`` (nothing written).
        ExportError: anything else that stops a correct export.
    """
    start = time.perf_counter()
    if n_samples < 1 or n_episode_states < 0 or verify_episodes < 1:
        raise ConfigError(
            f"n_samples must be >= 1, n_episode_states >= 0 and verify_episodes >= 1 (got {n_samples}, "
            f"{n_episode_states}, {verify_episodes}); the verified level needs n_samples >= {MIN_PARITY_SAMPLES}"
        )
    algorithm = canonical_algorithm(algo) if algo else detect_algorithm(model_path)
    model = load_model(model_path, algorithm)
    stats = load_vecnormalize(vecnormalize) if vecnormalize is not None else None
    layout_env = env or verify_env
    environment = make_environment(layout_env) if layout_env is not None else None
    threads = torch.get_num_threads()
    # Parity runs thousands of tiny forward passes; torch's intra-op threads only add synchronisation to
    # those (an LSTM step: 0.4 ms on one thread, 14 ms on two busy cores). Results do not depend on it.
    torch.set_num_threads(1)
    try:
        options = _Options(
            verify_env,
            verify_episodes,
            image_layout,
            n_samples,
            n_episode_states,
            seed,
            tolerance,
            trajectory_tolerance,
            opset,
            exporters,
        )
        return _export(model_path, output, algorithm, model, stats, environment, options, start)
    finally:
        torch.set_num_threads(threads)
        if environment is not None:
            environment.close()


@dataclass(frozen=True)
class _Options:
    """The checking options of one export (see :func:`export_sb3` for their meaning)."""

    verify_env: str | None
    verify_episodes: int
    image_layout: str | None
    n_samples: int
    n_episode_states: int
    seed: int
    tolerance: float
    trajectory_tolerance: float
    opset: int
    exporters: tuple[str, ...]


def _export(
    model_path: str | Path,
    output: str | Path,
    algorithm: str,
    model: Any,
    stats: NormalizationStats | None,
    environment: gym.Env | None,
    options: _Options,
    start: float,
) -> ExportReport:
    """The stages after loading (see :func:`export_sb3`); the caller owns ``environment``."""
    image_layout = options.image_layout
    if image_layout is None and environment is not None:
        image_layout = _env_image_layout(environment.observation_space)
    actor = build_actor(model, algorithm, normalization=stats, image_layout=image_layout)
    if environment is not None:
        _check_environment(environment, actor)

    batch_axes = {}
    if actor.recurrent is not None:
        names = (*actor.recurrent.inputs, *actor.recurrent.outputs)
        batch_axes = dict.fromkeys(names, actor.recurrent.batch_axis)
    torch_start = time.perf_counter()
    onnx_model, exporter = torch_to_onnx(
        actor.module,
        _example_inputs(actor, batch=2),
        actor.input_names,
        actor.output_names,
        options.opset,
        batch_axes=batch_axes,
        exporters=options.exporters,
    )
    pin_shapes(onnx_model, _declared_shapes(actor))
    used_opset = model_opset(onnx_model)
    torch_seconds = time.perf_counter() - torch_start

    checks: list[str] = []
    rng = np.random.default_rng(options.seed)
    with staged_file(output) as candidate:
        meta = build_metadata(
            actor, exporter=exporter, opset=used_opset, model_path=model_path, env=environment
        )
        set_metadata(onnx_model, meta.to_metadata_props())
        onnx.save(onnx_model, candidate)
        onnx.checker.check_model(str(candidate), full_check=True)
        checks.append(f"onnx.checker.check_model (full_check), opset {used_opset}, {exporter} exporter")
        runner = GraphRunner(candidate, actor)
        checks.append(_check_tensors(runner, actor, rng))

        episodes = None
        if environment is not None and options.n_episode_states > 0:
            episodes = episode_feeds(actor, model, environment, options.n_episode_states, options.seed)
        feed = random_feed(actor, options.n_samples, rng)
        if actor.recurrent is not None:
            parity = recurrent_parity(actor, model, runner, feed, episodes, options.tolerance, rng)
        else:
            parity = stateless_parity(
                actor, model, runner, feed, episodes[0] if episodes else None, options.tolerance
            )
        if not parity.passed:
            raise ParityError(_parity_failure(parity))
        checks.append(_parity_line(parity))

        loop = None
        if options.verify_env is not None:
            loop = closed_loop(
                actor,
                model,
                runner,
                options.verify_env,
                options.verify_episodes,
                options.seed,
                options.trajectory_tolerance,
                options.tolerance,
            )
            if not loop.passed:
                raise ParityError(_closed_loop_failure(loop))
            checks.append(
                f"closed loop in {options.verify_env}, seeds {loop.seeds}: returns {_short(loop.returns)} "
                f"(SB3 {_short(loop.reference_returns)}), max trajectory diff {loop.max_trajectory_diff:.3g} <= "
                f"{loop.tolerance:g}; lockstep on {loop.lockstep_steps} steps: "
                + (
                    f"{loop.lockstep_mismatches} mismatches"
                    if loop.discrete
                    else f"max action diff {loop.lockstep_max_action_diff:.3g}"
                )
            )
        del runner

        record = parity.to_dict()
        if loop is not None:
            record["closed_loop"] = loop.to_dict()
        meta.parity = record  # validated on assignment (ParityRecord)
        props = meta.to_metadata_props()
        set_metadata(onnx_model, props)
        onnx.save(onnx_model, candidate)
        checks.append(_check_runtime(candidate, actor, feed))
        level = _check_conformance(
            candidate, "verified" if parity.n_samples >= MIN_PARITY_SAMPLES else "standard"
        )
        checks.append(f"clankers check: conformance level {level}")
    return ExportReport(
        path=Path(output),
        algorithm=actor.display_name,
        exporter=exporter,
        opset=used_opset,
        obs_dim=sum(int(np.prod(spec.graph_shape)) for spec in actor.inputs),
        act_dim=int(np.prod(_action_shape(actor.action_space))),
        parity=parity,
        metadata=props,
        checks=checks,
        seconds=time.perf_counter() - start,
        torch_export_seconds=torch_seconds,
        closed_loop=loop,
        level=level,
    )


# --- helpers -------------------------------------------------------------------------------------------


def _env_image_layout(space: gym.spaces.Space) -> str | None:
    """The layout an environment's camera images come in, so the graph takes them as they are."""
    from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first

    subspaces = space.spaces.values() if isinstance(space, gym.spaces.Dict) else [space]
    for sub in subspaces:
        if is_image_space(sub):
            return "CHW" if is_image_space_channels_first(sub) else "HWC"
    return None


def _check_environment(environment: gym.Env, actor: ExportableActor) -> None:
    """The environment used for parity must be the model's: same action space, compatible observations."""
    from clankers.export.observations import env_observation_to_graph

    if environment.action_space != actor.action_space:
        raise ExportError(
            f"the environment's action space {environment.action_space} is not the model's "
            f"{actor.action_space}; pass the environment the model was trained on"
        )
    env_observation_to_graph(
        actor.inputs, environment.observation_space.sample(), environment.observation_space
    )


def _action_shape(space: gym.spaces.Space) -> tuple[int, ...]:
    """Per-sample shape of the graph's action output."""
    if isinstance(space, gym.spaces.Discrete):
        return ()
    if isinstance(space, gym.spaces.MultiDiscrete):
        return (len(np.asarray(space.nvec).ravel()),)
    if isinstance(space, gym.spaces.MultiBinary):
        return (int(np.prod(space.n)),)
    return tuple(int(d) for d in space.shape)


def _declared_shapes(actor: ExportableActor) -> dict[str, list[int | str]]:
    """Every graph tensor's shape as the format declares it: ``batch`` plus fixed feature sizes."""
    shapes: dict[str, list[int | str]] = {spec.name: ["batch", *spec.graph_shape] for spec in actor.inputs}
    shapes["action"] = ["batch", *_action_shape(actor.action_space)]
    if actor.recurrent is not None:
        state: list[int | str] = [actor.recurrent.n_layers, "batch", actor.recurrent.hidden_size]
        for name in (*actor.recurrent.inputs, *actor.recurrent.outputs):
            shapes[name] = state
    return shapes


def _example_inputs(actor: ExportableActor, batch: int) -> tuple[torch.Tensor, ...]:
    """Tracing inputs. Batch 2, not 1, so no size-1 dimension can be mistaken for a squeezable one."""
    dtypes = {"float32": torch.float32, "uint8": torch.uint8}
    tensors = [torch.zeros((batch, *spec.graph_shape), dtype=dtypes[spec.dtype]) for spec in actor.inputs]
    if actor.recurrent is not None:
        shape = actor.recurrent.state_shape(batch)
        tensors += [torch.zeros(shape), torch.zeros(shape)]
    return tuple(tensors)


def _check_tensors(runner: GraphRunner, actor: ExportableActor, rng: np.random.Generator) -> str:
    """Names, dtypes and per-sample shapes of every tensor, and inference at batch 1 and 5."""
    session = runner.session
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    if list(inputs) != actor.input_names or list(outputs) != actor.output_names:
        raise PolicyError(
            f"graph tensors are {list(inputs)} -> {list(outputs)}, expected {actor.input_names} -> "
            f"{actor.output_names}"
        )
    act_shape = _action_shape(actor.action_space)
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


def _parity_line(parity: ParityResult) -> str:
    what = (
        f"{parity.mismatches} mismatches (exact)"
        if parity.discrete
        else f"max |diff| = {parity.max_abs_diff:.3g} < {parity.tolerance:g}"
    )
    state = (
        f", LSTM state max |diff| {parity.max_state_diff:.3g}" if parity.max_state_diff is not None else ""
    )
    return (
        f"parity with SB3 predict(deterministic=True) on {parity.n_samples} observations "
        f"({parity.n_episode_states} from real episodes): {what}{state}"
    )


def _parity_failure(parity: ParityResult) -> str:
    if parity.discrete and parity.mismatches:
        what = f"{parity.mismatches} of {parity.n_samples} discrete actions differ"
    else:
        what = f"differs by up to {parity.max_abs_diff:.3g} (tolerance {parity.tolerance:g})"
    state = (
        f"; LSTM state differs by {parity.max_state_diff:.3g}" if parity.max_state_diff is not None else ""
    )
    return (
        f"the exported graph disagrees with SB3 predict(deterministic=True): {what}{state} on "
        f"{parity.n_samples} observations; nothing was written"
    )


def _short(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.7g}" for v in values) + "]"


def _closed_loop_failure(loop: ClosedLoopResult) -> str:
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


def _check_runtime(path: Path, actor: ExportableActor, feed: dict[str, np.ndarray]) -> str:
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


def _check_conformance(path: Path, required: str) -> str:
    """``clankers check`` on the candidate: *verified* when parity covered enough samples, else *standard*."""
    from clankers.policy import check_policy
    from clankers.policy.report import LEVELS

    report = check_policy(path)
    if LEVELS.index(report.level) < LEVELS.index(required):
        reasons = "; ".join(f"{f.level}: {f.subject}: {f.message}" for f in report.failures)
        raise PolicyError(f"clankers check reaches only level {report.level!r}: {reasons}")
    return report.level
