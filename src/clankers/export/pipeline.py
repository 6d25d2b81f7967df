"""The export pipeline: a trained model -> a verified, self-describing policy file, in five stages.

Read top to bottom, one function per stage, each taking what the previous one made:

1. **read** (:func:`~clankers.export.source.read_source`): the model zip (any SB3 version, saved under gym
   or Gymnasium) or an experiment folder, and the VecNormalize statistics -> :class:`Source`. All
   compatibility work with old files happens here and nowhere else.
2. **actor** (:func:`build`): the deterministic actor with SB3's pre-processing (VecNormalize, image
   transposition) and post-processing (distribution mode, unscale/clip, argmax) -> ``ExportableActor``.
3. **graph** (:func:`write_graph`): torch -> ONNX in memory, TorchScript first, dynamo as fallback ->
   :class:`Graph`.
4. **verify** (:func:`verify`): the graph, with its format-1.1 metadata, is written as a *candidate* file
   beside the target and checked: ONNX checker, tensor names and shapes, onnxruntime at batch 1 and 5,
   per-sample parity with ``predict``, optionally closed-loop parity in an environment, the deployment
   runtime, the conformance checker -> :class:`Evidence`.
5. **file**: the candidate gets its final name only when every check passed (:func:`staged_file`).

Each stage raises a typed :class:`~clankers.errors.ClankersError`; anything else a stage runs into (a
model doing something no stage foresaw) becomes an :class:`ExportError` naming the stage, so
``clankers export`` never ends in a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import onnx
import torch

from clankers.errors import ClankersError, ExportError, ParityError
from clankers.export.checks import (
    check_conformance,
    check_runtime,
    check_tensors,
    closed_loop_failure,
    closed_loop_line,
    parity_failure,
    parity_line,
)
from clankers.export.closed_loop import ClosedLoopResult, closed_loop, make_environment
from clankers.export.metadata import build_metadata
from clankers.export.onnx_writer import model_opset, pin_shapes, set_metadata, staged_file, torch_to_onnx
from clankers.export.options import ExportOptions
from clankers.export.parity import (
    ParityResult,
    episode_feeds,
    random_feed,
    recurrent_parity,
    stateless_parity,
)
from clankers.export.runner import GraphRunner
from clankers.export.sb3 import ExportableActor, build_actor
from clankers.export.shapes import (
    action_shape,
    check_environment,
    declared_shapes,
    env_image_layout,
    example_inputs,
)
from clankers.export.source import Source, read_source

#: Smallest number of observations a per-sample parity check must cover (the format's *verified* level).
MIN_PARITY_SAMPLES = 1000


@dataclass
class Graph:
    """The output of stage 3: the ONNX model in memory, and how it was made."""

    model: onnx.ModelProto
    exporter: str  # "torchscript" or "dynamo"
    opset: int
    seconds: float  # torch -> ONNX only (what the export-time benchmark reports)


@dataclass
class Evidence:
    """The output of stage 4: what the candidate file passed."""

    parity: ParityResult
    closed_loop: ClosedLoopResult | None
    level: str
    checks: list[str]
    metadata: dict[str, str]


@dataclass
class ExportReport:
    """What was written, from which files, and the evidence that it is right."""

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
    files: dict[str, str] = field(default_factory=dict)  # role (model, vecnormalize, config...) -> path
    notes: list[str] = field(default_factory=list)  # how the inputs were read (old formats, folders)


def export_sb3(
    model_path: str | Path, output: str | Path, options: ExportOptions | None = None, **overrides: Any
) -> ExportReport:
    """Export an SB3 / sb3-contrib model's deterministic actor to a verified clanker policy file.

    Args:
        model_path: the ``model.zip`` SB3 saved (any SB3 version, under gym or Gymnasium), or an
            experiment folder (RL Zoo layout) holding it. A pickle container: trusted files only.
        output: where the policy file goes; written only if every check passes.
        options: an :class:`ExportOptions`; ``overrides`` are its fields by name (e.g. ``env="cartpole"``,
            ``n_samples=1000``), applied on top.

    Raises:
        ConfigError: an invalid option (nothing read).
        UnsupportedModelError: algorithm, policy or space the exporter does not handle (nothing written).
        ParityError: the graph disagrees with ``predict`` (nothing written).
        ExportError: anything else that stops a correct export, with the cause and a hint.
    """
    options = ExportOptions.merged(options, overrides)
    start = time.perf_counter()
    with _one_torch_thread():
        with _stage("reading the model"):
            source = read_source(model_path, options.algo, options.vecnormalize)  # 1
        with _environment(options.env or options.verify_env) as environment:
            with _stage("building the actor"):
                actor = build(source, environment, options)  # 2
            with _stage("writing the graph"):
                graph = write_graph(actor, options)  # 3
            with staged_file(output) as candidate, _stage("verifying the graph"):
                evidence = verify(graph, actor, source, environment, options, candidate)  # 4
        # 5: leaving staged_file renamed the candidate to `output`.
    return ExportReport(
        path=Path(output),
        algorithm=actor.display_name,
        exporter=graph.exporter,
        opset=graph.opset,
        obs_dim=sum(int(np.prod(spec.graph_shape)) for spec in actor.inputs),
        act_dim=int(np.prod(action_shape(actor.action_space))),
        parity=evidence.parity,
        metadata=evidence.metadata,
        checks=evidence.checks,
        seconds=time.perf_counter() - start,
        torch_export_seconds=graph.seconds,
        closed_loop=evidence.closed_loop,
        level=evidence.level,
        files=source.files,
        notes=source.notes,
    )


# --- 2. the actor ------------------------------------------------------------------------------------


def build(source: Source, environment: gym.Env | None, options: ExportOptions) -> ExportableActor:
    """The deterministic actor of ``source.model``, taking inputs laid out as the environment gives them."""
    image_layout = options.image_layout
    if image_layout is None and environment is not None:
        image_layout = env_image_layout(environment.observation_space)
    actor = build_actor(source.model, source.algorithm, normalization=source.stats, image_layout=image_layout)
    if environment is not None:
        check_environment(environment, actor)
    return actor


# --- 3. the graph ------------------------------------------------------------------------------------


def write_graph(actor: ExportableActor, options: ExportOptions) -> Graph:
    """torch -> ONNX with a dynamic batch axis and the declared tensor shapes pinned."""
    batch_axes = {}
    if actor.recurrent is not None:
        names = (*actor.recurrent.inputs, *actor.recurrent.outputs)
        batch_axes = dict.fromkeys(names, actor.recurrent.batch_axis)
    start = time.perf_counter()
    model, exporter = torch_to_onnx(
        actor.module,
        example_inputs(actor, batch=2),
        actor.input_names,
        actor.output_names,
        options.opset,
        batch_axes=batch_axes,
        exporters=options.exporters,
    )
    pin_shapes(model, declared_shapes(actor))
    return Graph(model, exporter, model_opset(model), time.perf_counter() - start)


# --- 4. verification ---------------------------------------------------------------------------------


def verify(
    graph: Graph,
    actor: ExportableActor,
    source: Source,
    environment: gym.Env | None,
    options: ExportOptions,
    candidate: Path,
) -> Evidence:
    """Write ``graph`` with its metadata to ``candidate`` and check it; raises on the first failure."""
    checks: list[str] = []
    rng = np.random.default_rng(options.seed)
    meta = build_metadata(
        actor, exporter=graph.exporter, opset=graph.opset, model_path=source.model_path, env=environment
    )
    set_metadata(graph.model, meta.to_metadata_props())
    onnx.save(graph.model, candidate)
    onnx.checker.check_model(str(candidate), full_check=True)
    checks.append(f"onnx.checker.check_model (full_check), opset {graph.opset}, {graph.exporter} exporter")
    runner = GraphRunner(candidate, actor)
    checks.append(check_tensors(runner, actor, rng))

    model = source.model
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
        message, hint = parity_failure(parity)
        raise ParityError(message, hint=hint)
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
            parity.abs_tolerance,
        )
        if not loop.passed:
            raise ParityError(
                closed_loop_failure(loop),
                hint="pass the environment the model was trained in; for a diverging but agreeing closed "
                "loop, raise --trajectory-tolerance",
            )
        checks.append(closed_loop_line(loop))
    del runner

    record = parity.to_dict()
    if loop is not None:
        record["closed_loop"] = loop.to_dict()
    meta.parity = record  # validated on assignment (ParityRecord)
    props = meta.to_metadata_props()
    set_metadata(graph.model, props)
    onnx.save(graph.model, candidate)
    checks.append(check_runtime(candidate, actor, feed))
    level = check_conformance(candidate, "verified" if parity.n_samples >= MIN_PARITY_SAMPLES else "standard")
    checks.append(f"clankers check: conformance level {level}")
    return Evidence(parity, loop, level, checks, props)


# --- plumbing ----------------------------------------------------------------------------------------


@contextmanager
def _stage(name: str) -> Iterator[None]:
    """Typed errors pass through; anything else a foreign model provokes becomes an ExportError."""
    try:
        yield
    except ClankersError:
        raise
    except OSError as exc:
        raise ExportError(
            f"{name} failed: {type(exc).__name__}: {exc}",
            hint="check that the input files are readable and the output folder is writable",
        ) from exc
    except Exception as exc:
        raise ExportError(
            f"{name} failed: {type(exc).__name__}: {str(exc)[:500]}",
            hint="the model uses something the exporter does not handle; report it with the model's "
            "SB3 version and policy class",
        ) from exc


@contextmanager
def _environment(env_id: str | None) -> Iterator[gym.Env | None]:
    """The environment for episode states and layout names (closed by us: the stages only borrow it)."""
    environment = make_environment(env_id) if env_id is not None else None
    try:
        yield environment
    finally:
        if environment is not None:
            environment.close()


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    # Parity runs thousands of tiny forward passes; torch's intra-op threads only add synchronisation to
    # those (an LSTM step: 0.4 ms on one thread, 14 ms on two busy cores). Results do not depend on it.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
