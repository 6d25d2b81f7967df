"""What every training run shares: vectorized envs, deterministic evaluation, the run log, outputs.

The algorithms (:mod:`~clankers.train.ppo`, :mod:`~clankers.train.sac`) differ only in the SB3 model they
build; one loop (:mod:`~clankers.train.loop`) drives both, and a run's outputs are the same for all:
``model.zip`` (written atomically), ``training.json`` (config, measured steps, wall time, evaluation
history), ``training_curve.png``, ``manifest.json`` and the resumable ``checkpoints/``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Evaluation episodes use seeds derived from the run's seed plus this offset, never the training seeds.
EVAL_SEED_OFFSET = 10_000


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
    eval_success_rate: float = math.nan  # NaN for tasks that do not report ``info["is_success"]``

    def summary(self) -> dict[str, Any]:
        """The measured numbers as JSON-able values (``training.json``, the manifest's results)."""
        return {
            "env_steps": self.env_steps,
            "wall_time_s": round(self.wall_time_s, 3),
            "eval_mean": None if math.isnan(self.eval_mean) else self.eval_mean,
            "eval_std": None if math.isnan(self.eval_std) else self.eval_std,
            "eval_success_rate": None if math.isnan(self.eval_success_rate) else self.eval_success_rate,
            "solved": self.solved,
            "history": RunLog(**self.history).to_json(),
        }


@dataclass
class RunLog:
    """Training episodes and deterministic evaluations of one run, as they happen."""

    episode_steps: list[float] = field(default_factory=list)
    episode_return: list[float] = field(default_factory=list)
    eval_steps: list[float] = field(default_factory=list)
    eval_mean: list[float] = field(default_factory=list)
    eval_std: list[float] = field(default_factory=list)
    eval_success_rate: list[float] = field(default_factory=list)

    def record_infos(self, infos: list[dict[str, Any]], steps: int) -> None:
        """Collect the returns of episodes that ended (SB3's Monitor puts them in ``info["episode"]``)."""
        for info in infos:
            if "episode" in info:
                self.episode_steps.append(float(steps))
                self.episode_return.append(float(info["episode"]["r"]))

    def record_eval(self, steps: int, mean: float, std: float, success_rate: float) -> None:
        self.eval_steps.append(float(steps))
        self.eval_mean.append(mean)
        self.eval_std.append(std)
        self.eval_success_rate.append(success_rate)

    def recent_status(self) -> str:
        recent = self.episode_return[-10:]
        return f"recent mean return {np.mean(recent):.1f}" if recent else "no episode finished yet"

    def to_json(self) -> dict[str, list[float | None]]:
        """As JSON-able lists (NaN, e.g. the success rate of a task without one, becomes ``None``)."""
        return {k: [None if math.isnan(v) else v for v in vs] for k, vs in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, list[float | None]]) -> RunLog:
        return cls(**{k: [math.nan if v is None else float(v) for v in vs] for k, vs in data.items()})

    @property
    def last_eval(self) -> tuple[float, float, float]:
        if not self.eval_steps:
            return math.nan, math.nan, math.nan
        return self.eval_mean[-1], self.eval_std[-1], self.eval_success_rate[-1]


def make_vec_env(task: str, num_envs: int, seed: int) -> Any:
    """The task's threaded vector env as an SB3 ``VecEnv`` (``VecMonitor`` records episode returns).

    Env ``i`` is seeded ``seed + i``, as SB3's own ``make_vec_env`` does, and the results are bit-for-bit
    those of a ``DummyVecEnv`` over the same envs: only faster, since the physics runs on every core.
    """
    from stable_baselines3.common.vec_env import VecMonitor

    from clankers.envs.sb3 import make_sb3_vec_env

    return VecMonitor(make_sb3_vec_env(task, num_envs, seed=seed))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def evaluate_deterministic(model: Any, env: Any, episodes: int, seed: int) -> tuple[float, float, float]:
    """Deterministic mean return, its std, and the fraction of episodes whose last step was a success.

    ``env`` is reseeded first, so every call faces the same episodes. The success rate is NaN when the
    task reports no ``info["is_success"]``.
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    successes: list[bool] = []

    def record(local: dict[str, Any], _: dict[str, Any]) -> None:
        if local["done"] and "is_success" in local["info"]:
            successes.append(bool(local["info"]["is_success"]))

    env.seed(seed)
    mean, std = evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=True, callback=record)
    return float(mean), float(std), float(np.mean(successes)) if successes else math.nan


FRESH_EVAL_SEED = 1_000_000


def evaluate_saved(
    model_path: str | Path,
    task: str,
    episodes: int = 100,
    seed: int = FRESH_EVAL_SEED,
    algo: str | None = None,
) -> dict[str, float]:
    """Evaluate a saved model (``model.zip`` of a run or a checkpoint) on ``episodes`` fresh seeded
    episodes: seeds from ``seed`` (default 1,000,000), which training and its evaluations never use.

    ``algo`` (``"ppo"`` or ``"sac"``) defaults to the one the zip was trained with (SAC's policy class
    lives in ``stable_baselines3.sac``; every other clankers run is PPO). Returns ``{"mean_return",
    "std_return", "success_rate", "episodes"}``; the reported task results come from here.
    """
    import stable_baselines3

    algo = algo or saved_algorithm(model_path)
    model = getattr(stable_baselines3, algo.upper()).load(str(model_path), device="cpu")
    env = make_vec_env(task, min(episodes, 10), seed)
    try:
        mean, std, success = evaluate_deterministic(model, env, episodes, seed)
    finally:
        env.close()
    return {"mean_return": mean, "std_return": std, "success_rate": success, "episodes": float(episodes)}


def saved_algorithm(model_path: str | Path) -> str:
    """``"sac"`` or ``"ppo"``: which of the two algorithms clankers trains wrote this SB3 zip."""
    import zipfile

    with zipfile.ZipFile(model_path) as archive:
        data = json.loads(archive.read("data"))
    module = str(data.get("policy_class", {}).get("__module__", ""))
    return "sac" if module.startswith("stable_baselines3.sac") else "ppo"


def write_outputs(
    model: Any, out: Path, *, config: Any, log: RunLog, wall_time: float, solved: bool
) -> TrainResult:
    """Write ``model.zip`` (atomically), ``training_curve.png`` and ``training.json``; return the result."""
    model_path = out / "model.zip"
    tmp = out / ".model.tmp.zip"
    model.save(tmp)
    tmp.replace(model_path)
    curve_path = plot_training_curve(
        log, out / "training_curve.png", f"{config.algo.upper()} on {config.task}", config.target_return
    )
    mean, std, success = log.last_eval
    result = TrainResult(
        model_path=model_path,
        curve_path=curve_path,
        summary_path=out / "training.json",
        env_steps=int(model.num_timesteps),
        wall_time_s=wall_time,
        eval_mean=mean,
        eval_std=std,
        solved=solved,
        history=asdict(log),
        eval_success_rate=success,
    )
    write_json_atomic(
        result.summary_path,
        {
            "algorithm": config.algo,
            **result.summary(),
            "eval_episodes": config.eval_episodes,
            "config": config.model_dump(mode="json"),
        },
    )
    return result


def plot_training_curve(log: RunLog, path: Path, title: str, target: float | None) -> Path:
    """Training episode returns (and their running mean), deterministic evaluations, and the success
    rate on a second axis when the task reports one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(log.episode_steps, log.episode_return, ".", alpha=0.3, label="training episode")
    if log.episode_return:
        window = min(20, len(log.episode_return))
        smooth = np.convolve(log.episode_return, np.ones(window) / window, mode="valid")
        ax.plot(log.episode_steps[window - 1 :], smooth, label=f"mean of last {window}")
    if log.eval_steps:
        ax.plot(log.eval_steps, log.eval_mean, "o-", label="deterministic evaluation")
    if target is not None:
        ax.axhline(target, color="gray", linestyle="--", linewidth=1, label="target")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.legend(loc="lower right")
    if any(not math.isnan(r) for r in log.eval_success_rate):
        rate = ax.twinx()
        rate.plot(log.eval_steps, log.eval_success_rate, "s:", color="tab:green")
        rate.set_ylabel("evaluation success rate", color="tab:green")
        rate.set_ylim(-0.05, 1.05)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
