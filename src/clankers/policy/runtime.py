"""``OnnxPolicy``: run a clanker policy file with onnxruntime alone (no torch, no SB3).

The hot path (:meth:`OnnxPolicy.act` on a plain vector policy) is built for control loops: everything that
can be decided once (tensor names, shapes, dtypes, the post-processing function, the run options) is
decided in ``__init__``; a call only validates the observation, runs the session and applies the action
transform. Validation is never skipped: a wrong-sized observation or a NaN is a bug upstream, and silently
acting on it moves a robot.

Other kinds of policy (Dict observations, raw uint8 images, discrete actions, recurrent state) go through a
general path that prepares one feed per graph input.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from clankers.errors import (
    MetadataError,
    NotAnOnnxModelError,
    ObservationError,
    ObservationLayoutError,
    PolicyError,
    PolicyTensorError,
    RecurrentStateError,
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
from clankers.policy.spaces import BoxSpace, DictSpace
from clankers.policy.spec import KEYS_1_0, DeployContract, PolicyMetadata

_FLOAT = frozenset({"float32", "float64", "float16"})
_INT_OUT = frozenset({"int64", "int32"})


def _all_finite(x: np.ndarray) -> bool:
    """One cheap pass for NaN/inf: the sum of all elements, accumulated in float64.

    NaN and inf propagate into a sum, so a finite sum proves every element finite; float32 values summed in
    float64 cannot overflow (so no spurious warning either). Callers confirm a non-finite sum element-wise.
    """
    return math.isfinite(_add_reduce(x, axis=None, dtype=np.float64))


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
    """Execution providers: CPU by default; ``"cuda"`` (or ``"auto"`` when available) for CUDA + CPU."""
    available = ort.get_available_providers()
    if providers is None or providers == "cpu":
        return ["CPUExecutionProvider"]
    if providers == "auto":
        return [p for p in ("CUDAExecutionProvider",) if p in available] + ["CPUExecutionProvider"]
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


@dataclass(frozen=True)
class _Feed:
    """One observation input of the graph."""

    key: str | None  # the Dict key, or None for a single observation
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]  # per sample

    def coerce(self, value: Any, batched: bool) -> np.ndarray:
        """Convert and validate one observation (or a batch): exact shape, finite, right dtype."""
        label = "observation" if self.key is None else f"observation[{self.key!r}]"
        if self.dtype == np.uint8:
            x = _as_uint8(value, label)
        else:
            try:
                x = np.asarray(value, dtype=self.dtype)
            except (TypeError, ValueError) as err:
                raise ObservationError(f"{label} is not numeric ({err}); pass an array of numbers.") from err
        expected = ("N", *self.shape) if batched else self.shape
        if (x.shape[1:] if batched else x.shape) != self.shape or (batched and x.ndim != len(self.shape) + 1):
            raise ObservationError(
                f"{label} has shape {x.shape}, but the policy expects {_shape_text(expected)}; observations "
                "are never padded or truncated."
            )
        if x.dtype.kind == "f" and not _all_finite(x):
            _raise_non_finite(x, label)
        return x


@dataclass(frozen=True)
class _State:
    """One recurrent state tensor: fed through ``input``, returned by ``output``."""

    input: str
    output: str
    axis: int  # batch axis
    shape: tuple[int, ...]  # full shape with 1 at the batch axis
    dtype: np.dtype
    init: float

    def initial(self, n: int) -> np.ndarray:
        shape = list(self.shape)
        shape[self.axis] = n
        return np.full(shape, self.init, dtype=self.dtype)


class OnnxPolicy:
    """A loaded clanker policy file: ``act(obs)`` for one observation, ``act_batch(obs)`` for many.

    ``act`` and ``act_batch`` are thread-safe. Stateless policies share no mutable state (onnxruntime's
    ``run`` is itself thread-safe). Recurrent policies keep their state inside the object, one row per
    environment, behind a lock; to drive several independent groups of environments from one file, use
    :meth:`step` with a state you keep yourself, or one ``OnnxPolicy`` per group.

    Args:
        path: the policy file.
        providers: ``None``/``"cpu"`` (default), ``"cuda"``, ``"auto"``, or onnxruntime provider names.
        threads: onnxruntime intra-op threads (1 is best for small policies at batch 1).
        expected_layout: the caller's observation layout (a list of names, or a mapping of Dict key to
            names); loading fails with :class:`ObservationLayoutError` unless the file declares the same.
        strict: refuse files that omit any of the nine required metadata keys instead of applying the
            format's defaults (for deployments that must only run complete, exporter-written files).
    """

    def __init__(
        self,
        path: str | Path,
        providers: Sequence[str] | str | None = None,
        *,
        threads: int = 1,
        expected_layout: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        strict: bool = False,
    ) -> None:
        self.path = Path(path)
        model = load_model(self.path)
        self.raw_metadata: dict[str, str] = metadata_dict(model)
        if strict:
            missing = [k for k in KEYS_1_0 if k not in self.raw_metadata]
            if missing:
                raise MetadataError(
                    f"{self.path.name!r} lacks required metadata {missing}; strict loading refuses incomplete "
                    "files (load with strict=False to use the format's defaults, or re-export the policy)."
                )
        self.metadata: PolicyMetadata = PolicyMetadata.from_metadata_props(self.raw_metadata)
        inputs, outputs = graph_inputs(model), graph_outputs(model)
        del model

        self._feeds = self._find_observation_inputs(inputs)
        first = self._feeds[0]
        #: Name of the (first) observation input; ``input_names`` lists all of them for Dict observations.
        self.input_name: str = first.name
        self.input_names: list[str] = [f.name for f in self._feeds]
        self.is_dict: bool = first.key is not None
        self.obs_shapes: dict[str, tuple[int, ...]] = {f.key or f.name: f.shape for f in self._feeds}
        self.obs_shape: tuple[int, ...] = first.shape if not self.is_dict else (self._obs_total(),)
        self.obs_dim: int = self._obs_total()

        act_info = find_tensor(outputs, ACTION_NAMES, "output")
        self.output_name: str = act_info.name
        self.action_space = self._resolve_action(act_info)
        self.act_shape: tuple[int, ...] = self.action_space.sample_shape
        self.act_dim: int = self.action_space.size
        self.is_discrete: bool = self.action_space.is_discrete

        self._states, self._start_input = self._find_recurrent(inputs, outputs)
        self.recurrent: bool = bool(self._states)
        fed = {f.name for f in self._feeds} | {s.input for s in self._states}
        if self._start_input is not None:
            fed.add(self._start_input.name)
        unfed = [t.name for t in inputs if t.name not in fed]
        if unfed:
            raise PolicyTensorError(
                f"graph inputs {unfed} are neither observations nor declared recurrent state; the format "
                "does not say what to feed them. Remove them or declare them in recurrent_state."
            )
        state_axes = {s.input: s.axis for s in self._states}
        batched = [batch_dim(t, state_axes.get(t.name, 0)) for t in inputs if t.name in fed]
        batched.append(batch_dim(act_info))
        #: True when the graph accepts any batch size in one call; False for a fixed batch of 1.
        self.dynamic_batch: bool = all(b is None for b in batched)
        if expected_layout is not None:
            self._check_layout(expected_layout)

        self._post = self._make_transform()
        self._squeeze_discrete = self.act_shape == () and act_info.shape[1:] == (1,)
        self._batch1_shape = (1, *first.shape)
        self._fast = (
            not (self.is_dict or self.recurrent or self._squeeze_discrete) and first.dtype.kind == "f"
        )
        # Recurrent, one float input: act() keeps a batch-1 state without the general batch machinery.
        self._fast_recurrent = self.recurrent and not self.is_dict and first.dtype.kind == "f"
        self._state_inputs = [s.input for s in self._states]
        self._start_flags = {}
        if self._start_input is not None:
            start_dtype = np.dtype(self._start_input.dtype)
            start_shape = (1, *[1] * (len(self._start_input.shape) - 1))
            self._start_flags = {
                flag: np.full(start_shape, flag, dtype=start_dtype) for flag in (False, True)
            }
        self._output_names = [self.output_name] + [s.output for s in self._states]
        self._state_value: list[np.ndarray] | None = None
        self._lock = threading.Lock()

        requested = resolve_providers(providers)
        try:
            self._session = ort.InferenceSession(
                str(self.path),
                sess_options=session_options(deterministic=self.metadata.deterministic_mode, threads=threads),
                providers=requested,
            )
        except Exception as err:  # onnxruntime raises its own exception types for invalid graphs
            raise NotAnOnnxModelError(
                f"onnxruntime cannot load {str(self.path)!r}: {err}; check the file with `clankers check`."
            ) from err
        #: Providers actually in use (onnxruntime drops ones that failed to initialise).
        self.providers: list[str] = self._session.get_providers()
        self._run_options = ort.RunOptions()
        # InferenceSession.run re-validates input names on every call (a Python loop); the C session
        # underneath does the same checks natively. Use it when present: it is most of our overhead budget.
        inner = getattr(self._session, "_sess", None)
        self._run: Callable[..., Any] = inner.run if inner is not None else self._session.run

    # --- setup helpers -------------------------------------------------------------------------------

    def _find_observation_inputs(self, inputs: list[TensorInfo]) -> list[_Feed]:
        space = self.metadata.observation_space
        if isinstance(space, DictSpace):
            names = self.metadata.observation_inputs or {k: f"obs.{k}" for k in space.spaces}
            by_name = {t.name: t for t in inputs}
            feeds = []
            for key, sub in space.spaces.items():
                name = names[key]
                if name not in by_name:
                    raise PolicyTensorError(
                        f"Dict observation key {key!r} should be fed to input {name!r}, which the graph lacks "
                        f"(inputs: {sorted(by_name)}); fix observation_inputs or the input names."
                    )
                feeds.append(self._feed(by_name[name], key, sub))
            return feeds
        info = find_tensor(inputs, OBS_NAMES, "input")
        return [self._feed(info, None, space)]

    def _feed(self, info: TensorInfo, key: str | None, space: BoxSpace | None) -> _Feed:
        if info.dtype not in _FLOAT and info.dtype != "uint8":
            raise PolicyTensorError(
                f"observation input {info.name!r} has dtype {info.dtype}; the format allows float32 "
                "(and uint8 for images)."
            )
        shape = feature_shape(info)
        if space is not None and tuple(space.shape) != shape:
            raise MetadataError(
                f"observation space {'for ' + repr(key) + ' ' if key else ''}has shape {space.shape}, but "
                f"input {info.name!r} has {list(shape)} per sample; fix the metadata or the graph."
            )
        return _Feed(key, info.name, np.dtype(info.dtype), shape)

    def _obs_total(self) -> int:
        return sum(math.prod(f.shape) for f in self._feeds)

    def _resolve_action(self, info: TensorInfo) -> Any:
        space = self.metadata.action_space
        if space is not None and space.is_discrete:
            if info.dtype not in _INT_OUT:
                raise PolicyTensorError(
                    f"action output {info.name!r} has dtype {info.dtype}, but a {space.type} action space "
                    "needs int64 action indices (argmax inside the graph, not logits)."
                )
            shape = feature_shape(info, min_rank=1)
            if shape != space.sample_shape and not (space.sample_shape == () and shape == (1,)):
                raise MetadataError(
                    f"action_space {space.type} needs output shape [batch"
                    f"{''.join(', ' + str(d) for d in space.sample_shape)}], but {info.name!r} is "
                    f"{info.shape_text()}; fix the metadata or the graph."
                )
            return space
        if info.dtype not in _FLOAT:
            raise PolicyTensorError(
                f"action output {info.name!r} has dtype {info.dtype}; a Box policy outputs float32 "
                "(declare a Discrete/MultiDiscrete/MultiBinary action_space for integer actions)."
            )
        try:
            shape = feature_shape(info)
        except PolicyTensorError:
            # Lenient reading: a graph whose output shape was not inferred still runs, if the metadata says.
            if space is None or len(info.shape) not in (0, 2):
                raise
            shape = tuple(space.shape)
        if space is None:
            inf = float("inf")
            return BoxSpace(shape=list(shape), dtype=info.dtype, low=[-inf], high=[inf])
        if tuple(space.shape) != shape:
            raise MetadataError(
                f"action_space has shape {space.shape} ({space.size} elements) but output {info.name!r} "
                f"has {math.prod(shape)} per sample ({list(shape)}); fix the metadata or the graph."
            )
        if space.dtype is None:
            space = space.model_copy(update={"dtype": info.dtype})
        return space

    def _find_recurrent(
        self, inputs: list[TensorInfo], outputs: list[TensorInfo]
    ) -> tuple[list[_State], TensorInfo | None]:
        meta = self.metadata
        if not meta.recurrent:
            return [], None
        if meta.recurrent_state is None:
            raise MetadataError(
                f"{str(self.path)!r} declares recurrent=true without recurrent_state, so this runtime cannot "
                "know which tensors carry the state; re-export it with format 1.1 metadata."
            )
        ins, outs = {t.name: t for t in inputs}, {t.name: t for t in outputs}
        states = []
        for spec in meta.recurrent_state.tensors:
            if spec.input not in ins or spec.output not in outs:
                raise PolicyTensorError(
                    f"recurrent state {spec.input!r} -> {spec.output!r} is not in the graph "
                    f"(inputs {sorted(ins)}, outputs {sorted(outs)}); fix recurrent_state."
                )
            info = ins[spec.input]
            if info.dtype not in _FLOAT:
                raise PolicyTensorError(f"recurrent state {info.name!r} has dtype {info.dtype}; use float32.")
            if spec.batch_axis >= len(info.shape):
                raise MetadataError(
                    f"recurrent state {info.name!r} has rank {len(info.shape)}; batch_axis {spec.batch_axis} "
                    "is out of range."
                )
            dims = [d for i, d in enumerate(info.shape) if i != spec.batch_axis]
            if not all(isinstance(d, int) and d > 0 for d in dims):
                raise PolicyTensorError(
                    f"recurrent state {info.name!r} has unknown dimensions {info.shape_text()}; only the "
                    "batch axis may be dynamic."
                )
            shape = tuple(1 if i == spec.batch_axis else int(d) for i, d in enumerate(info.shape))  # type: ignore[arg-type]
            states.append(
                _State(spec.input, spec.output, spec.batch_axis, shape, np.dtype(info.dtype), spec.init)
            )
        start = None
        if meta.recurrent_state.episode_start is not None:
            name = meta.recurrent_state.episode_start
            if name not in ins:
                raise PolicyTensorError(
                    f"episode_start input {name!r} is not in the graph (inputs {sorted(ins)})."
                )
            start = ins[name]
        return states, start

    def _check_layout(self, expected: Sequence[str] | Mapping[str, Sequence[str]]) -> None:
        declared = self.metadata.observation_layout
        if declared is None:
            raise ObservationLayoutError(
                f"{self.path.name!r} declares no observation_layout, so the expected layout cannot be "
                "verified; re-export it with the layout, or load it without expected_layout."
            )
        want: Any = (
            {k: list(v) for k, v in expected.items()} if isinstance(expected, Mapping) else list(expected)
        )
        if want != declared:
            raise ObservationLayoutError(
                f"observation layout mismatch: the policy was trained on {declared}, but this environment "
                f"provides {want}; reorder the observation (a joint-order mistake?) or use the matching policy."
            )

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

    def act(self, obs: Any, episode_start: bool = False) -> np.ndarray:
        """The action for one observation (an array, or a mapping of key to array for Dict observations).

        For recurrent policies the state carries over from the previous call; ``episode_start=True``
        resets it first. Discrete actions come back as a 0-d int64 array.
        """
        if self._fast:
            feed = self._feeds[0]
            try:
                x = np.asarray(obs, dtype=feed.dtype)
            except (TypeError, ValueError) as err:
                raise ObservationError(
                    f"observation is not numeric ({err}); pass an array of numbers."
                ) from err
            if x.shape != feed.shape:
                raise ObservationError(
                    f"observation has shape {x.shape}, but policy {self.path.name!r} expects {feed.shape}; "
                    "pass exactly one observation (use act_batch for several). Observations are never "
                    "padded or truncated."
                )
            if not _all_finite(x):
                _raise_non_finite(x, "observation")
            try:
                out = self._run(
                    self._output_names, {feed.name: x.reshape(self._batch1_shape)}, self._run_options
                )
            except Exception as err:
                raise PolicyError(f"inference failed in {self.path.name!r}: {err}") from err
            return self._post(out[0][0])
        if self._fast_recurrent:
            return self._act_recurrent_one(obs, bool(episode_start))
        feeds = self._prepare(obs, batched=False)
        return self._act_prepared(feeds, 1, np.asarray([episode_start], dtype=bool))[0]

    def _act_recurrent_one(self, obs: Any, episode_start: bool) -> np.ndarray:
        """``act`` for a recurrent policy with one vector input: the per-step path of a control loop."""
        feed = self._feeds[0]
        x = feed.coerce(obs, batched=False)
        with self._lock:
            state = self._state_value
            if state is None or episode_start or state[0].shape[self._states[0].axis] != 1:
                if state is not None and not episode_start and state[0].shape[self._states[0].axis] != 1:
                    raise RecurrentStateError(
                        "act() continues one environment, but the kept state holds several (from act_batch); "
                        "pass episode_start=True, or call reset()."
                    )
                state = self.initial_state(1)
            inputs = {feed.name: x.reshape(self._batch1_shape)}
            for name, value in zip(self._state_inputs, state, strict=True):
                inputs[name] = value
            if self._start_flags:
                inputs[self._start_input.name] = self._start_flags[episode_start]  # type: ignore[union-attr]
            try:
                outs = self._run(self._output_names, inputs, self._run_options)
            except Exception as err:
                raise PolicyError(f"inference failed in {self.path.name!r}: {err}") from err
            self._state_value = outs[1:]
        return self._post(outs[0][0])

    def act_batch(self, obs: Any, episode_start: Any = None) -> np.ndarray:
        """Actions for ``N`` observations (``[N, *obs_shape]``, or a mapping of key to such arrays).

        For recurrent policies row ``i`` is environment ``i``: its state is kept between calls, and
        ``episode_start[i]`` (bools, one per row) resets it. The first call, or a call with a different
        ``N``, starts every row from the initial state and needs all rows flagged as starting (or none
        given).
        """
        if self._fast and self.dynamic_batch:  # one float input, no state: skip the general machinery
            feed = self._feeds[0]
            x = feed.coerce(obs, batched=True)
            if x.shape[0] == 0:
                return np.empty((0, *self.act_shape), dtype=np.int64 if self.is_discrete else np.float32)
            try:
                raw = self._run(self._output_names, {feed.name: x}, self._run_options)[0]
            except Exception as err:
                raise PolicyError(f"inference failed in {self.path.name!r}: {err}") from err
            return self._post(raw)
        feeds = self._prepare(obs, batched=True)
        n = next(iter(feeds.values())).shape[0]
        if n == 0:
            dtype = np.int64 if self.is_discrete else np.float32
            return np.empty((0, *self.act_shape), dtype=dtype)
        starts = None if episode_start is None else np.asarray(episode_start, dtype=bool).reshape(-1)
        if starts is not None and starts.shape != (n,):
            raise ObservationError(
                f"episode_start has {starts.size} values for {n} observations; give one per row."
            )
        return self._act_prepared(feeds, n, starts)

    def step(
        self, obs: Any, state: list[np.ndarray] | None, episode_start: Any = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Stateless recurrent inference: actions and the next state for a batch, given the state you keep.

        ``state=None`` means the initial state. Thread-safe: nothing is stored in the policy.
        """
        feeds = self._prepare(obs, batched=True)
        n = next(iter(feeds.values())).shape[0]
        starts = np.zeros(n, dtype=bool) if episode_start is None else np.asarray(episode_start, dtype=bool)
        state = self.initial_state(n) if state is None else self._reset_rows(state, starts, n)
        raw, new_state = self._infer(feeds, n, state, starts)
        return self._post(raw), new_state

    def initial_state(self, n: int = 1) -> list[np.ndarray]:
        """The initial recurrent state for ``n`` environments (empty for stateless policies)."""
        return [s.initial(n) for s in self._states]

    def reset(self) -> None:
        """Forget the recurrent state kept by :meth:`act`/:meth:`act_batch` (all environments restart)."""
        with self._lock:
            self._state_value = None

    # --- internals -----------------------------------------------------------------------------------

    def _prepare(self, obs: Any, batched: bool) -> dict[str, np.ndarray]:
        if not self.is_dict:
            x = self._feeds[0].coerce(obs, batched)
            return {self._feeds[0].name: x if batched else x[None]}
        if not isinstance(obs, Mapping):
            raise ObservationError(
                f"policy {self.path.name!r} takes a Dict observation with keys {sorted(self.obs_shapes)}; "
                f"got {type(obs).__name__}."
            )
        keys = {f.key for f in self._feeds}
        if set(obs) != keys:
            raise ObservationError(
                f"observation keys {sorted(obs)} differ from the policy's {sorted(keys)} "
                f"(missing {sorted(keys - set(obs))}, unexpected {sorted(set(obs) - keys)})."
            )
        feeds = {f.name: f.coerce(obs[f.key], batched) for f in self._feeds}
        if batched and len({a.shape[0] for a in feeds.values()}) != 1:
            raise ObservationError("every key of a Dict observation batch must have the same number of rows.")
        if not batched:
            feeds = {k: v[None] for k, v in feeds.items()}
        return feeds

    def _act_prepared(self, feeds: dict[str, np.ndarray], n: int, starts: np.ndarray | None) -> np.ndarray:
        if not self.recurrent:
            raw, _ = self._infer(feeds, n, [], starts)
            return self._post(raw)
        with self._lock:
            state = self._state_value
            if state is None or state[0].shape[self._states[0].axis] != n:
                if state is not None and (starts is None or not starts.all()):
                    raise RecurrentStateError(
                        f"the batch changed from {state[0].shape[self._states[0].axis]} to {n} environments "
                        "without every row starting an episode; pass episode_start all true, or call reset()."
                    )
                state = self.initial_state(n)
            elif starts is not None and starts.any():
                state = self._reset_rows(state, starts, n)
            if starts is None:
                starts = np.zeros(n, dtype=bool)
            raw, self._state_value = self._infer(feeds, n, state, starts)
        return self._post(raw)

    def _reset_rows(self, state: list[np.ndarray], starts: np.ndarray, n: int) -> list[np.ndarray]:
        if len(state) != len(self._states):
            raise RecurrentStateError(f"state has {len(state)} tensors; this policy has {len(self._states)}.")
        out = []
        for spec, value in zip(self._states, state, strict=True):
            value = np.asarray(value, dtype=spec.dtype)
            expected = list(spec.shape)
            expected[spec.axis] = n
            if list(value.shape) != expected:
                raise RecurrentStateError(
                    f"state {spec.input!r} has shape {value.shape}, expected {expected}."
                )
            if starts.any():
                value = value.copy()
                index: list[Any] = [slice(None)] * value.ndim
                index[spec.axis] = starts
                value[tuple(index)] = spec.init
            out.append(value)
        return out

    def _infer(
        self, feeds: dict[str, np.ndarray], n: int, state: list[np.ndarray], starts: np.ndarray | None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Run the graph on ``n`` rows (one call, or one per row for fixed-batch-1 graphs)."""
        full = dict(feeds)
        for spec, value in zip(self._states, state, strict=True):
            full[spec.input] = value
        if self._start_input is not None:
            flags = np.zeros(n, dtype=bool) if starts is None else starts
            full[self._start_input.name] = flags.astype(np.dtype(self._start_input.dtype)).reshape(
                (n, *[1] * (len(self._start_input.shape) - 1))
            )
        try:
            if self.dynamic_batch or n == 1:
                outs = self._run(self._output_names, full, self._run_options)
                raw, new_state = outs[0], list(outs[1:])
            else:
                raw, new_state = self._infer_rows(full, n)
        except Exception as err:
            raise PolicyError(f"inference failed in {self.path.name!r}: {err}") from err
        if self._squeeze_discrete:
            raw = raw.reshape(n)
        return raw, new_state

    def _infer_rows(self, full: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, list[np.ndarray]]:
        axes = {s.input: s.axis for s in self._states}
        rows, states = [], []
        for i in range(n):
            one = {name: np.take(v, [i], axis=axes.get(name, 0)) for name, v in full.items()}
            outs = self._run(self._output_names, one, self._run_options)
            rows.append(outs[0])
            states.append(outs[1:])
        new_state = [
            np.concatenate([s[j] for s in states], axis=spec.axis) for j, spec in enumerate(self._states)
        ]
        return np.concatenate(rows, axis=0), new_state

    @property
    def deploy(self) -> DeployContract | None:
        """The robot-side contract (format 1.2, ``deploy``): joint order, action semantics, default pose,
        action scale, PD gains, control period, observation terms; ``None`` when the file has none."""
        return self.metadata.deploy

    def joint_targets(self, action: Any) -> np.ndarray:
        """What ``action`` (from :meth:`act`, ``[n_joints]`` or ``[N, n_joints]``) asks of the joints, per
        the deploy contract: target positions (``default_joint_pos + action_scale * a``), target
        velocities, or torques, in ``deploy.joint_names`` order.

        >>> # q_target = policy.joint_targets(policy.act(obs)); then kp/kd from policy.deploy
        """
        if self.metadata.deploy is None:
            raise MetadataError(
                f"{self.path} has no deploy contract (format 1.2 key 'deploy')",
                hint="re-export it from its task: clankers export --env TASK ...",
            )
        return self.metadata.deploy.joint_targets(action)

    def __repr__(self) -> str:
        obs = {k: list(v) for k, v in self.obs_shapes.items()}
        return (
            f"OnnxPolicy({str(self.path)!r}, obs {obs}, action {self.output_name}{list(self.act_shape)} "
            f"{self.action_space.type}, transform {self.metadata.action_transform}"
            f"{', recurrent' if self.recurrent else ''})"
        )


def _identity(raw: np.ndarray) -> np.ndarray:
    return raw


def _shape_text(shape: tuple[Any, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _as_uint8(value: Any, label: str) -> np.ndarray:
    """Images are fed raw: uint8, or integers within 0..255. Floats are refused (scaling is the graph's job)."""
    x = np.asarray(value)
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind in "iu" and (x.size == 0 or (int(x.min()) >= 0 and int(x.max()) <= 255)):
        return x.astype(np.uint8)
    raise ObservationError(
        f"{label} has dtype {x.dtype}; this policy takes raw uint8 pixels (0..255), as the camera gives "
        "them. Do not scale or normalize the image: the graph does."
    )


def _raise_non_finite(x: np.ndarray, label: str) -> None:
    bad = ~np.isfinite(x)
    if not bad.any():  # the sum overflowed although every element is finite: nothing wrong
        return
    where = [tuple(int(i) for i in idx) for idx in np.argwhere(bad)[:5]]
    raise ObservationError(
        f"{label} contains NaN or inf at index(es) {where}; fix the sensor or state estimate upstream "
        "(a policy never acts on non-finite input)."
    )
