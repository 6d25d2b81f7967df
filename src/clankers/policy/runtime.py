"""``OnnxPolicy``: run a clanker policy file with onnxruntime alone (no torch, no SB3).

The hot path (:meth:`OnnxPolicy.act`) is built for control loops: everything that can be decided once
(tensor names, shapes, dtypes, the post-processing function, the run options) is decided in ``__init__``;
a call only validates the observation, runs the session and applies the action transform. Validation is
never skipped: a wrong-sized observation or a NaN is a bug upstream, and silently acting on it moves a
robot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from clankers.errors import (
    MetadataError,
    NotAnOnnxModelError,
    ObservationError,
    PolicyError,
    PolicyTensorError,
)
from clankers.policy.graph import (
    ACTION_NAMES,
    OBS_NAMES,
    TensorInfo,
    batch_dim,
    feature_shape,
    find_tensor,
    graph_inputs,
    graph_outputs,
    load_model,
    metadata_dict,
)
from clankers.policy.spec import BoxSpace, PolicyMetadata

#: Observation dtypes the runtime feeds (the input tensor's dtype decides).
_FLOAT_INPUTS = frozenset({"float32", "float64", "float16"})
# One cheap pass for NaN/inf: a finite sum implies finite elements, and summing float32 in float64 cannot
# overflow, so a non-finite sum (almost) always means a non-finite element.
_add_reduce = np.add.reduce


def session_options(*, deterministic: bool = False, threads: int = 1) -> ort.SessionOptions:
    """Options tuned for per-step latency: few threads and no spinning (idle threads must not eat a core)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.use_deterministic_compute = deterministic
    opts.log_severity_level = 3  # warnings about unused initializers etc. are not the user's business
    return opts


def resolve_providers(providers: Sequence[str] | str | None) -> list[str]:
    """Execution providers to use: CPU by default; ``"cuda"`` for CUDA with CPU fallback for other ops."""
    available = ort.get_available_providers()
    if providers is None or providers == "cpu":
        return ["CPUExecutionProvider"]
    if providers == "auto":
        wanted = [p for p in ("CUDAExecutionProvider",) if p in available]
        return [*wanted, "CPUExecutionProvider"]
    if providers == "cuda":
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if isinstance(providers, str):
        providers = [providers]
    missing = [p for p in providers if p not in available]
    if missing:
        raise PolicyError(
            f"execution provider(s) {missing} are not available in this onnxruntime build "
            f"(available: {available}); install onnxruntime-gpu for CUDA, or use providers=None for CPU."
        )
    return list(providers)


class OnnxPolicy:
    """A loaded clanker policy file: ``act(obs)`` for one observation, ``act_batch(obs)`` for many.

    ``act`` and ``act_batch`` are thread-safe: they share no mutable state (onnxruntime's ``run`` is
    itself thread-safe), so several control loops may use one policy.
    """

    def __init__(
        self,
        path: str | Path,
        providers: Sequence[str] | str | None = None,
        *,
        threads: int = 1,
    ) -> None:
        self.path = Path(path)
        model = load_model(self.path)
        self.raw_metadata: dict[str, str] = metadata_dict(model)
        self.metadata: PolicyMetadata = PolicyMetadata.from_metadata_props(self.raw_metadata)

        inputs, outputs = graph_inputs(model), graph_outputs(model)
        obs_info = find_tensor(inputs, OBS_NAMES, "input")
        act_info = find_tensor(outputs, ACTION_NAMES, "output")
        self._obs_info, self._act_info = obs_info, act_info
        self.input_name: str = obs_info.name
        self.output_name: str = act_info.name

        if obs_info.dtype not in _FLOAT_INPUTS:
            raise PolicyTensorError(
                f"observation input {obs_info.name!r} has dtype {obs_info.dtype}; format 1.0 needs float32."
            )
        self.obs_shape: tuple[int, ...] = feature_shape(obs_info)
        self.obs_dim: int = math.prod(self.obs_shape)
        self.act_shape: tuple[int, ...] = self._action_shape(act_info)
        self.act_dim: int = math.prod(self.act_shape)
        fixed_in, fixed_out = batch_dim(obs_info), batch_dim(act_info)
        #: True when the graph accepts any batch size in one call; False for a fixed batch of 1.
        self.dynamic_batch: bool = fixed_in is None and fixed_out is None
        self.action_space: BoxSpace = self._resolve_action_space(act_info)

        if self.metadata.recurrent:
            raise PolicyError(
                f"{str(self.path)!r} declares recurrent=true, but it carries no recurrent state description "
                "this runtime understands; re-export it with a clankers exporter that writes the state "
                "tensors into the metadata."
            )

        self._obs_dtype = np.dtype(obs_info.dtype)
        self._batch1_shape = (1, *self.obs_shape)
        self._post = self._make_transform()

        self.providers = resolve_providers(providers)
        try:
            self._session = ort.InferenceSession(
                str(self.path),
                sess_options=session_options(deterministic=self.metadata.deterministic_mode, threads=threads),
                providers=self.providers,
            )
        except Exception as err:  # onnxruntime raises its own exception types for invalid graphs
            raise NotAnOnnxModelError(
                f"onnxruntime cannot load {str(self.path)!r}: {err}; check the file with `clankers check`."
            ) from err
        self._output_names = [self.output_name]
        self._run_options = ort.RunOptions()
        # InferenceSession.run re-validates input names on every call (a Python loop); the C session
        # underneath does the same checks natively. Use it when present: it is most of our overhead budget.
        inner = getattr(self._session, "_sess", None)
        self._run: Callable[..., Any] = inner.run if inner is not None else self._session.run

    # --- setup helpers -------------------------------------------------------------------------------

    def _action_shape(self, info: TensorInfo) -> tuple[int, ...]:
        if info.dtype not in _FLOAT_INPUTS:
            raise PolicyTensorError(
                f"action output {info.name!r} has dtype {info.dtype}; a Box policy outputs float32."
            )
        try:
            return feature_shape(info)
        except PolicyTensorError:
            # Lenient reading: a graph whose output shape was not inferred still runs, if the metadata says.
            space = self.metadata.action_space
            if space is not None and len(info.shape) in (0, 2):
                return tuple(space.shape)
            raise

    def _resolve_action_space(self, info: TensorInfo) -> BoxSpace:
        space = self.metadata.action_space
        if space is None:
            inf = float("inf")
            return BoxSpace(shape=list(self.act_shape), dtype=info.dtype, low=[-inf], high=[inf])
        if space.size != self.act_dim:
            raise MetadataError(
                f"action_space has shape {space.shape} ({space.size} elements) but output {info.name!r} "
                f"has {self.act_dim} per sample; fix the metadata or the graph so they agree."
            )
        if space.dtype is None:
            space = space.model_copy(update={"dtype": info.dtype})
        return space

    def _make_transform(self) -> Callable[[np.ndarray], np.ndarray]:
        """The post-processing of the format's ``action_transform``, as one precomputed function."""
        transform = self.metadata.action_transform
        if transform == "none":
            return _identity
        if transform == "tanh":
            scale = np.asarray(self.metadata.scale_or_default(self.act_dim), dtype=np.float32)
            offset = np.asarray(self.metadata.offset_or_default(self.act_dim), dtype=np.float32)
            scale, offset = scale.reshape(self.act_shape), offset.reshape(self.act_shape)

            def affine(raw: np.ndarray) -> np.ndarray:
                return raw * scale + offset

            return affine
        low, high = self.action_space.bounds()
        low_a = np.asarray(low, dtype=np.float32).reshape(self.act_shape)
        high_a = np.asarray(high, dtype=np.float32).reshape(self.act_shape)

        def clip(raw: np.ndarray) -> np.ndarray:
            np.maximum(raw, low_a, out=raw)
            return np.minimum(raw, high_a, out=raw)

        return clip

    # --- inference -----------------------------------------------------------------------------------

    def act(self, obs: Any) -> np.ndarray:
        """The action for one observation of shape ``obs_shape`` (``[obs_dim]`` for vectors)."""
        try:
            x = np.asarray(obs, dtype=self._obs_dtype)
        except (TypeError, ValueError) as err:
            raise ObservationError(f"observation is not numeric ({err}); pass an array of numbers.") from err
        if x.shape != self.obs_shape:
            raise ObservationError(
                f"observation has shape {x.shape}, but policy {self.path.name!r} expects {self.obs_shape}; "
                "pass exactly one observation (use act_batch for several). Observations are never padded "
                "or truncated."
            )
        if not math.isfinite(_add_reduce(x, axis=None, dtype=np.float64)):
            _raise_non_finite(x)
        try:
            out = self._run(
                self._output_names, {self.input_name: x.reshape(self._batch1_shape)}, self._run_options
            )
        except Exception as err:
            raise PolicyError(f"inference failed in {self.path.name!r}: {err}") from err
        return self._post(out[0][0])

    def act_batch(self, obs: Any) -> np.ndarray:
        """Actions for ``N`` observations of shape ``[N, *obs_shape]``; returns ``[N, *act_shape]``."""
        try:
            x = np.asarray(obs, dtype=self._obs_dtype)
        except (TypeError, ValueError) as err:
            raise ObservationError(
                f"observations are not numeric ({err}); pass an [N, obs_dim] array."
            ) from err
        if x.ndim != len(self.obs_shape) + 1 or x.shape[1:] != self.obs_shape:
            raise ObservationError(
                f"observation batch has shape {x.shape}, but policy {self.path.name!r} expects "
                f"[N, {', '.join(map(str, self.obs_shape))}]; never padded or truncated."
            )
        if x.shape[0] == 0:
            return np.empty((0, *self.act_shape), dtype=np.float32)
        if not math.isfinite(_add_reduce(x, axis=None, dtype=np.float64)):
            _raise_non_finite(x)
        try:
            if self.dynamic_batch:
                raw = self._run(self._output_names, {self.input_name: x}, self._run_options)[0]
            else:  # a fixed-batch-1 graph from another tool: one call per row
                rows = [
                    self._run(self._output_names, {self.input_name: row[None]}, self._run_options)[0][0]
                    for row in x
                ]
                raw = np.stack(rows)
        except Exception as err:
            raise PolicyError(f"inference failed in {self.path.name!r}: {err}") from err
        return self._post(raw)

    def __repr__(self) -> str:
        return (
            f"OnnxPolicy({str(self.path)!r}, obs {self.input_name}{list(self.obs_shape)}, "
            f"action {self.output_name}{list(self.act_shape)}, transform {self.metadata.action_transform})"
        )


def _identity(raw: np.ndarray) -> np.ndarray:
    return raw


def _raise_non_finite(x: np.ndarray) -> None:
    bad = ~np.isfinite(x)
    if not bad.any():  # the sum overflowed although every element is finite: nothing wrong
        return
    where = [tuple(int(i) for i in idx) for idx in np.argwhere(bad)[:5]]
    raise ObservationError(
        f"observation contains NaN or inf at index(es) {where}; fix the sensor or state estimate upstream "
        "(a policy never acts on non-finite input)."
    )
