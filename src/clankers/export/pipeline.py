"""The export pipeline: model zip -> verified policy file."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch

from clankers.errors import ParityError, PolicyError
from clankers.export.onnx_writer import DEFAULT_OPSET, set_metadata, staged_file, torch_to_onnx
from clankers.export.parity import ParityResult, compare, episode_observations, uniform_observations
from clankers.export.sb3 import ExportableActor, build_actor, detect_algorithm, load_model
from clankers.policy import BoxSpace, OnnxPolicy, PolicyMetadata

INPUT_NAME, OUTPUT_NAME = "obs", "action"


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


def policy_metadata(actor: ExportableActor) -> PolicyMetadata:
    """Format 1.0.0 metadata for a Box actor whose graph already clips to the bounds."""
    space = actor.action_space
    size = int(np.prod(space.shape))
    return PolicyMetadata(
        action_space=BoxSpace(
            shape=list(space.shape),
            dtype="float32",
            low=[float(v) for v in np.broadcast_to(space.low, space.shape).ravel()],
            high=[float(v) for v in np.broadcast_to(space.high, space.shape).ravel()],
        ),
        action_transform="none",
        action_scale=[1.0] * size,
        action_offset=[0.0] * size,
        training_framework="stable-baselines3",
        recurrent=False,
        deterministic_mode=False,
        batch_inference=True,
    )


def export_sb3(
    model_path: str | Path,
    output: str | Path,
    *,
    algo: str | None = None,
    env: str | None = None,
    n_samples: int = 1000,
    n_episode_states: int = 1000,
    seed: int = 0,
    tolerance: float = 1e-5,
    opset: int = DEFAULT_OPSET,
) -> ExportReport:
    """Export an SB3 model's deterministic actor to a verified clanker policy file.

    Args:
        model_path: the ``model.zip`` SB3 saved (a pickle container: trusted files only).
        output: where the policy file goes; written only if every check passes.
        algo: algorithm name, detected from the zip when omitted.
        env: task whose real episodes (driven by the model) provide parity observations; without it
            parity uses uniform samples only.
        n_samples, n_episode_states: parity observations of each kind.
        tolerance: the largest allowed |graph - predict| on any action component.

    Raises:
        UnsupportedModelError: algorithm, policy or space the exporter does not handle (nothing written).
        ParityError: the graph disagrees with ``predict`` (nothing written).
        ExportError: anything else that stops a correct export.
    """
    start = time.perf_counter()
    algorithm = (algo or detect_algorithm(model_path)).upper()
    model = load_model(model_path, algorithm)
    actor = build_actor(model, algorithm)
    obs_dim = int(np.prod(actor.observation_space.shape))
    act_dim = int(np.prod(actor.action_space.shape))

    example = torch.zeros((1, obs_dim), dtype=torch.float32)
    onnx_model, exporter = torch_to_onnx(actor.module, (example,), [INPUT_NAME], [OUTPUT_NAME], opset)
    props = policy_metadata(actor).to_metadata_props()
    set_metadata(onnx_model, props)

    checks: list[str] = []
    with staged_file(output) as candidate:
        onnx.save(onnx_model, candidate)
        onnx.checker.check_model(str(candidate), full_check=True)
        checks.append("onnx.checker.check_model (full_check)")
        policy = OnnxPolicy(candidate)
        _check_tensors(policy, obs_dim, act_dim)
        checks.append(
            f"tensors: {INPUT_NAME}[batch, {obs_dim}] float32 -> {OUTPUT_NAME}[batch, {act_dim}] float32"
        )
        rng = np.random.default_rng(seed)
        for batch in (1, 5):
            actions = policy.act_batch(uniform_observations(actor.observation_space, batch, rng))
            if actions.shape != (batch, act_dim) or actions.dtype != np.float32:
                raise PolicyError(f"batch {batch} inference returned {actions.shape} {actions.dtype}")
        checks.append("onnxruntime inference at batch 1 and batch 5")

        observations = uniform_observations(actor.observation_space, n_samples, rng)
        n_states = 0
        if env is not None and n_episode_states > 0:
            from clankers.envs import make_env

            states = episode_observations(
                make_env(env), lambda o: model.predict(o, deterministic=True)[0], n_episode_states, seed
            )
            n_states = len(states)
            observations = np.concatenate([observations, states])
        expected, _ = model.predict(observations, deterministic=True)
        parity = compare(np.asarray(expected), policy.act_batch(observations), n_states, tolerance)
        if not parity.passed:
            raise ParityError(
                f"the exported graph differs from SB3 predict(deterministic=True) by up to "
                f"{parity.max_abs_diff:.3g} (tolerance {tolerance:g}) on {parity.n_samples} observations; "
                "nothing was written"
            )
        checks.append(
            f"parity with SB3 predict(deterministic=True) on {parity.n_samples} observations "
            f"({n_states} from real episodes): max |diff| = {parity.max_abs_diff:.3g} < {tolerance:g}"
        )
        del policy  # release the session before the file is renamed
    return ExportReport(
        path=Path(output),
        algorithm=algorithm,
        exporter=exporter,
        opset=opset,
        obs_dim=obs_dim,
        act_dim=act_dim,
        parity=parity,
        metadata=props,
        checks=checks,
        seconds=time.perf_counter() - start,
    )


def _check_tensors(policy: OnnxPolicy, obs_dim: int, act_dim: int) -> None:
    if (policy.input_name, policy.output_name) != (INPUT_NAME, OUTPUT_NAME):
        raise PolicyError(f"tensor names are {policy.input_name}/{policy.output_name}, expected obs/action")
    if (policy.obs_dim, policy.act_dim) != (obs_dim, act_dim):
        raise PolicyError(
            f"tensor sizes are obs {policy.obs_dim} / action {policy.act_dim}, expected {obs_dim} / {act_dim}"
        )
