"""Training recipes: SB3 algorithms with per-task hyperparameters, progress, curves and early stopping.

torch and Stable-Baselines3 are imported here (and in ``clankers.export``) only; the runtime
(``clankers.policy``) never needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from clankers.train.common import TrainResult
from clankers.train.ppo import TrainConfig
from clankers.train.ppo import train as train_ppo
from clankers.train.recipes import RECIPES, recipe_for
from clankers.train.sac import SACConfig, train_sac


def train(
    config: TrainConfig | SACConfig,
    out_dir: str | Path,
    progress: Callable[[int, int, str], None] | None = None,
) -> TrainResult:
    """Train with the recipe's algorithm: :func:`train_sac` for a :class:`SACConfig`, else PPO."""
    if isinstance(config, SACConfig):
        return train_sac(config, out_dir, progress)
    return train_ppo(config, out_dir, progress)


__all__ = [
    "RECIPES",
    "SACConfig",
    "TrainConfig",
    "TrainResult",
    "recipe_for",
    "train",
    "train_ppo",
    "train_sac",
]
