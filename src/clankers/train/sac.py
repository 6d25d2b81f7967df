"""SAC: the recipe for continuous-control tasks with dense rewards.

Why SAC and not PPO for the pendulum and the torque-driven arm (ArmReach): these tasks have smooth
dense rewards, short horizons and torque actions, where an off-policy learner that reuses every
transition many times needs 10-50x fewer environment steps than PPO. On a 2-core machine the
bottleneck is then the gradient updates, not the simulation, so one environment is enough. Where the
simulation is cheap per step and the policy a simple feedback law (the velocity-servo arms), PPO on 32
parallel envs learns faster in wall time: docs/tasks.md has both measured.

Stable-Baselines3's SAC with the task's :class:`~clankers.train.config.SACParams`. The training loop
(evaluate every ``eval_every`` steps, stop once the return or success-rate target is reached,
checkpoint, write the outputs) is :mod:`clankers.train.loop`, shared with PPO. A SAC checkpoint holds the
replay buffer beside the model: without it a resumed run would relearn from an empty buffer, which is a
different (and worse) run than the one interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clankers.train.config import TrainConfig

REPLAY_BUFFER = "replay_buffer.pkl"


def make_model(config: TrainConfig, env: Any) -> Any:
    """A fresh ``stable_baselines3.SAC`` on ``env`` with the config's hyperparameters and seed."""
    from stable_baselines3 import SAC

    return SAC("MlpPolicy", env, seed=config.seed, device="cpu", verbose=0, **config.hyperparams.sb3_kwargs())


def load_model(path: Path, env: Any) -> Any:
    from stable_baselines3 import SAC

    return SAC.load(str(path), env=env, device="cpu")


def save_state(model: Any, folder: Path) -> None:
    """The replay buffer (SB3's pickle; a checkpoint is the run's own file, never an untrusted one)."""
    model.save_replay_buffer(folder / REPLAY_BUFFER)


def load_state(model: Any, folder: Path) -> None:
    model.load_replay_buffer(folder / REPLAY_BUFFER)
