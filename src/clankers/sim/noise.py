"""Sensor noise: composable, per-axis, driven only by explicit seeded generators.

A noise *chain* is a list of stages applied in order to a signal of ``n`` axes sampled every ``dt``
seconds. Each stage's parameters are a number (all axes) or a list with one value per axis:

| stage          | per sample ``x -> y``                                           | state                         |
|----------------|-----------------------------------------------------------------|-------------------------------|
| ``gaussian``   | ``y = x + N(0, std^2)``                                         | none                          |
| ``uniform``    | ``y = x + U(-half_width, half_width)``                          | none                          |
| ``bias``       | ``y = x + b``, ``b ~ N(mean, std^2)`` drawn at every episode start | ``b``                      |
| ``random_walk``| ``w <- w + N(0, sigma^2 dt)``, ``y = x + w`` (drift, ``w = 0`` at episode start) | ``w``        |
| ``quantization``| ``y = step * round(x / step)`` (``step = 0``: off)             | none                          |

The order matters and is the user's: a sensor that digitizes after adding noise is
``[gaussian, quantization]``. Different chains for different axes of one sensor go through
:func:`build_noise` with a mapping from axis-label patterns to chains.

No stage owns a generator. :meth:`NoiseChain.reset` and :meth:`NoiseChain.apply` take the
:class:`numpy.random.Generator` of the episode's ``noise`` subsystem (:mod:`clankers.sim.seeding`), so the
same root seed reproduces every noise sample.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, Field, TypeAdapter, ValidationError

from clankers.errors import ConfigError
from clankers.sim.model import ConfigModel

PerAxis = float | list[float]


class _Stage(ConfigModel):
    """Base of the noise stages (error messages say "invalid <Stage> noise")."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.config_label = f"{cls.__name__} noise"


def _non_negative(value: PerAxis) -> PerAxis:
    values = value if isinstance(value, list) else [value]
    if not values or not all(np.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"must be finite and >= 0 (one number or one per axis), got {value}")
    return value


#: A parameter: one number for all axes or one per axis, finite and >= 0.
Scale = Annotated[PerAxis, AfterValidator(_non_negative)]


class Gaussian(_Stage):
    """Additive white noise, ``N(0, std^2)`` per sample."""

    kind: Literal["gaussian"] = "gaussian"
    std: Scale


class Uniform(_Stage):
    """Additive noise uniform on ``[-half_width, half_width]``."""

    kind: Literal["uniform"] = "uniform"
    half_width: Scale


class Bias(_Stage):
    """A constant offset per episode, drawn from ``N(mean, std^2)`` at each reset (turn-on bias)."""

    kind: Literal["bias"] = "bias"
    std: Scale = 0.0
    mean: PerAxis = 0.0


class RandomWalk(_Stage):
    """Slow drift: a Wiener process with ``sigma`` in units per sqrt(second) (bias instability)."""

    kind: Literal["random_walk"] = "random_walk"
    sigma: Scale


class Quantization(_Stage):
    """Rounding to a grid of ``step`` (an ADC's or an encoder's resolution); 0 disables an axis."""

    kind: Literal["quantization"] = "quantization"
    step: Scale


NoiseStage = Annotated[Gaussian | Uniform | Bias | RandomWalk | Quantization, Field(discriminator="kind")]
_STAGE = TypeAdapter(NoiseStage)


# --- presets --------------------------------------------------------------------------------------------


def mems_gyro() -> list[NoiseStage]:
    """A consumer MEMS gyroscope (rad/s): turn-on bias, bias instability, white noise, 16-bit at ±2000 dps."""
    return [
        Bias(std=0.005),
        RandomWalk(sigma=0.0005),
        Gaussian(std=0.01),
        Quantization(step=np.deg2rad(4000.0) / 65536),
    ]


def mems_accelerometer() -> list[NoiseStage]:
    """A consumer MEMS accelerometer (m/s^2): turn-on bias, drift, white noise, 16-bit at ±8 g."""
    return [
        Bias(std=0.05),
        RandomWalk(sigma=0.002),
        Gaussian(std=0.02),
        Quantization(step=16 * 9.80665 / 65536),
    ]


def encoder(counts_per_revolution: int = 4096) -> list[NoiseStage]:
    """An incremental/absolute joint encoder (rad): quantization only."""
    if counts_per_revolution <= 0:
        raise ConfigError(f"counts_per_revolution must be > 0, got {counts_per_revolution}")
    return [Quantization(step=2 * np.pi / counts_per_revolution)]


NOISE_PRESETS = {"mems_gyro": mems_gyro, "mems_accelerometer": mems_accelerometer, "encoder": encoder}

NoiseSpec = str | NoiseStage | Mapping[str, Any] | Sequence[Any]


def noise_chain(spec: NoiseSpec | None) -> list[NoiseStage]:
    """Normalize a spec (preset name, stage, stage dict, or a list of those) to a list of stages."""
    if spec is None:
        return []
    if isinstance(spec, str):
        if spec not in NOISE_PRESETS:
            raise ConfigError(f"unknown noise preset {spec!r}; choose one of {sorted(NOISE_PRESETS)}")
        return list(NOISE_PRESETS[spec]())
    if isinstance(spec, (Mapping, _Stage)):
        spec = [spec]
    chain: list[NoiseStage] = []
    for item in spec:
        if isinstance(item, str):
            chain.extend(noise_chain(item))
        elif isinstance(item, _Stage):
            chain.append(item)  # type: ignore[arg-type]
        else:
            try:
                chain.append(_STAGE.validate_python(dict(item)))
            except (ValidationError, TypeError, ValueError) as exc:
                raise ConfigError(
                    f"invalid noise stage {item!r}: {exc}; kinds are gaussian, uniform, bias, random_walk, quantization"
                ) from exc
    return chain


# --- runtime --------------------------------------------------------------------------------------------


class NoiseChain:
    """A chain of stages bound to a signal of ``size`` axes sampled every ``dt`` seconds."""

    def __init__(self, spec: NoiseSpec | None, size: int, dt: float) -> None:
        self.stages = noise_chain(spec)
        self.size, self.dt = int(size), float(dt)
        self._params = [self._broadcast(stage) for stage in self.stages]
        self._state = [np.zeros(self.size) for _ in self.stages]
        # Per-sample constants, precomputed: the hot path is a handful of numpy calls per stage.
        for stage, p in zip(self.stages, self._params, strict=True):
            if stage.kind == "random_walk":
                p["increment"] = p["sigma"] * np.sqrt(self.dt)
            elif stage.kind == "quantization":
                p["on"] = p["step"] > 0
                p["all_on"] = np.array(bool(p["on"].all()))
                p["safe_step"] = np.where(p["on"], p["step"], 1.0)

    def _broadcast(self, stage: NoiseStage) -> dict[str, np.ndarray]:
        params = {}
        for name, value in stage.model_dump(exclude={"kind"}).items():
            array = np.asarray(value, dtype=np.float64)
            if array.ndim == 1 and array.shape != (self.size,):
                raise ConfigError(
                    f"{stage.kind} noise {name} has {array.size} values for a signal of {self.size} axes; "
                    "give one number or one per axis"
                )
            params[name] = np.broadcast_to(array, (self.size,)).copy()
        return params

    @property
    def empty(self) -> bool:
        return not self.stages

    def reset(self, rng: np.random.Generator) -> None:
        """Episode start: draw each bias, zero each drift."""
        for i, (stage, p) in enumerate(zip(self.stages, self._params, strict=True)):
            if stage.kind == "bias":
                self._state[i] = p["mean"] + p["std"] * rng.standard_normal(self.size)
            else:
                self._state[i] = np.zeros(self.size)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One noisy sample of ``x`` (a new array; ``x`` is not modified)."""
        y = np.array(x, dtype=np.float64)
        for i, (stage, p) in enumerate(zip(self.stages, self._params, strict=True)):
            kind = stage.kind
            if kind == "gaussian":
                y += p["std"] * rng.standard_normal(self.size)
            elif kind == "uniform":
                y += p["half_width"] * rng.uniform(-1.0, 1.0, self.size)
            elif kind == "bias":
                y += self._state[i]
            elif kind == "random_walk":
                self._state[i] += p["increment"] * rng.standard_normal(self.size)
                y += self._state[i]
            elif p["all_on"]:  # quantization on every axis
                y = p["step"] * np.round(y / p["step"])
            else:  # quantization on some axes (step 0 leaves an axis alone)
                step = p["safe_step"]
                y = np.where(p["on"], step * np.round(y / step), y)
        return y


class AxisNoise:
    """Different chains on different axes of one signal (e.g. an encoder on positions only).

    Args:
        spec: a chain for every axis, or a mapping ``{label pattern: chain}``; patterns are matched with
            :func:`fnmatch.fnmatch` against ``labels`` and later patterns override earlier ones per axis.
        labels: one label per axis.
        dt: sampling period (s).
    """

    def __init__(
        self, spec: NoiseSpec | Mapping[str, NoiseSpec] | None, labels: Sequence[str], dt: float
    ) -> None:
        self.labels = tuple(labels)
        n = len(self.labels)
        groups: list[tuple[np.ndarray, NoiseChain]] = []
        if isinstance(spec, Mapping) and "kind" not in spec:
            owner = np.full(n, -1)
            specs = list(spec.items())
            for k, (pattern, _) in enumerate(specs):
                hits = [i for i, label in enumerate(self.labels) if fnmatch.fnmatchcase(label, pattern)]
                if not hits:
                    raise ConfigError(
                        f"noise pattern {pattern!r} matches no axis; axes are {list(self.labels)}"
                    )
                owner[hits] = k
            for k, (_, chain) in enumerate(specs):
                axes = np.flatnonzero(owner == k)
                if len(axes):
                    groups.append((axes, NoiseChain(chain, len(axes), dt)))
        elif spec is not None:
            groups.append((np.arange(n), NoiseChain(spec, n, dt)))
        self.groups = [(axes, chain) for axes, chain in groups if not chain.empty]

    @property
    def empty(self) -> bool:
        return not self.groups

    def reset(self, rng: np.random.Generator) -> None:
        for _, chain in self.groups:
            chain.reset(rng)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        y = np.array(x, dtype=np.float64)
        for axes, chain in self.groups:
            y[axes] = chain.apply(y[axes], rng)
        return y


def build_noise(
    spec: NoiseSpec | Mapping[str, NoiseSpec] | None, labels: Sequence[str], dt: float
) -> AxisNoise:
    """Bind a noise spec (chain, preset, or per-axis mapping) to a signal with the given axis labels."""
    return AxisNoise(spec, labels, dt)
