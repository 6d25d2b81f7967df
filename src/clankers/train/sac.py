"""Train a task with Stable-Baselines3 SAC: the recipe for continuous-control tasks with dense rewards.

Why SAC and not PPO for the pendulum and the arms: these tasks have smooth dense rewards, short
horizons and torque actions, where an off-policy learner that reuses every transition many times
needs 10-50x fewer environment steps than PPO. On a 2-core machine the bottleneck is then the
gradient updates, not the simulation, so one environment is enough.

The loop: SAC learns from one environment; every ``eval_every`` steps the *deterministic* policy is
evaluated on a fixed set of seeded episodes (return and ``info["is_success"]`` at each episode's last
step); training stops early once the evaluation mean return reaches ``target_return`` or the success
rate reaches ``target_success_rate``. Outputs, as for
PPO: ``model.zip``, ``training.json`` (with the success rate) and ``training_curve.png``.
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
class SACConfig:
    """What to train with SAC and how.

    | field           | default   | meaning                                                               |
    |-----------------|-----------|-----------------------------------------------------------------------|
    | task            | required  | short task name or Gymnasium id                                       |
    | total_timesteps | 20_000    | env-step budget (upper bound; training stops early when solved)       |
    | n_envs          | 1         | environments collecting transitions                                  |
    | seed            | 0         | seeds SB3, torch and every environment                               |
    | target_return   | None      | stop once the deterministic eval mean reaches it (None: never)        |
    | target_success_rate | None  | ... or once the eval success rate reaches it (None: never)            |
    | eval_episodes   | 20        | episodes per deterministic evaluation (fixed seeds)                   |
    | eval_every      | 5_000     | env steps between evaluations                                         |
    | sac             | see below | SAC hyperparameters (Stable-Baselines3 names)                         |
    """

    task: str
    total_timesteps: int = 20_000
    n_envs: int = 1
    seed: int = 0
    target_return: float | None = None
    target_success_rate: float | None = None
    eval_episodes: int = 20
    eval_every: int = 5_000
    sac: dict[str, Any] = field(
        default_factory=lambda: {
            "learning_rate": 1e-3,
            "buffer_size": 100_000,
            "learning_starts": 1_000,
            "batch_size": 256,
            "gamma": 0.99,
            "tau": 0.005,
            "policy_kwargs": {"net_arch": [64, 64]},
        }
    )

    @property
    def algorithm(self) -> str:
        return "sac"

    def validate(self) -> None:
        resolve_task(self.task)
        if min(self.total_timesteps, self.n_envs, self.eval_episodes, self.eval_every) <= 0:
            raise ConfigError(
                "total_timesteps, n_envs, eval_episodes and eval_every must be positive integers"
            )


def _solved(config: SACConfig, mean: float, success_rate: float) -> bool:
    by_return = config.target_return is not None and mean >= config.target_return
    by_success = config.target_success_rate is not None and success_rate >= config.target_success_rate
    return bool(by_return or by_success)


def train_sac(
    config: SACConfig,
    out_dir: str | Path,
    progress: Callable[[int, int, str], None] | None = None,
) -> TrainResult:
    """Train ``config.task`` with SAC; writes ``model.zip``, ``training.json`` and a curve to ``out_dir``.

    ``progress(env_steps, total_timesteps, status)`` is called every 1000 steps and after evaluations.
    """
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    config.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # small MLPs are faster single-threaded, and results are reproducible

    env = make_vec_env(config.task, config.n_envs, config.seed)
    eval_seed = config.seed + EVAL_SEED_OFFSET
    eval_env = make_vec_env(config.task, min(config.eval_episodes, 10), eval_seed)
    model = SAC("MlpPolicy", env, seed=config.seed, device="cpu", verbose=0, **config.sac)
    log = RunLog()
    state = {"solved": False, "next_eval": config.eval_every}

    def run_eval(steps: int) -> tuple[float, float, float]:
        result = evaluate_deterministic(model, eval_env, config.eval_episodes, eval_seed)
        log.record_eval(steps, *result)
        return result

    class _Loop(BaseCallback):
        def _on_step(self) -> bool:
            log.record_infos(self.locals["infos"], self.num_timesteps)
            status = log.recent_status()
            if self.num_timesteps >= state["next_eval"]:
                state["next_eval"] += config.eval_every
                mean, _, success = run_eval(self.num_timesteps)
                status += f", eval {mean:.1f} (success {success:.0%})"
                state["solved"] = _solved(config, mean, success)
                if progress is not None:
                    progress(self.num_timesteps, config.total_timesteps, status)
            elif progress is not None and self.num_timesteps % 1000 < config.n_envs:
                progress(self.num_timesteps, config.total_timesteps, status)
            return not state["solved"]

    start = time.perf_counter()
    model.learn(total_timesteps=config.total_timesteps, callback=_Loop())
    wall_time = time.perf_counter() - start
    if not log.eval_steps or log.eval_steps[-1] != model.num_timesteps:
        run_eval(model.num_timesteps)
    mean, _, success = log.last_eval
    result = finish_run(
        model,
        out,
        algorithm="SAC",
        config=config,
        log=log,
        wall_time=wall_time,
        solved=_solved(config, mean, success),
        target_return=config.target_return,
    )
    env.close()
    eval_env.close()
    return result


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
