"""``VecNormalize`` statistics -> constants baked into the graph.

A policy trained behind ``VecNormalize`` only works on normalized observations, but the statistics live in
a separate pickle that deployments routinely lose or apply differently. The exporter bakes SB3's exact
formula ``clip((obs - mean) / sqrt(var + eps), -clip_obs, clip_obs)`` into the graph, so the file takes raw
observations, and records in the metadata that it did (readers never normalize again).

The pickle is read *as data* (:mod:`clankers.export.legacy`): whatever SB3 version wrote it, under gym or
Gymnasium, only its statistics are taken (``obs_rms`` mean/var/count, ``epsilon``, ``clip_obs``,
``norm_obs``, ``norm_obs_keys`` when present). The real ``VecNormalize`` class is never unpickled: it
needs a live environment behind it (attribute lookups on a venv-less old file recurse without end) and
its attributes changed between versions. Every problem with the file is an :class:`ExportError`.

The graph computes the formula in float64, as SB3's numpy code does, so the normalized values agree bit for
bit (``sqrt(var + eps)`` is precomputed here, also in float64). The parity reference is SB3's own
``VecNormalize.normalize_obs``, run on an instance made from these statistics (:meth:`normalize`).

The statistics file is a pickle: only load files you trust. It is read here, in ``export/``, never by
``clankers.policy``.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from clankers.errors import ExportError
from clankers.export.legacy import Pickled, is_pickled, loads, modern_space, state_of

#: Classes read as data from a VecNormalize pickle (wrappers and running statistics of any SB3 version).
AS_DATA = ("stable_baselines3.common.vec_env", "stable_baselines3.common.running_mean_std")

_FIX = "pass the file VecNormalize.save() wrote next to this model (RL Zoo: vecnormalize.pkl)"


@dataclass(frozen=True)
class RunningStats:
    """One ``RunningMeanStd``: per-element mean and variance of the observations seen in training."""

    mean: np.ndarray
    var: np.ndarray
    count: float


@dataclass
class NormalizationStats:
    """The observation statistics of a ``VecNormalize`` file, as data."""

    path: str
    sha256: str
    epsilon: float
    clip_obs: float
    #: Statistics by Dict key, or under ``None`` for a plain (Box) observation.
    stats: dict[str | None, RunningStats]
    #: The observation space VecNormalize wrapped (raw bounds), when the file records it.
    space: gym.spaces.Space | None = None
    _reference: Any = field(default=None, repr=False)

    @property
    def is_dict(self) -> bool:
        return None not in self.stats

    @property
    def keys(self) -> list[str] | None:
        """Normalized Dict keys (``norm_obs_keys``), None for a Box observation."""
        return [k for k in self.stats if k is not None] if self.is_dict else None

    def check_keys(self, dict_keys: Sequence[str] | None) -> None:
        """Refuse statistics made for another kind of observation (Dict vs Box, unknown keys)."""
        if dict_keys is None and self.is_dict:
            raise ExportError(
                f"{self.path} normalizes a Dict observation (keys {self.keys}), but the model observes a Box",
                hint=_FIX,
            )
        if dict_keys is not None and not self.is_dict:
            raise ExportError(
                f"{self.path} normalizes a Box observation, but the model observes a Dict (keys "
                f"{list(dict_keys)})",
                hint=_FIX,
            )
        if dict_keys is not None:
            unknown = sorted(set(self.keys or []) - set(dict_keys))
            if unknown:
                raise ExportError(
                    f"{self.path} normalizes keys {unknown} the model does not observe (it observes "
                    f"{list(dict_keys)})",
                    hint=_FIX,
                )

    def for_key(self, key: str | None, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, float] | None:
        """``(mean, std, clip_obs)`` for one observation (``key`` None) or Dict key; None if not normalized."""
        rms = self.stats.get(key)
        if rms is None:
            return None
        if rms.mean.shape != tuple(shape):
            raise ExportError(
                f"{self.path}: statistics{'' if key is None else f' of key {key!r}'} have shape "
                f"{rms.mean.shape}, the model's observation has {tuple(shape)}",
                hint=_FIX,
            )
        return rms.mean, np.sqrt(rms.var + self.epsilon), self.clip_obs

    def normalize(self, obs: Any) -> Any:
        """SB3's own ``VecNormalize.normalize_obs`` with these statistics (the parity reference)."""
        if self._reference is None:
            self._reference = self._sb3_instance()
        return self._reference.normalize_obs(obs)

    def _sb3_instance(self) -> Any:
        """A venv-less ``VecNormalize`` holding exactly what ``normalize_obs`` reads."""
        from stable_baselines3.common.running_mean_std import RunningMeanStd
        from stable_baselines3.common.vec_env import VecNormalize

        def rms(stats: RunningStats) -> RunningMeanStd:
            out = RunningMeanStd(shape=stats.mean.shape)
            out.mean, out.var, out.count = stats.mean, stats.var, stats.count
            return out

        instance = VecNormalize.__new__(VecNormalize)
        obs_rms: Any = {k: rms(v) for k, v in self.stats.items()} if self.is_dict else rms(self.stats[None])
        instance.__dict__.update(
            norm_obs=True,
            obs_rms=obs_rms,
            norm_obs_keys=self.keys,
            epsilon=self.epsilon,
            clip_obs=self.clip_obs,
        )
        return instance

    def to_record(self) -> dict[str, Any]:
        """The ``observation_normalization`` metadata value."""
        record: dict[str, Any] = {
            "kind": "vecnormalize",
            "in_graph": True,
            "epsilon": self.epsilon,
            "clip_obs": self.clip_obs,
        }
        if self.keys is not None:
            record["keys"] = self.keys
        record["source_sha256"] = self.sha256  # which statistics file (an extra member: provenance)
        return record


def load_vecnormalize(path: str | Path) -> NormalizationStats | None:
    """Read a pickle written by ``VecNormalize.save`` (any SB3 version); None when it does not normalize
    observations. Every problem is an :class:`ExportError` naming the cause and the fix."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ExportError(f"VecNormalize file {path} does not exist", hint=_FIX) from exc
    except OSError as exc:
        raise ExportError(f"VecNormalize file {path} cannot be read ({exc})", hint=_FIX) from exc
    try:
        obj, _ = loads(raw, as_data=AS_DATA)
    except (EOFError, pickle.UnpicklingError) as exc:
        what = "truncated" if isinstance(exc, EOFError) or "truncated" in str(exc) else "not a pickle"
        raise ExportError(
            f"{path} is not a VecNormalize statistics file ({what}: {type(exc).__name__}: {exc})", hint=_FIX
        ) from exc
    except ModuleNotFoundError as exc:
        raise ExportError(
            f"{path} is not a VecNormalize statistics file: it needs the module {exc.name!r}", hint=_FIX
        ) from exc
    except Exception as exc:  # a pickle can fail in any way its classes' code does
        raise ExportError(
            f"{path} is not a VecNormalize statistics file ({type(exc).__name__}: {exc})", hint=_FIX
        ) from exc
    state = _wrapper_state(obj, path)
    if not state.get("norm_obs", True):
        return None
    stats = _read_stats(state, path)
    space = None
    if "observation_space" in state:
        try:
            space = modern_space(state["observation_space"], "observation space of the statistics")
        except ExportError:
            space = None  # only used for sampling bounds; the statistics themselves are what matter
    epsilon = _number(state.get("epsilon", 1e-8), "epsilon", path)
    clip_obs = _number(state.get("clip_obs", 10.0), "clip_obs", path)
    if epsilon <= 0 or clip_obs <= 0:
        raise ExportError(f"{path}: epsilon {epsilon} and clip_obs {clip_obs} must be positive", hint=_FIX)
    return NormalizationStats(str(path), hashlib.sha256(raw).hexdigest(), epsilon, clip_obs, stats, space)


def _wrapper_state(obj: Any, path: str | Path) -> dict[str, Any]:
    if isinstance(obj, Pickled) or hasattr(obj, "__dict__"):
        state = state_of(obj)
        if "obs_rms" in state:
            return state
    kind = getattr(obj, "pickled_class", type(obj).__name__)
    raise ExportError(f"{path} holds a {kind}, not VecNormalize statistics (no obs_rms)", hint=_FIX)


def _read_stats(state: dict[str, Any], path: str | Path) -> dict[str | None, RunningStats]:
    obs_rms = state["obs_rms"]
    if isinstance(obs_rms, Mapping):
        keys = state.get("norm_obs_keys")
        keys = list(obs_rms) if keys is None else [str(k) for k in keys]
        missing = [k for k in keys if k not in obs_rms]
        if missing:
            raise ExportError(f"{path}: norm_obs_keys {missing} have no statistics in obs_rms", hint=_FIX)
        return {str(k): _running_stats(obs_rms[k], f"obs_rms[{k!r}]", path) for k in keys}
    return {None: _running_stats(obs_rms, "obs_rms", path)}


def _running_stats(obj: Any, where: str, path: str | Path) -> RunningStats:
    if not (is_pickled(obj, "RunningMeanStd") or hasattr(obj, "mean")):
        raise ExportError(f"{path}: {where} is a {type(obj).__name__}, not running statistics", hint=_FIX)
    state = state_of(obj)
    try:
        mean = np.asarray(state["mean"], dtype=np.float64)
        var = np.asarray(state["var"], dtype=np.float64)
        count = float(state.get("count", 0.0))
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(
            f"{path}: {where} has no usable mean/var ({type(exc).__name__}: {exc})", hint=_FIX
        ) from exc
    if mean.shape != var.shape:
        raise ExportError(f"{path}: {where} mean {mean.shape} and var {var.shape} differ in shape", hint=_FIX)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var)) and np.all(var >= 0)):
        raise ExportError(
            f"{path}: {where} holds NaN, infinite or negative statistics; the training run diverged",
            hint="export the statistics of a healthy checkpoint",
        )
    return RunningStats(mean, var, count)


def _number(value: Any, name: str, path: str | Path) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ExportError(f"{path}: {name} is {value!r}, not a number", hint=_FIX) from exc
    if not np.isfinite(number):
        raise ExportError(f"{path}: {name} is {number}", hint=_FIX)
    return number
