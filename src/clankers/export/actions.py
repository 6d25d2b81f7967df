"""What ``predict(deterministic=True)`` does after the network, as graph operations.

SB3 turns the network's output into an action in three places: the distribution's *mode* (Gaussian mean,
``tanh`` of it for squashed distributions, ``argmax`` for categorical, ``round(sigmoid)`` for Bernoulli),
and ``BasePolicy.predict``'s post-processing for Box spaces (unscale ``[-1, 1]`` to ``[low, high]`` when the
policy squashes, else clip). Exporters that stop at the network leave all of that to every runtime; here it
is inside the graph, so the file's output *is* the action (``action_transform = none``) and discrete
policies return int64 indices, never logits.

Each function mirrors the SB3 code path it names; the parity check proves the mirror exact.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from clankers.errors import UnsupportedModelError


class BoxPostprocess(nn.Module):
    """``BasePolicy.predict`` for Box actions: unscale a squashed ``[-1, 1]`` output, or clip to the bounds."""

    def __init__(self, space: gym.spaces.Box, squash: bool) -> None:
        super().__init__()
        low = np.broadcast_to(space.low, space.shape).astype(np.float32)
        high = np.broadcast_to(space.high, space.shape).astype(np.float32)
        if squash and not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise UnsupportedModelError(
                f"action space {space} has infinite bounds, but the policy squashes its output to [-1, 1] "
                "and SB3 unscales that to [low, high] (NaN for infinite bounds)"
            )
        self.squash = squash
        self.shape = tuple(int(d) for d in space.shape)
        self.register_buffer("low", torch.as_tensor(low))
        self.register_buffer("high", torch.as_tensor(high))

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        raw = raw.reshape(-1, *self.shape)  # predict reshapes to (-1, *action_space.shape)
        if self.squash:
            # unscale_action, with the same operation order as SB3's numpy code.
            return self.low + (0.5 * (raw + 1.0) * (self.high - self.low))
        # np.clip(actions, low, high); per-element bounds: ONNX Clip takes scalars, Min/Max broadcast.
        return torch.maximum(torch.minimum(raw, self.high), self.low)


class CategoricalMode(nn.Module):
    """Discrete: the most probable action of ``Categorical(logits)`` is the argmax of the logits."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.argmax(logits, dim=1)


class MultiCategoricalMode(nn.Module):
    """MultiDiscrete: one argmax per branch of the concatenated logits (``MultiCategoricalDistribution``)."""

    def __init__(self, nvec: list[int]) -> None:
        super().__init__()
        self.nvec = list(nvec)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        branches = torch.split(logits, self.nvec, dim=1)
        return torch.stack([torch.argmax(branch, dim=1) for branch in branches], dim=1)


class BernoulliMode(nn.Module):
    """MultiBinary: ``round(sigmoid(logits))`` as ``BernoulliDistribution.mode`` (0.5 rounds to 0)."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.round(torch.sigmoid(logits)).to(torch.int64)


def distribution_head(policy: Any, action_space: gym.spaces.Space) -> nn.Module:
    """Network output -> action for an ActorCriticPolicy-style policy (PPO, A2C, TRPO, RecurrentPPO)."""
    if isinstance(action_space, gym.spaces.Box):
        # gSDE with squash_output=True has a tanh bijector; its mode is tanh(mean), then predict unscales.
        bijector = getattr(policy.action_dist, "bijector", None)
        squash = bool(policy.squash_output)
        steps: list[nn.Module] = [nn.Tanh()] if bijector is not None else []
        return nn.Sequential(*steps, BoxPostprocess(action_space, squash))
    if isinstance(action_space, gym.spaces.Discrete):
        return CategoricalMode()
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        if np.asarray(action_space.nvec).ndim != 1:
            raise UnsupportedModelError(f"multi-dimensional MultiDiscrete {action_space} is not supported")
        return MultiCategoricalMode([int(n) for n in action_space.nvec])
    if isinstance(action_space, gym.spaces.MultiBinary):
        if np.ndim(action_space.n) != 0:
            raise UnsupportedModelError(f"multi-dimensional MultiBinary {action_space} is not supported")
        return BernoulliMode()
    raise UnsupportedModelError(f"action space {action_space} is not supported")


def check_discrete_start(action_space: gym.spaces.Space) -> None:
    """SB3's distributions ignore ``start``; predict returns 0-based indices, so the graph does too."""
    start = getattr(action_space, "start", None)
    if start is not None and np.any(np.asarray(start) != 0):
        raise UnsupportedModelError(
            f"action space {action_space} has a non-zero start; SB3 ignores it (its predict returns "
            "0-based indices), so a policy file would be ambiguous"
        )
