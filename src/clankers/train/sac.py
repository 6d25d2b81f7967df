"""SAC: the recipe for continuous-control tasks with dense rewards.

Why SAC and not PPO for the pendulum and the arms: these tasks have smooth dense rewards, short
horizons and torque actions, where an off-policy learner that reuses every transition many times
needs 10-50x fewer environment steps than PPO. On a 2-core machine the bottleneck is then the
gradient updates, not the simulation, so one environment is enough.

Stable-Baselines3's SAC with the task's :class:`~clankers.train.config.SACParams`. The training loop
(evaluate every ``eval_every`` steps, stop once the return or success-rate target is reached,
checkpoint, write the outputs) is :mod:`clankers.train.loop`, shared with PPO. A SAC checkpoint holds the
replay buffer beside the model: without it a resumed run would relearn from an empty buffer, which is a
different (and worse) run than the one interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clankers.train.common import evaluate_deterministic, make_vec_env
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


def evaluate_saved(
    model_path: str | Path, task: str, episodes: int = 100, seed: int = 1_000_000
) -> dict[str, float]:
    """Evaluate a saved SAC model on ``episodes`` fresh seeded episodes (not the training-time ones).

    Returns ``{"mean_return", "std_return", "success_rate", "episodes"}``; used for the reported results.
    """
    from stable_baselines3 import SAC

    model = SAC.load(str(model_path), device="cpu")
    env = make_vec_env(task, min(episodes, 10), seed)
    try:
        mean, std, success = evaluate_deterministic(model, env, episodes, seed)
    finally:
        env.close()
    return {"mean_return": mean, "std_return": std, "success_rate": success, "episodes": float(episodes)}
