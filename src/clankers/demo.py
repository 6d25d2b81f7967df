"""The main job, end to end on the cart-pole: train -> export -> check -> run.

Everything a person would want to look at afterwards lands in one folder: the SB3 model, the policy file,
the checker's report, the closed-loop evaluation (JSON), two plots (training curve, evaluation returns)
and ``manifest.json`` (software versions, seeds, task file hash, config, command line, every stage's
results).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TASK = "cartpole"


@dataclass
class DemoSummary:
    """Measured outcome of every stage."""

    out_dir: Path
    train: dict[str, Any] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.check.get("conforms")) and bool(self.export.get("parity_passed"))

    def rows(self) -> list[tuple[str, str]]:
        t, e, c, r = self.train, self.export, self.check, self.run
        return [
            (
                "train (SB3 PPO)",
                f"eval mean {t['eval_mean']:.1f} after {t['env_steps']} steps, {t['wall_time_s']:.1f} s",
            ),
            (
                "export (ONNX)",
                f"{e['algorithm']}, parity max |diff| {e['max_abs_diff']:.2g} on {e['n_samples']} obs",
            ),
            ("check", f"conforms: {c['conforms']} (level {c['level']})"),
            ("run (onnxruntime)", f"mean return {r['mean_return']:.1f} over {len(r['episodes'])} episodes"),
            (
                "vs SB3 predict",
                f"returns equal: {r['comparison']['returns_equal']}, "
                f"max obs diff {r['comparison']['max_observation_diff']:.2g}",
            ),
            ("artifacts", str(self.out_dir)),
        ]


def run_demo(
    out_dir: Path,
    seed: int = 0,
    timesteps: int | None = None,
    episodes: int = 20,
    progress: Callable[[int, int, str], None] | None = None,
    log: Callable[[str], None] = print,
) -> DemoSummary:
    """Run the four stages, writing artifacts to ``out_dir`` (created), and return what was measured."""
    from clankers.envs.rollout import compare_evaluations, evaluate
    from clankers.export import export_sb3
    from clankers.export.sb3 import load_model
    from clankers.policy import OnnxPolicy, check_policy
    from clankers.train import recipe_for, train
    from clankers.train.manifest import RunManifest

    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = DemoSummary(out_dir=out_dir)

    result = train(recipe_for(TASK, seed=seed, total_timesteps=timesteps), out_dir, progress=progress)
    summary.train = {
        "env_steps": result.env_steps,
        "wall_time_s": result.wall_time_s,
        "eval_mean": result.eval_mean,
        "solved": result.solved,
    }
    log(f"trained: {result.model_path}")

    policy_path = out_dir / "policy.onnx"
    report = export_sb3(result.model_path, policy_path, env=TASK, seed=seed)
    summary.export = {
        "algorithm": report.algorithm,
        "max_abs_diff": report.parity.max_abs_diff,
        "n_samples": report.parity.n_samples,
        "parity_passed": report.parity.passed,
        "seconds": report.seconds,
    }
    log(f"exported: {policy_path}")

    check = check_policy(policy_path)
    (out_dir / "check.txt").write_text(check.to_text())
    (out_dir / "check.json").write_text(json.dumps(check.to_dict(), indent=2))
    summary.check = {"conforms": check.conforms, "level": check.level}

    onnx_run = evaluate(OnnxPolicy(policy_path).act, TASK, episodes, seed, record=True)
    model = load_model(result.model_path)
    sb3_run = evaluate(lambda o: model.predict(o, deterministic=True)[0], TASK, episodes, seed, record=True)
    comparison = compare_evaluations(onnx_run, sb3_run)
    summary.run = {
        **onnx_run.to_dict(),
        "comparison": comparison.to_dict(),
        "sb3_mean_return": sb3_run.mean_return,
    }
    (out_dir / "evaluation.json").write_text(json.dumps(summary.run, indent=2))
    plot_evaluation(onnx_run.returns, sb3_run.returns, out_dir / "evaluation_returns.png")
    _look(policy_path, onnx_run, sb3_run, out_dir, seed, log)
    stages = {
        "train": summary.train,
        "export": summary.export,
        "check": summary.check,
        "run": {"mean_return": onnx_run.mean_return, **comparison.to_dict()},
    }
    (out_dir / "summary.json").write_text(json.dumps(stages, indent=2))
    manifest = RunManifest.read(out_dir)  # the training run's, extended to the whole demo
    manifest.data.update(
        kind="demo",
        demo={"seed": seed, "timesteps": timesteps, "episodes": episodes},
        stages=stages,
        demo_wall_time_s=round(time.perf_counter() - started, 3),
        outputs={
            **manifest.data.get("outputs", {}),
            "policy": "policy.onnx",
            "check": "check.json",
            "evaluation": "evaluation.json",
            "summary": "summary.json",
            "trajectories": "trajectories.png",
            "video": "policy.mp4",
        },
    )
    manifest.write()
    return summary


def _look(policy_path: Path, onnx_run: Any, sb3_run: Any, out_dir: Path, seed: int, log: Any) -> None:
    """What a person looks at: the first episode's trajectories (ONNX over SB3) and a video of the
    ONNX policy (one episode, seed ``seed``, frames at the control rate with an overlay)."""
    from clankers.envs import make_env
    from clankers.policy import OnnxPolicy
    from clankers.viz.plots import plot_trajectories
    from clankers.viz.training import film_policy

    env = make_env(TASK).unwrapped
    plot_trajectories(
        {"ONNX (onnxruntime)": onnx_run, "SB3 predict": sb3_run},
        out_dir / "trajectories.png",
        observation_names=env.observation_names,
        action_names=env.layout.names,
        title=f"{TASK}: episode 0, ONNX policy over the SB3 model",
    )
    film_policy(OnnxPolicy(policy_path).act, TASK, out_dir / "policy.mp4", seed=seed)
    log(f"video: {out_dir / 'policy.mp4'}")


def plot_evaluation(onnx_returns: Any, sb3_returns: Any, path: Path) -> Path:
    """Per-episode returns of the ONNX policy beside the SB3 model's on the same seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    index = np.arange(len(onnx_returns))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(index - 0.2, onnx_returns, width=0.4, label="ONNX (onnxruntime)")
    ax.bar(index + 0.2, sb3_returns, width=0.4, label="SB3 predict")
    ax.set_xticks(index)
    ax.set_xlabel("episode (seed offset)")
    ax.set_ylabel("return")
    ax.set_title("closed-loop evaluation on the same seeds")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
