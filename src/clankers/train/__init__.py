"""Training recipes: SB3 algorithms with per-task hyperparameters, progress, curves and early stopping.

torch and Stable-Baselines3 are imported here (and in ``clankers.export``) only; the runtime
(``clankers.policy``) never needs them.
"""

from clankers.train.ppo import TrainConfig, TrainResult, train
from clankers.train.recipes import RECIPES, recipe_for

__all__ = ["RECIPES", "TrainConfig", "TrainResult", "recipe_for", "train"]
