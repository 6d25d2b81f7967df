"""Train a task with Stable-Baselines3 PPO, stop as soon as the deterministic policy is solved.

The recipe (CleanRL-style, top to bottom): vectorized envs -> PPO with the task's hyperparameters ->
after every rollout, if recent training episodes look good, evaluate the *deterministic* policy on a
fixed set of seeded episodes -> stop once the evaluation mean reaches the target -> save ``model.zip``,
``training.json`` and ``training_curve.png``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clankers.envs import resolve_task
from clankers.errors import ConfigError


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


@dataclass
class TrainResult:
    """What a training run produced and measured."""

    model_path: Path
    curve_path: Path
    summary_path: Path
    env_steps: int
    wall_time_s: float
    eval_mean: float
    eval_std: float
    solved: bool
    history: dict[str, list[float]]


def _make_vec_env(task: str, n_envs: int, seed: int):  # type: ignore[no-untyped-def]
    from stable_baselines3.common.env_util import make_vec_env

    from clankers.envs import make_env

    return make_vec_env(lambda: make_env(task), n_envs=n_envs, seed=seed)


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
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList
    from stable_baselines3.common.evaluation import evaluate_policy

    config.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # a 64x64 MLP is faster single-threaded, and results are reproducible

    env = _make_vec_env(config.task, config.n_envs, config.seed)
    eval_env = _make_vec_env(config.task, min(config.eval_episodes, 10), config.seed + 10_000)
    model = PPO(
        "MlpPolicy", env, n_steps=config.n_steps, seed=config.seed, device="cpu", verbose=0, **config.ppo
    )

    history: dict[str, list[float]] = {
        "episode_steps": [],
        "episode_return": [],
        "eval_steps": [],
        "eval_mean": [],
    }
    state = {"solved": False, "eval_mean": float("nan"), "eval_std": float("nan")}

    def evaluate() -> tuple[float, float]:
        eval_env.seed(config.seed + 10_000)  # the same evaluation episodes every time
        mean, std = evaluate_policy(model, eval_env, n_eval_episodes=config.eval_episodes, deterministic=True)
        return float(mean), float(std)

    class _Progress(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    history["episode_steps"].append(float(self.num_timesteps))
                    history["episode_return"].append(float(info["episode"]["r"]))
            return True

        def _on_rollout_end(self) -> None:
            recent = history["episode_return"][-10:]
            status = f"recent mean return {np.mean(recent):.1f}" if recent else "no episode finished yet"
            target = config.target_return
            # Stochastic training episodes understate the deterministic policy, so evaluate after every
            # rollout. It is cheap while the policy is poor: a failing episode ends after a few steps.
            if target is not None:
                mean, std = evaluate()
                history["eval_steps"].append(float(self.num_timesteps))
                history["eval_mean"].append(mean)
                state["eval_mean"], state["eval_std"] = mean, std
                status += f", eval {mean:.1f}"
                if mean >= target:
                    state["solved"] = True
            if progress is not None:
                progress(self.num_timesteps, config.total_timesteps, status)

    class _StopWhenSolved(BaseCallback):
        """Ends ``learn`` at the first step after a successful evaluation."""

        def _on_step(self) -> bool:
            return not state["solved"]

    start = time.perf_counter()
    model.learn(
        total_timesteps=config.total_timesteps, callback=CallbackList([_Progress(), _StopWhenSolved()])
    )
    wall_time = time.perf_counter() - start
    if not state["solved"] or np.isnan(state["eval_mean"]):
        state["eval_mean"], state["eval_std"] = evaluate()
        history["eval_steps"].append(float(model.num_timesteps))
        history["eval_mean"].append(state["eval_mean"])

    model_path = out / "model.zip"
    tmp = out / "model.tmp.zip"
    model.save(tmp)
    tmp.replace(model_path)
    curve_path = plot_training_curve(history, out / "training_curve.png", config.task, config.target_return)
    result = TrainResult(
        model_path=model_path,
        curve_path=curve_path,
        summary_path=out / "training.json",
        env_steps=int(model.num_timesteps),
        wall_time_s=wall_time,
        eval_mean=state["eval_mean"],
        eval_std=state["eval_std"],
        solved=bool(config.target_return is not None and state["eval_mean"] >= config.target_return),
        history=history,
    )
    summary = {
        "config": asdict(config),
        "env_steps": result.env_steps,
        "wall_time_s": round(wall_time, 3),
        "eval_mean": result.eval_mean,
        "eval_std": result.eval_std,
        "eval_episodes": config.eval_episodes,
        "solved": result.solved,
        "history": history,
    }
    result.summary_path.write_text(json.dumps(summary, indent=2))
    env.close()
    eval_env.close()
    return result


def plot_training_curve(
    history: dict[str, list[float]], path: Path, title: str, target: float | None
) -> Path:
    """Episode returns during training and deterministic evaluations, against env steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(history["episode_steps"], history["episode_return"], ".", alpha=0.3, label="training episode")
    if history["episode_return"]:
        window = min(20, len(history["episode_return"]))
        smooth = np.convolve(history["episode_return"], np.ones(window) / window, mode="valid")
        ax.plot(history["episode_steps"][window - 1 :], smooth, label=f"mean of last {window}")
    if history["eval_steps"]:
        ax.plot(history["eval_steps"], history["eval_mean"], "o-", label="deterministic evaluation")
    if target is not None:
        ax.axhline(target, color="gray", linestyle="--", linewidth=1, label="target")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(f"PPO on {title}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
