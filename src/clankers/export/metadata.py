"""The format-1.1 metadata of an exported policy, built from what the exporter knows.

Everything a runtime needs is declared, never implied: the action space (with ``action_transform = none``
because unscaling, clipping and ``argmax`` are in the graph), the observation space in the layout the
graph takes (raw pixels, raw sensor values), the Dict key -> input mapping, the observation layout names
when the environment publishes them, the normalization that was baked in, the recurrent state tensors,
and provenance (algorithm, versions, exporter and opset, export time, hash of the source model) plus the
parity evidence.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from clankers.errors import UnsupportedModelError
from clankers.export.observations import ObservationInput
from clankers.export.sb3 import ExportableActor
from clankers.policy.spaces import (
    BoxSpace,
    DictSpace,
    DiscreteSpace,
    MultiBinarySpace,
    MultiDiscreteSpace,
)
from clankers.policy.spec import PolicyMetadata

#: Distributions whose versions shape the graph, by the names the spec's ``software_versions`` uses.
_PACKAGES = (
    "stable-baselines3",
    "sb3-contrib",
    "torch",
    "onnx",
    "onnxruntime",
    "gymnasium",
    "numpy",
    "clankers",
)


def _values(bound: np.ndarray, shape: tuple[int, ...]) -> list[float]:
    flat = np.broadcast_to(bound, shape).astype(np.float64).ravel()
    # One value stands for all elements when they are equal (as the format allows): images stay small.
    return [float(flat[0])] if flat.size and np.all(flat == flat[0]) else [float(v) for v in flat]


def action_space_of(
    space: gym.spaces.Space,
) -> BoxSpace | DiscreteSpace | MultiDiscreteSpace | MultiBinarySpace:
    """The format's description of a Gymnasium action space (the graph's output, after post-processing)."""
    if isinstance(space, gym.spaces.Box):
        shape = tuple(int(d) for d in space.shape)
        low = np.broadcast_to(space.low, shape).astype(np.float64).ravel()
        high = np.broadcast_to(space.high, shape).astype(np.float64).ravel()
        return BoxSpace(shape=list(shape), dtype="float32", low=low.tolist(), high=high.tolist())
    if isinstance(space, gym.spaces.Discrete):
        return DiscreteSpace(n=int(space.n))
    if isinstance(space, gym.spaces.MultiDiscrete):
        return MultiDiscreteSpace(nvec=[int(n) for n in np.asarray(space.nvec).ravel()])
    if isinstance(space, gym.spaces.MultiBinary):
        return MultiBinarySpace(n=int(np.prod(space.n)))
    raise UnsupportedModelError(f"action space {space} has no description in the policy format")


def _input_space(spec: ObservationInput) -> BoxSpace:
    space = spec.model_space
    if spec.image_layout is not None:
        low = _values(np.asarray(space.low), space.shape)
        high = _values(np.asarray(space.high), space.shape)
        if len(low) != 1 or len(high) != 1:  # per-pixel bounds: reorder them to the graph's layout
            low = spec.from_model_layout(np.broadcast_to(space.low, space.shape)[None])[0].ravel().tolist()
            high = spec.from_model_layout(np.broadcast_to(space.high, space.shape)[None])[0].ravel().tolist()
        return BoxSpace(
            shape=list(spec.graph_shape), dtype="uint8", low=low, high=high, image_layout=spec.image_layout
        )
    if spec.raw_bounds_unknown:  # an image VecNormalize rewrote: the raw pixel range is not recorded
        inf = float("inf")
        return BoxSpace(shape=list(spec.graph_shape), dtype="float32", low=[-inf], high=[inf])
    return BoxSpace(
        shape=list(spec.graph_shape),
        dtype="float32",
        low=_values(np.asarray(space.low), space.shape),
        high=_values(np.asarray(space.high), space.shape),
    )


def observation_space_of(inputs: Sequence[ObservationInput], is_dict: bool) -> BoxSpace | DictSpace:
    """The observation space as the graph takes it (raw: before normalization, images in input layout)."""
    if is_dict:
        return DictSpace(spaces={spec.key or "": _input_space(spec) for spec in inputs})
    return _input_space(inputs[0])


def observation_layout_of(env: gym.Env | None, inputs: Sequence[ObservationInput], is_dict: bool) -> Any:
    """Names of the observation elements (``env.observation_names``) when the environment publishes them."""
    names = getattr(getattr(env, "unwrapped", None), "observation_names", None) if env is not None else None
    if names is None:
        return None
    if is_dict:
        if not isinstance(names, dict):
            return None
        layout = {k: [str(n) for n in v] for k, v in names.items()}
        sizes = {spec.key: int(np.prod(spec.graph_shape)) for spec in inputs}
        return layout if all(k in sizes and len(v) == sizes[k] for k, v in layout.items()) else None
    names = [str(n) for n in names]
    return names if len(names) == int(np.prod(inputs[0].graph_shape)) else None


def deploy_contract_of(env: gym.Env | None) -> dict[str, Any] | None:
    """The deploy contract (format 1.2; 1.3 adds the gravity feedforward) of a clankers task environment
    (``None`` for other environments).

    Read from what the environment simulates: its :class:`clankers.sim.Simulation`'s action semantics
    (joint order, default pose, scale, gains, limits, gravity feedforward), its control and physics
    periods, its robot's base, and its observation terms in order with their ``scale``
    (``env.observation_scales``; 1.0 if unscaled).
    """
    task = getattr(env, "unwrapped", None)
    sim = getattr(task, "sim", None)
    action = getattr(sim, "action", None)
    if action is None or not hasattr(action, "describe"):
        return None
    described = action.describe()
    action_shape = getattr(getattr(env, "action_space", None), "shape", None)
    if action_shape != (len(described["joint_names"]),):  # a wrapper changed what the policy outputs
        return None
    slices = getattr(task, "observation_slices", None) or {}
    scales = getattr(task, "observation_scales", None) or {}
    terms = [
        {"name": label, "size": block.stop - block.start, "scale": scales.get(label, 1.0)}
        for label, block in slices.items()
    ]
    observation_shape = getattr(getattr(env, "observation_space", None), "shape", None)
    if observation_shape != (sum(t["size"] for t in terms),):  # stacked, dict or otherwise wrapped
        terms = []
    return {
        "joint_names": described["joint_names"],
        "action_semantics": described["kind"],
        "default_joint_pos": described["default_joint_pos"],
        "action_scale": described["scale"]
        if described["kind"] != "torque"
        else [1.0] * len(described["scale"]),
        "joint_stiffness": described["kp"]
        if described["kind"] == "position"
        else [0.0] * len(described["kp"]),
        "joint_damping": described["kd"] if described["kind"] != "torque" else [0.0] * len(described["kd"]),
        "effort_limit": described["effort_limit"],
        "velocity_limit": [None if not np.isfinite(v) else float(v) for v in described["velocity_limit"]],
        "control_dt": float(task.dt),  # type: ignore[union-attr]
        "physics_dt": float(sim.model.opt.timestep),  # type: ignore[union-attr]
        "base": sim.robot.base,  # type: ignore[union-attr]
        "observation_terms": terms or None,
        "gravity_compensation": bool(described.get("gravity_compensation", False)),
    }


def software_versions() -> dict[str, str]:
    """Versions of everything that shaped the graph (a reproduction needs them)."""
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def recurrent_state_of(actor: ExportableActor) -> dict[str, Any] | None:
    """``recurrent_state``: LSTM hidden and cell state, ``[n_layers, batch, hidden]``, initial value 0.

    No episode-start input: the runtime resets a row's state to ``init`` when its episode starts, which is
    exactly SB3's ``(1 - episode_start) * state``.
    """
    spec = actor.recurrent
    if spec is None:
        return None
    return {
        "tensors": [
            {
                "input": i,
                "output": o,
                "batch_axis": spec.batch_axis,
                "init": 0.0,
                # Also in the graph; repeated so a reader sees the state's size without opening it.
                "shape": [spec.n_layers, "batch", spec.hidden_size],
                "role": role,
            }
            for i, o, role in zip(spec.inputs, spec.outputs, ("lstm_hidden", "lstm_cell"), strict=True)
        ],
        "episode_start": None,
    }


def build_metadata(
    actor: ExportableActor,
    *,
    exporter: str,
    opset: int,
    model_path: str | Path,
    env: gym.Env | None = None,
    parity: dict[str, Any] | None = None,
    export_time: str | None = None,
) -> PolicyMetadata:
    """Complete format-1.1 metadata for ``actor`` (``parity`` is added once it has been measured)."""
    action_space = action_space_of(actor.action_space)
    size = action_space.size
    is_box = isinstance(action_space, BoxSpace)
    return PolicyMetadata(
        action_space=action_space,
        action_transform="none",
        action_scale=[1.0] * size if is_box else None,
        action_offset=[0.0] * size if is_box else None,
        training_framework=actor.framework,
        recurrent=actor.recurrent is not None,
        deterministic_mode=False,
        batch_inference=True,
        observation_space=observation_space_of(actor.inputs, actor.is_dict),
        observation_inputs={spec.key or "": spec.name for spec in actor.inputs} if actor.is_dict else None,
        observation_layout=observation_layout_of(env, actor.inputs, actor.is_dict),
        observation_normalization=actor.normalization.to_record() if actor.normalization else None,
        recurrent_state=recurrent_state_of(actor),
        algorithm=actor.display_name,
        software_versions=software_versions(),
        exporter={"name": "clankers", "backend": exporter, "opset": opset},
        export_time=export_time or utc_now(),
        source_model_sha256=sha256_of(model_path),
        parity=parity,
        deploy=deploy_contract_of(env) if is_box else None,
    )
