"""Stable-Baselines3 models -> deterministic actor modules ready for ONNX export.

``predict(obs, deterministic=True)`` in SB3 is network + post-processing (clip to the Box bounds, or
unscale a squashed output). Recipes that export only the network disagree with ``predict`` whenever the
output leaves the bounds; here the post-processing is part of the exported module, so the graph and
``predict`` agree and the policy file needs no transform at run time (``action_transform = none``).

A model zip is a pickle container: only load files you trust.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from clankers.errors import ExportError, UnsupportedModelError

# Algorithms by the package that defines them; the exporter loads the zip with the matching class.
_ALGORITHM_CLASSES: dict[str, tuple[str, str]] = {
    "PPO": ("stable_baselines3", "PPO"),
    "A2C": ("stable_baselines3", "A2C"),
}


def detect_algorithm(path: str | Path) -> str:
    """Name the SB3 algorithm that saved ``path`` from the zip's own data (policy class and settings).

    PPO and A2C share ``ActorCriticPolicy``; only PPO stores ``clip_range``.
    """
    from stable_baselines3.common.save_util import load_from_zip_file

    try:
        data, _, _ = load_from_zip_file(str(path), load_data=True, device="cpu")
    except FileNotFoundError as exc:
        raise ExportError(f"model file {path} does not exist; pass the model.zip that SB3 saved") from exc
    except Exception as exc:
        raise ExportError(
            f"{path} is not a Stable-Baselines3 model zip ({type(exc).__name__}: {exc})"
        ) from exc
    if data is None or "policy_class" not in data:
        raise ExportError(f"{path} has no policy_class in its data; was it saved by SB3's model.save()?")
    policy_class = data["policy_class"]
    name = getattr(policy_class, "__name__", str(policy_class))
    if name in ("ActorCriticPolicy", "MlpPolicy") and "clip_range" in data:
        return "PPO"
    if name in ("ActorCriticPolicy", "MlpPolicy"):
        return "A2C"
    raise UnsupportedModelError(
        f"{path}: policy class {name} is not supported yet (supported algorithms: "
        f"{', '.join(_ALGORITHM_CLASSES)}); pass --algo if detection is wrong"
    )


def load_model(path: str | Path, algo: str | None = None) -> Any:
    """Load an SB3 model on the CPU, detecting its algorithm unless ``algo`` is given."""
    import importlib

    name = (algo or detect_algorithm(path)).upper()
    if name not in _ALGORITHM_CLASSES:
        raise UnsupportedModelError(
            f"algorithm {name!r} is not supported; choose one of {', '.join(_ALGORITHM_CLASSES)}"
        )
    module_name, class_name = _ALGORITHM_CLASSES[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        return cls.load(str(path), device="cpu")
    except Exception as exc:
        raise ExportError(f"{class_name}.load({path}) failed: {type(exc).__name__}: {exc}") from exc


class _BoxActorCritic(nn.Module):
    """obs -> mean action of an on-policy Gaussian actor, clipped to the Box bounds like ``predict``."""

    def __init__(self, policy: Any, low: np.ndarray, high: np.ndarray) -> None:
        super().__init__()
        self.policy = policy
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        features = self.policy.extract_features(obs, self.policy.pi_features_extractor)
        latent = self.policy.mlp_extractor.forward_actor(features)
        mean = self.policy.action_net(latent)
        # Per-element bounds: ONNX Clip only takes scalars, Min/Max broadcast.
        return torch.maximum(torch.minimum(mean, self.high), self.low)


@dataclass
class ExportableActor:
    """A deterministic actor and the facts the policy file must record about it."""

    module: nn.Module
    algorithm: str
    observation_space: gym.spaces.Space
    action_space: gym.spaces.Space


def build_actor(model: Any, algorithm: str) -> ExportableActor:
    """Wrap ``model``'s policy as ``obs -> action`` with SB3's ``predict`` post-processing included."""
    obs_space, action_space = model.observation_space, model.action_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise UnsupportedModelError(
            f"observation space {obs_space} is not supported yet; the exporter handles flat Box observations"
        )
    if not isinstance(action_space, gym.spaces.Box):
        raise UnsupportedModelError(
            f"action space {action_space} is not supported yet; the exporter handles Box actions"
        )
    policy = model.policy
    if getattr(policy, "squash_output", False):
        raise UnsupportedModelError("squash_output=True (gSDE) policies are not supported yet")
    if algorithm in ("PPO", "A2C"):
        module = _BoxActorCritic(policy, action_space.low, action_space.high)
    else:
        raise UnsupportedModelError(f"algorithm {algorithm} is not supported yet")
    return ExportableActor(
        module=module.eval(), algorithm=algorithm, observation_space=obs_space, action_space=action_space
    )
