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

from clankers.errors import ConfigError, ParityError
from clankers.export.checks import (
    check_conformance,
    check_runtime,
    check_tensors,
    closed_loop_failure,
    closed_loop_line,
    parity_failure,
    parity_line,
)
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
from clankers.export.sb3 import build_actor
from clankers.export.shapes import (
    action_shape,
    check_environment,
    declared_shapes,
    env_image_layout,
    example_inputs,
)
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
        image_layout = env_image_layout(environment.observation_space)
    actor = build_actor(model, algorithm, normalization=stats, image_layout=image_layout)
    if environment is not None:
        check_environment(environment, actor)

    batch_axes = {}
    if actor.recurrent is not None:
        names = (*actor.recurrent.inputs, *actor.recurrent.outputs)
        batch_axes = dict.fromkeys(names, actor.recurrent.batch_axis)
    torch_start = time.perf_counter()
    onnx_model, exporter = torch_to_onnx(
        actor.module,
        example_inputs(actor, batch=2),
        actor.input_names,
        actor.output_names,
        options.opset,
        batch_axes=batch_axes,
        exporters=options.exporters,
    )
    pin_shapes(onnx_model, declared_shapes(actor))
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
        checks.append(check_tensors(runner, actor, rng))

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
            raise ParityError(parity_failure(parity))
        checks.append(parity_line(parity))

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
                raise ParityError(closed_loop_failure(loop))
            checks.append(closed_loop_line(loop))
        del runner

        record = parity.to_dict()
        if loop is not None:
            record["closed_loop"] = loop.to_dict()
        meta.parity = record  # validated on assignment (ParityRecord)
        props = meta.to_metadata_props()
        set_metadata(onnx_model, props)
        onnx.save(onnx_model, candidate)
        checks.append(check_runtime(candidate, actor, feed))
        level = check_conformance(
            candidate, "verified" if parity.n_samples >= MIN_PARITY_SAMPLES else "standard"
        )
        checks.append(f"clankers check: conformance level {level}")
    return ExportReport(
        path=Path(output),
        algorithm=actor.display_name,
        exporter=exporter,
        opset=used_opset,
        obs_dim=sum(int(np.prod(spec.graph_shape)) for spec in actor.inputs),
        act_dim=int(np.prod(action_shape(actor.action_space))),
        parity=parity,
        metadata=props,
        checks=checks,
        seconds=time.perf_counter() - start,
        torch_export_seconds=torch_seconds,
        closed_loop=loop,
        level=level,
    )
