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

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clankers.envs import resolve_task
from clankers.errors import ConfigError
from clankers.train.ppo import TrainResult, _make_vec_env


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


def evaluate(model: Any, env: Any, episodes: int, seed: int) -> tuple[float, float, float]:
    """Deterministic mean return, its std, and the fraction of episodes whose last step was a success."""
    from stable_baselines3.common.evaluation import evaluate_policy

    successes: list[bool] = []

    def record(local: dict[str, Any], _: dict[str, Any]) -> None:
        if local["done"]:
            successes.append(bool(local["info"].get("is_success", False)))

    env.seed(seed)  # the same evaluation episodes every time
    mean, std = evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=True, callback=record)
    return float(mean), float(std), float(np.mean(successes)) if successes else math.nan


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

    env = _make_vec_env(config.task, config.n_envs, config.seed)
    eval_env = _make_vec_env(config.task, min(config.eval_episodes, 10), config.seed + 10_000)
    model = SAC("MlpPolicy", env, seed=config.seed, device="cpu", verbose=0, **config.sac)

    history: dict[str, list[float]] = {
        "episode_steps": [],
        "episode_return": [],
        "eval_steps": [],
        "eval_mean": [],
        "eval_success_rate": [],
    }
    state: dict[str, Any] = {
        "solved": False,
        "eval": (math.nan, math.nan, math.nan),
        "next_eval": config.eval_every,
    }

    def run_eval(steps: int) -> tuple[float, float, float]:
        result = evaluate(model, eval_env, config.eval_episodes, config.seed + 10_000)
        history["eval_steps"].append(float(steps))
        history["eval_mean"].append(result[0])
        history["eval_success_rate"].append(result[2])
        state["eval"] = result
        return result

    class _Loop(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    history["episode_steps"].append(float(self.num_timesteps))
                    history["episode_return"].append(float(info["episode"]["r"]))
            recent = history["episode_return"][-10:]
            status = f"recent mean return {np.mean(recent):.1f}" if recent else "no episode finished yet"
            if self.num_timesteps >= state["next_eval"]:
                state["next_eval"] += config.eval_every
                mean, _, success = run_eval(self.num_timesteps)
                status += f", eval {mean:.1f} (success {success:.0%})"
                if _solved(config, mean, success):
                    state["solved"] = True
                if progress is not None:
                    progress(self.num_timesteps, config.total_timesteps, status)
            elif progress is not None and self.num_timesteps % 1000 < config.n_envs:
                progress(self.num_timesteps, config.total_timesteps, status)
            return not state["solved"]

    start = time.perf_counter()
    model.learn(total_timesteps=config.total_timesteps, callback=_Loop())
    wall_time = time.perf_counter() - start
    if not history["eval_steps"] or history["eval_steps"][-1] != model.num_timesteps:
        run_eval(model.num_timesteps)
    eval_mean, eval_std, success_rate = state["eval"]

    model_path = out / "model.zip"
    tmp = out / "model.tmp.zip"
    model.save(tmp)
    tmp.replace(model_path)
    curve_path = plot_sac_curve(history, out / "training_curve.png", config.task, config.target_return)
    solved = _solved(config, eval_mean, success_rate)
    result = TrainResult(
        model_path=model_path,
        curve_path=curve_path,
        summary_path=out / "training.json",
        env_steps=int(model.num_timesteps),
        wall_time_s=wall_time,
        eval_mean=eval_mean,
        eval_std=eval_std,
        solved=solved,
        history=history,
    )
    summary = {
        "algorithm": "sac",
        "config": asdict(config),
        "env_steps": result.env_steps,
        "wall_time_s": round(wall_time, 3),
        "eval_mean": eval_mean,
        "eval_std": eval_std,
        "eval_success_rate": success_rate,
        "eval_episodes": config.eval_episodes,
        "solved": solved,
        "history": history,
    }
    result.summary_path.write_text(json.dumps(summary, indent=2))
    env.close()
    eval_env.close()
    return result


def plot_sac_curve(history: dict[str, list[float]], path: Path, task: str, target: float | None) -> Path:
    """Training episode returns and deterministic evaluations (return, and success rate on a second axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(history["episode_steps"], history["episode_return"], ".", alpha=0.3, label="training episode")
    if history["eval_steps"]:
        ax.plot(history["eval_steps"], history["eval_mean"], "o-", label="deterministic evaluation")
    if target is not None:
        ax.axhline(target, color="gray", linestyle="--", linewidth=1, label="target")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(f"SAC on {task}")
    ax.legend(loc="lower right")
    if history["eval_steps"]:
        rate = ax.twinx()
        rate.plot(history["eval_steps"], history["eval_success_rate"], "s:", color="tab:green")
        rate.set_ylabel("evaluation success rate", color="tab:green")
        rate.set_ylim(-0.05, 1.05)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def evaluate_saved(
    model_path: str | Path, task: str, episodes: int = 100, seed: int = 1_000_000
) -> dict[str, float]:
    """Evaluate a saved SAC model on ``episodes`` fresh seeded episodes (not the training-time ones).

    Returns ``{"mean_return", "std_return", "success_rate", "episodes"}``; used for the reported results.
    """
    from stable_baselines3 import SAC

    model = SAC.load(str(model_path), device="cpu")
    env = _make_vec_env(task, min(episodes, 10), seed)
    try:
        mean, std, success = evaluate(model, env, episodes, seed)
    finally:
        env.close()
    return {"mean_return": mean, "std_return": std, "success_rate": success, "episodes": float(episodes)}
