"""Training: one validated config, SB3 PPO or SAC, one loop with evaluation, checkpoints and a manifest.

torch and Stable-Baselines3 are imported here (and in ``clankers.export``) only; the runtime
(``clankers.policy``) never needs them.
"""

from __future__ import annotations

from clankers.train.common import TrainResult
from clankers.train.config import PPOParams, SACParams, TrainConfig
from clankers.train.loop import checkpoint_config, latest_checkpoint, train
from clankers.train.recipes import recipe_for

__all__ = [
    "PPOParams",
    "SACParams",
    "TrainConfig",
    "TrainResult",
    "checkpoint_config",
    "latest_checkpoint",
    "recipe_for",
    "train",
]
