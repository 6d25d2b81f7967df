"""Train a task with Stable-Baselines3 PPO, stop as soon as the deterministic policy is solved.

The recipe (CleanRL-style, top to bottom): vectorized envs -> PPO with the task's hyperparameters ->
after every rollout, evaluate the *deterministic* policy on a fixed set of seeded episodes -> stop once the evaluation mean reaches the target -> save ``model.zip``,
``training.json`` and ``training_curve.png``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clankers.envs import resolve_task
from clankers.errors import ConfigError
from clankers.train.common import (
    EVAL_SEED_OFFSET,
    RunLog,
    TrainResult,
    evaluate_deterministic,
    finish_run,
    make_vec_env,
)


@dataclass
class TrainConfig:
    """What to train and how.

    | field               | default     | meaning                                                         |
    |---------------------|-------------|-----------------------------------------------------------------|
    | task                | "cartpole"  | short task name or Gymnasium id                                 |
    | total_timesteps     | 30_000      | env-step budget (upper bound; training stops early when solved) |
    | n_envs, n_steps     | 8, 256      | rollout = n_envs x n_steps transitions                          |
    | seed                | 0           | seeds SB3, torch and every environment                          |
    | target_return       | 500.0       | stop once the deterministic eval mean reaches it (None: never)  |
    | eval_episodes       | 20          | episodes per deterministic evaluation (fixed seeds)             |
    | ppo                 | see below   | PPO hyperparameters (Stable-Baselines3 names)                   |
    """

    task: str = "cartpole"
    total_timesteps: int = 30_000
    n_envs: int = 8
    n_steps: int = 256
    seed: int = 0
    target_return: float | None = 500.0
    eval_episodes: int = 20
    ppo: dict[str, Any] = field(
        default_factory=lambda: {
            "learning_rate": 3e-4,
            "gamma": 0.99,
            "gae_lambda": 0.95,
            "clip_range": 0.2,
            "n_epochs": 10,
            "batch_size": 64,
            "policy_kwargs": {"net_arch": {"pi": [64, 64], "vf": [64, 64]}},
        }
    )

    def validate(self) -> None:
        resolve_task(self.task)
        if self.total_timesteps <= 0 or self.n_envs <= 0 or self.n_steps <= 0 or self.eval_episodes <= 0:
            raise ConfigError("total_timesteps, n_envs, n_steps and eval_episodes must be positive integers")


def train(
    config: TrainConfig,
    out_dir: str | Path,
    progress: Callable[[int, int, str], None] | None = None,
) -> TrainResult:
    """Train ``config.task`` with PPO and write ``model.zip``, ``training.json`` and a curve to ``out_dir``.

    Args:
        config: the run's settings.
        out_dir: created if missing.
        progress: optional ``callback(env_steps, total_timesteps, status)`` after every rollout (the CLI
            drives a rich progress bar with it).
    """
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    config.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # a 64x64 MLP is faster single-threaded, and results are reproducible

    env = make_vec_env(config.task, config.n_envs, config.seed)
    eval_seed = config.seed + EVAL_SEED_OFFSET
    eval_env = make_vec_env(config.task, min(config.eval_episodes, 10), eval_seed)
    model = PPO(
        "MlpPolicy", env, n_steps=config.n_steps, seed=config.seed, device="cpu", verbose=0, **config.ppo
    )
    log = RunLog()

    def evaluate(steps: int) -> float:
        mean, std, success = evaluate_deterministic(model, eval_env, config.eval_episodes, eval_seed)
        log.record_eval(steps, mean, std, success)
        return mean

    def solved() -> bool:
        return (
            config.target_return is not None
            and bool(log.eval_steps)
            and log.eval_mean[-1] >= config.target_return
        )

    class _Loop(BaseCallback):
        """Collects episode returns; after each rollout evaluates; ends ``learn`` once solved."""

        def _on_step(self) -> bool:
            log.record_infos(self.locals["infos"], self.num_timesteps)
            return not solved()

        def _on_rollout_end(self) -> None:
            status = log.recent_status()
            # Stochastic training episodes understate the deterministic policy, so evaluate after every
            # rollout. It is cheap while the policy is poor: a failing episode ends after a few steps.
            if config.target_return is not None:
                status += f", eval {evaluate(self.num_timesteps):.1f}"
            if progress is not None:
                progress(self.num_timesteps, config.total_timesteps, status)

    start = time.perf_counter()
    model.learn(total_timesteps=config.total_timesteps, callback=_Loop())
    wall_time = time.perf_counter() - start
    if not solved():  # the final policy's evaluation (when the last rollout's was not the final word)
        evaluate(model.num_timesteps)
    result = finish_run(
        model,
        out,
        algorithm="PPO",
        config=config,
        log=log,
        wall_time=wall_time,
        solved=solved(),
        target_return=config.target_return,
    )
    env.close()
    eval_env.close()
    return result
