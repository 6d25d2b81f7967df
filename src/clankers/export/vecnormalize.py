"""``VecNormalize`` statistics -> constants baked into the graph.

A policy trained behind ``VecNormalize`` only works on normalized observations, but the statistics live in
a separate pickle that deployments routinely lose or apply differently. The exporter bakes SB3's exact
formula ``clip((obs - mean) / sqrt(var + eps), -clip_obs, clip_obs)`` into the graph, so the file takes raw
observations, and records in the metadata that it did (readers never normalize again).

The graph computes the formula in float64, as SB3's numpy code does, so the normalized values agree bit for
bit (``sqrt(var + eps)`` is precomputed here, also in float64); parity compares
the graph with SB3's own ``VecNormalize.normalize_obs`` followed by ``predict``.

The statistics file is a pickle: only load files you trust. It is read here, in ``export/``, never by
``clankers.policy``.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clankers.errors import ExportError


@dataclass
class NormalizationStats:
    """The observation statistics of a ``VecNormalize`` pickle, and SB3's own object for reference."""

    vecnormalize: Any  # stable_baselines3 VecNormalize (without its venv)
    path: str
    sha256: str = ""

    @property
    def epsilon(self) -> float:
        return float(self.vecnormalize.epsilon)

    @property
    def clip_obs(self) -> float:
        return float(self.vecnormalize.clip_obs)

    @property
    def keys(self) -> list[str] | None:
        keys = getattr(self.vecnormalize, "norm_obs_keys", None)
        return list(keys) if keys is not None and isinstance(self.vecnormalize.obs_rms, dict) else None

    def check_keys(self, dict_keys: Sequence[str] | None) -> None:
        """Refuse statistics made for another kind of observation (Dict vs Box, unknown keys)."""
        is_dict = isinstance(self.vecnormalize.obs_rms, dict)
        if dict_keys is None and is_dict:
            raise ExportError(f"{self.path} normalizes a Dict observation, but the model observes a Box")
        if dict_keys is not None and not is_dict:
            raise ExportError(f"{self.path} normalizes a Box observation, but the model observes a Dict")
        if dict_keys is not None:
            unknown = sorted(set(self.vecnormalize.obs_rms) - set(dict_keys))
            if unknown:
                raise ExportError(f"{self.path} normalizes keys {unknown} the model does not observe")

    def for_key(self, key: str | None, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, float] | None:
        """``(mean, std, clip_obs)`` for one observation (``key`` None) or Dict key; None if not normalized."""
        rms = self.vecnormalize.obs_rms
        if key is not None:
            if key not in rms or key not in (self.keys or []):
                return None
            rms = rms[key]
        mean = np.asarray(rms.mean, dtype=np.float64)
        var = np.asarray(rms.var, dtype=np.float64)
        if mean.shape != tuple(shape):
            raise ExportError(
                f"{self.path}: statistics{'' if key is None else f' of key {key!r}'} have shape {mean.shape}, "
                f"the model's observation has {tuple(shape)}; pass the VecNormalize file saved with this model"
            )
        std = np.sqrt(var + self.epsilon)
        return mean, std, self.clip_obs

    def normalize(self, obs: Any) -> Any:
        """SB3's own normalization (the reference the graph is compared with)."""
        return self.vecnormalize.normalize_obs(obs)

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
    """Read a pickle written by ``VecNormalize.save``; None when it does not normalize observations."""
    try:
        with open(path, "rb") as handle:
            vecnormalize = pickle.load(handle)  # trusted files only, like the model zip
    except FileNotFoundError as exc:
        raise ExportError(f"VecNormalize file {path} does not exist") from exc
    except Exception as exc:
        raise ExportError(
            f"{path} is not a VecNormalize statistics file ({type(exc).__name__}: {exc}); "
            "pass the file written by VecNormalize.save()"
        ) from exc
    if not hasattr(vecnormalize, "obs_rms") or not hasattr(vecnormalize, "normalize_obs"):
        raise ExportError(f"{path} holds a {type(vecnormalize).__name__}, not VecNormalize statistics")
    if not getattr(vecnormalize, "norm_obs", True):
        return None
    import hashlib

    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return NormalizationStats(vecnormalize, str(path), digest)
