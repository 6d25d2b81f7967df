"""PPO: the recipe for tasks with discrete actions or sparse success, where many parallel envs are cheap.

Stable-Baselines3's PPO with the task's :class:`~clankers.train.config.PPOParams`; a rollout is
``num_envs x n_steps`` transitions. The training loop (evaluate the deterministic policy after every
rollout, stop once solved, checkpoint, write the outputs) is :mod:`clankers.train.loop`, shared with SAC.
PPO keeps no state besides the model, so a checkpoint is the model file alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clankers.train.config import TrainConfig


def make_model(config: TrainConfig, env: Any) -> Any:
    """A fresh ``stable_baselines3.PPO`` on ``env`` with the config's hyperparameters and seed."""
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", env, seed=config.seed, device="cpu", verbose=0, **config.hyperparams.sb3_kwargs())


def load_model(path: Path, env: Any) -> Any:
    from stable_baselines3 import PPO

    return PPO.load(str(path), env=env, device="cpu")


def save_state(model: Any, folder: Path) -> None:
    """Nothing beyond the model file: PPO's rollout buffer is refilled from scratch every rollout."""


def load_state(model: Any, folder: Path) -> None:
    """See :func:`save_state`."""
