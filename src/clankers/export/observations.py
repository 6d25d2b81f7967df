"""Observation inputs of an exported graph: what a runtime feeds, and how the graph turns it into what SB3 saw.

A deployed policy should be fed what the robot produces: the raw camera frame (uint8, usually HWC) and
raw sensor values. SB3 saw something else: images transposed to CHW by ``VecTransposeImage`` and
observations normalized by ``VecNormalize``, both outside the policy. :class:`ObservationAdapter` puts
those steps in the graph, in SB3's order (normalize, then transpose), so the file is self-contained; the
``/255`` of images stays where SB3 has it, in the policy's own ``preprocess_obs``.

Dict observations become one graph input per key (``obs.<key>``, in the Dict's key order), because
flattening would force every runtime to re-implement SB3's key sorting and per-key preprocessing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from clankers.errors import ExportError, UnsupportedModelError
from clankers.export.vecnormalize import NormalizationStats

# Parity observations come from where the model lived (see ``docs/export.md``, "Parity observations"):
#: Normalized dimensions: the running statistics' mean ± this many standard deviations...
STATS_SPAN = 3.0
#: ...and in this fraction of the samples one dimension is pushed past the ``clip_obs`` clip (so a graph
#: without the clip fails), to between clip_obs and OUTLIER_SPAN * clip_obs standard deviations.
OUTLIER_FRACTION = 0.25
OUTLIER_SPAN = 1.5
#: Dimensions with neither statistics nor finite, sane bounds are sampled within ±this.
UNBOUNDED_WINDOW = 5.0
#: A bound beyond this magnitude is not a sampling range (float32-max "unbounded" markers and the like).
SANE_BOUND = 1e3


@dataclass
class ObservationInput:
    """One graph input: a flat Box, an image, or one key of a Dict observation."""

    name: str
    key: str | None  # Dict key, None for a plain observation
    model_space: gym.spaces.Box  # the space SB3's policy was built for (images: channels first)
    graph_shape: tuple[int, ...]  # per-sample shape of the graph input
    dtype: str  # numpy name of the graph input's element type
    image_layout: str | None  # "HWC" / "CHW" for images, else None
    transpose: bool  # HWC -> CHW inside the graph
    normalization: tuple[np.ndarray, np.ndarray, float] | None = None  # (mean, std, clip_obs)
    # VecNormalize rewrites a normalized image space to Box(-clip_obs, clip_obs, float32): the model's
    # space then describes normalized values, and the raw bounds are unknown.
    raw_bounds_unknown: bool = False

    def to_model_layout(self, x: np.ndarray) -> np.ndarray:
        """A batch in graph layout, as SB3's policy receives it (before normalization)."""
        return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))) if self.transpose else x

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` random inputs in graph layout from the model's operating region (see the constants)."""
        if self.image_layout is not None:
            low = np.broadcast_to(self.model_space.low, self.model_space.shape)
            high = np.broadcast_to(self.model_space.high, self.model_space.shape)
            x = rng.integers(low, high.astype(np.int64) + 1, size=(n, *self.model_space.shape))
            return self.from_model_layout(x.astype(self.dtype))
        shape = self.model_space.shape
        if self.normalization is None:
            low, high = finite_bounds(self.model_space)
            return rng.uniform(low, high, size=(n, *shape)).astype(np.float32)
        mean, std, clip = self.normalization
        z = rng.uniform(-STATS_SPAN, STATS_SPAN, size=(n, *shape))
        flat = z.reshape(n, -1)
        rows = np.flatnonzero(rng.random(n) < OUTLIER_FRACTION)
        if flat.shape[1] and len(rows):
            columns = rng.integers(0, flat.shape[1], size=len(rows))
            signs = rng.choice([-1.0, 1.0], size=len(rows))
            flat[rows, columns] = signs * rng.uniform(clip, OUTLIER_SPAN * clip + 1.0, size=len(rows))
        x = mean + z * std
        if not self.raw_bounds_unknown:  # stay within the raw bounds where they are finite and sane
            low = np.broadcast_to(self.model_space.low, shape).astype(np.float64)
            high = np.broadcast_to(self.model_space.high, shape).astype(np.float64)
            x = np.clip(
                x,
                np.where(np.abs(low) < SANE_BOUND, low, -np.inf),
                np.where(np.abs(high) < SANE_BOUND, high, np.inf),
            )
        return x.astype(np.float32)

    def from_model_layout(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1))) if self.transpose else x


def finite_bounds(space: gym.spaces.Box) -> tuple[np.ndarray, np.ndarray]:
    """Sampling bounds of a Box: its own where finite and sane, else a window of width 2 * UNBOUNDED_WINDOW
    (anchored at the one sane bound when there is one)."""
    low = np.broadcast_to(space.low, space.shape).astype(np.float64)
    high = np.broadcast_to(space.high, space.shape).astype(np.float64)
    w = UNBOUNDED_WINDOW
    lo_ok, hi_ok = np.abs(low) < SANE_BOUND, np.abs(high) < SANE_BOUND
    new_low = np.where(lo_ok, low, np.where(hi_ok, np.minimum(high, w) - 2 * w, -w))
    new_high = np.where(hi_ok, high, np.where(lo_ok, np.maximum(low, -w) + 2 * w, w))
    return new_low, new_high


def _is_image(space: gym.spaces.Space) -> bool:
    from stable_baselines3.common.preprocessing import is_image_space

    return is_image_space(space)


def _channels_first(space: gym.spaces.Box) -> bool:
    from stable_baselines3.common.preprocessing import is_image_space_channels_first

    return is_image_space_channels_first(space)


def _make_input(
    name: str,
    key: str | None,
    space: gym.spaces.Space,
    image_layout: str | None,
    stats: NormalizationStats | None,
) -> ObservationInput:
    where = f"observation key {key!r}" if key is not None else "observation"
    if not isinstance(space, gym.spaces.Box):
        raise UnsupportedModelError(
            f"{where} space {space} is not supported: the exporter handles Box vectors, uint8 images "
            "and Dicts of those (Discrete/MultiDiscrete observations would need one-hot inputs)"
        )
    normalization = stats.for_key(key, space.shape) if stats is not None else None
    if _is_image(space):
        if normalization is not None:
            raise UnsupportedModelError(
                f"{where} is a uint8 image normalized by VecNormalize; normalize only non-image keys "
                "(VecNormalize(norm_obs_keys=[...]))"
            )
        if _channels_first(space):
            layout = (image_layout or "HWC").upper()
            if layout not in ("HWC", "CHW"):
                raise UnsupportedModelError(f"image layout {image_layout!r} is not HWC or CHW")
            c, h, w = space.shape
            shape = (h, w, c) if layout == "HWC" else (c, h, w)
            return ObservationInput(name, key, space, shape, "uint8", layout, layout == "HWC")
        # A channels-last space SB3 did not transpose (an MLP on raw pixels): fed exactly as trained.
        return ObservationInput(name, key, space, tuple(space.shape), "uint8", "HWC", False)
    rewritten = normalization is not None and _is_vecnormalize_image_space(space, normalization[2])
    return ObservationInput(
        name, key, space, tuple(space.shape), "float32", None, False, normalization, rewritten
    )


def _is_vecnormalize_image_space(space: gym.spaces.Box, clip_obs: float) -> bool:
    """Whether ``space`` is what VecNormalize made of a normalized image (bounds exactly ±clip_obs)."""
    return (
        len(space.shape) == 3
        and bool(np.all(space.low == -clip_obs))
        and bool(np.all(space.high == clip_obs))
    )


def observation_inputs(
    space: gym.spaces.Space, image_layout: str | None = None, stats: NormalizationStats | None = None
) -> list[ObservationInput]:
    """The graph inputs for a model's observation space (one per Dict key, in the Dict's order)."""
    if isinstance(space, gym.spaces.Dict):
        if stats is not None:
            stats.check_keys(list(space.spaces))
        return [_make_input(f"obs.{key}", key, sub, image_layout, stats) for key, sub in space.spaces.items()]
    if stats is not None:
        stats.check_keys(None)
    return [_make_input("obs", None, space, image_layout, stats)]


class ObservationAdapter(nn.Module):
    """Graph inputs (positional, in :func:`observation_inputs` order) -> SB3's observation tensor or dict."""

    def __init__(self, inputs: Sequence[ObservationInput], is_dict: bool) -> None:
        super().__init__()
        self.inputs = list(inputs)
        self.is_dict = is_dict
        for i, spec in enumerate(self.inputs):
            if spec.normalization is not None:
                mean, std, _ = spec.normalization
                # float64, like SB3's numpy arithmetic: the normalized values then match bit for bit.
                self.register_buffer(f"mean_{i}", torch.as_tensor(mean, dtype=torch.float64))
                self.register_buffer(f"std_{i}", torch.as_tensor(std, dtype=torch.float64))

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for i, (spec, x) in enumerate(zip(self.inputs, tensors, strict=True)):
            if spec.normalization is not None:
                clip = spec.normalization[2]
                z = (x.double() - getattr(self, f"mean_{i}")) / getattr(self, f"std_{i}")
                x = torch.clamp(z, -clip, clip).float()
            if spec.transpose:
                x = x.permute(0, 3, 1, 2)
            out[spec.key or ""] = x
        return out if self.is_dict else out[""]


def to_model_observation(
    inputs: Sequence[ObservationInput], graph_batch: Mapping[str, np.ndarray], is_dict: bool
) -> Any:
    """A batch in graph layout (by input name) -> what ``model.predict`` takes (raw: not normalized)."""
    converted = {spec.key or "": spec.to_model_layout(graph_batch[spec.name]) for spec in inputs}
    return converted if is_dict else converted[""]


def sample_inputs(
    inputs: Sequence[ObservationInput], n: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """``n`` random observations in graph layout, by input name."""
    return {spec.name: spec.sample(n, rng) for spec in inputs}


def env_observation_to_graph(
    inputs: Sequence[ObservationInput], obs: Any, env_space: gym.spaces.Space
) -> dict[str, np.ndarray]:
    """One environment observation -> a batch-1 graph feed, transposing images the env gives as CHW."""
    feed: dict[str, np.ndarray] = {}
    for spec in inputs:
        value = np.asarray(obs[spec.key] if spec.key is not None else obs)
        sub = env_space[spec.key] if spec.key is not None else env_space
        if value.shape != spec.graph_shape and spec.image_layout is not None:
            # The env produces the other layout than the graph takes: convert (CHW <-> HWC).
            axes = (1, 2, 0) if spec.image_layout == "HWC" else (2, 0, 1)
            value = np.transpose(value, axes)
        if value.shape != spec.graph_shape:
            raise ExportError(
                f"the environment's observation{'' if spec.key is None else f' {spec.key!r}'} has shape "
                f"{value.shape} ({sub}); the model takes {spec.graph_shape}: pass the environment the model "
                "was trained on"
            )
        feed[spec.name] = np.ascontiguousarray(value[None]).astype(spec.dtype, copy=False)
    return feed
