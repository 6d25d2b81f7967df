"""The training loop every algorithm shares: learn, evaluate, stop when solved, checkpoint, resume, record.

Top to bottom, as a run goes:

1. vectorized envs (env ``i`` seeded ``seed + i``) and a separate evaluation env on fixed seeds;
2. the algorithm's SB3 model (:mod:`~clankers.train.ppo` or :mod:`~clankers.train.sac`), or the one in
   the last checkpoint when resuming;
3. ``model.learn`` with one callback: after a rollout, evaluate the *deterministic* policy when due
   (``eval_every``; stochastic training episodes understate it) and stop once the target return or
   success rate is reached; before a rollout, write a checkpoint when due (``checkpoint_every``);
4. the outputs: ``model.zip``, ``training.json``, ``training_curve.png``, a final checkpoint and
   ``manifest.json``.

Checkpoints are taken at the start of a rollout, after the previous rollout's gradient updates: there the
saved model has learned from exactly the steps it counts, for PPO (whose rollout buffer is then empty)
as for SAC (whose replay buffer is saved beside it). Each checkpoint is a folder
``checkpoints/<steps>/`` (model, algorithm state, ``progress.json``); ``checkpoints/latest.json`` names
the newest complete one and is replaced atomically after it is written, so a crash while writing leaves
the previous checkpoint in force.

Resuming (``resume=True``) loads the latest checkpoint and continues the step count to
``total_timesteps``. The environments restart from fresh episodes seeded ``seed + steps + i`` (an
interrupted episode cannot be restored), and SB3's random generators are reseeded the same way, so a
resumed run is reproducible from its checkpoint, though not bit-identical to an uninterrupted one.

When an evaluation finds the policy solved, SB3 still runs the gradient updates of that rollout before
it can stop; the loop keeps the evaluated parameters and restores them, so the saved model is the one
whose evaluation is reported.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clankers.errors import ConfigError
from clankers.train import ppo, sac
from clankers.train.common import (
    EVAL_SEED_OFFSET,
    RunLog,
    TrainResult,
    evaluate_deterministic,
    make_vec_env,
    write_json_atomic,
    write_outputs,
)
from clankers.train.config import TrainConfig
from clankers.train.manifest import RunManifest

ALGORITHMS = {"ppo": ppo, "sac": sac}
CHECKPOINTS = "checkpoints"
PROGRESS_EVERY = 1_000  # env steps between progress callbacks (PPO reports after every rollout anyway)

#: Fields a resumed run may change: the budget (to train on) and the checkpoint cadence.
RESUMABLE_CHANGES = frozenset({"total_timesteps", "checkpoint_every"})


@dataclass
class _Schedule:
    """When the next evaluation and checkpoint are due, and whether the run is solved (all in env steps)."""

    next_eval: int
    next_checkpoint: int | None
    solved: bool = False
    wall_time_s: float = 0.0  # of the earlier sessions of a resumed run

    def to_json(self) -> dict[str, Any]:
        return {
            "next_eval": self.next_eval,
            "next_checkpoint": self.next_checkpoint,
            "solved": self.solved,
            "wall_time_s": self.wall_time_s,
        }


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The folder of the run's newest complete checkpoint, or ``None``."""
    pointer = Path(out_dir) / CHECKPOINTS / "latest.json"
    if not pointer.is_file():
        return None
    folder = pointer.parent / json.loads(pointer.read_text())["folder"]
    return folder if (folder / "progress.json").is_file() else None


def checkpoint_config(out_dir: str | Path) -> TrainConfig:
    """The config of the run in ``out_dir`` (from its latest checkpoint), for ``train --resume``."""
    folder = latest_checkpoint(out_dir)
    if folder is None:
        raise ConfigError(
            f"no checkpoint in {out_dir} to resume from",
            hint="train without --resume to start the run (checkpoints need checkpoint_every set)",
        )
    return TrainConfig(**json.loads((folder / "progress.json").read_text())["config"])


def train(
    config: TrainConfig,
    out_dir: str | Path,
    progress: Callable[[int, int, str], None] | None = None,
    *,
    resume: bool = False,
    invocation: dict[str, Any] | None = None,
    callbacks: Sequence[Any] = (),
    vec_env: Callable[[str, int, int], Any] | None = None,
) -> TrainResult:
    """Train ``config.task`` with ``config.algo``; write the run's outputs to ``out_dir`` (created).

    Args:
        config: the run's settings.
        out_dir: the run folder.
        progress: optional ``callback(env_steps, total_timesteps, status)``, about every 1000 steps and
            after every evaluation (the CLI drives a progress bar with it).
        resume: continue the run in ``out_dir`` from its latest checkpoint (:class:`ConfigError` if it
            has none, or if ``config`` differs from the run's in more than ``total_timesteps`` and
            ``checkpoint_every``).
        invocation: how the run was asked for, beyond the process's command line (the CLI passes its
            parsed options); recorded in the manifest's session entry.
        callbacks: more SB3 callbacks to run beside the loop's own (e.g. evaluation videos,
            :class:`clankers.viz.training.VideoEvery`).
        vec_env: builds the training envs as ``vec_env(task, num_envs, seed)`` instead of
            :func:`~clankers.train.common.make_vec_env` (e.g. Ray workers, :mod:`clankers.distributed`);
            it must seed env ``i`` with ``seed + i`` and wrap them in ``VecMonitor``. Evaluation stays local.
    """
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    algorithm = ALGORITHMS[config.algo]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # small MLPs are faster single-threaded, and results are reproducible

    folder = _resumable(config, out) if resume else None
    start_steps = 0
    if folder is not None:
        saved = json.loads((folder / "progress.json").read_text())
        start_steps = int(saved["steps"])
        log = RunLog.from_json(saved["log"])
        schedule = _Schedule(**{**saved["schedule"], "solved": False})  # train on to the target again
        if config.checkpoint_every != saved["config"]["checkpoint_every"]:
            schedule.next_checkpoint = _next(start_steps, config.checkpoint_every)
    else:
        log = RunLog()
        schedule = _Schedule(next_eval=config.eval_every or 0, next_checkpoint=config.checkpoint_every)
    if start_steps >= config.total_timesteps:
        raise ConfigError(
            f"the run in {out} already has {start_steps} of its {config.total_timesteps} steps",
            hint="raise --timesteps to train it further",
        )

    eval_seed = config.seed + EVAL_SEED_OFFSET
    env = (vec_env or make_vec_env)(config.task, config.num_envs, config.seed + start_steps)
    eval_env = make_vec_env(config.task, min(config.eval_episodes, 10), eval_seed)
    if folder is None:
        model = algorithm.make_model(config, env)
    else:
        model = algorithm.load_model(folder / "model.zip", env)
        algorithm.load_state(model, folder)
        model.set_random_seed(config.seed + start_steps)
        model._last_obs = None  # start fresh episodes: SB3's learn() then resets the envs
    manifest = RunManifest.begin(
        out,
        kind="train",
        task=config.task,
        config=config.model_dump(mode="json"),
        seeds={"seed": config.seed, "envs": "seed + i (+ steps when resumed)", "evaluation": eval_seed},
        resume=folder is not None,
        from_steps=start_steps,
        invocation=invocation,
    )
    solved_at: dict[str, Any] = {}
    session_start = time.perf_counter()

    def evaluate(steps: int) -> tuple[float, float, float]:
        result = evaluate_deterministic(model, eval_env, config.eval_episodes, eval_seed)
        log.record_eval(steps, *result)
        return result

    def checkpoint() -> None:
        wall = schedule.wall_time_s + time.perf_counter() - session_start
        _save_checkpoint(out, algorithm, model, config, log, _replace(schedule, wall_time_s=wall))

    class _Loop(BaseCallback):
        last_report = start_steps

        def _on_step(self) -> bool:
            log.record_infos(self.locals["infos"], self.num_timesteps)
            return not schedule.solved

        def _on_rollout_start(self) -> None:
            due = schedule.next_checkpoint
            if due is not None and self.num_timesteps >= due and self.num_timesteps > start_steps:
                schedule.next_checkpoint = _next(self.num_timesteps, config.checkpoint_every)
                checkpoint()

        def _on_rollout_end(self) -> None:
            steps = self.num_timesteps
            status = log.recent_status()
            if _eval_due(config, schedule, steps):
                if config.eval_every is not None:
                    schedule.next_eval = _next(steps, config.eval_every)
                mean, _, success = evaluate(steps)
                status += f", eval {mean:.1f}" + ("" if success != success else f" (success {success:.0%})")
                if _solved(config, mean, success):
                    schedule.solved = True
                    solved_at.update(steps=steps, params=copy.deepcopy(model.policy.state_dict()))
            elif steps - self.last_report < PROGRESS_EVERY:
                return
            self.last_report = steps
            if progress is not None:
                progress(steps, config.total_timesteps, status)

    try:
        model.learn(
            total_timesteps=config.total_timesteps - start_steps,
            callback=[_Loop(), *callbacks],
            reset_num_timesteps=folder is None,
        )
        if solved_at:  # undo the gradient updates SB3 ran after the solving evaluation
            model.policy.load_state_dict(solved_at["params"])
            model.num_timesteps = solved_at["steps"]
        elif not log.eval_steps or log.eval_steps[-1] != model.num_timesteps:
            evaluate(model.num_timesteps)
        if config.checkpoint_every is not None:
            checkpoint()  # the final state: `--resume --timesteps N` trains a finished run further
    except BaseException as err:
        wall = time.perf_counter() - session_start
        steps = int(model.num_timesteps)
        if isinstance(err, KeyboardInterrupt):
            manifest.end("interrupted", wall_time_s=wall, to_steps=steps)
        else:
            manifest.end("failed", wall_time_s=wall, to_steps=steps, error=f"{type(err).__name__}: {err}")
        env.close()
        eval_env.close()
        raise
    wall_time = schedule.wall_time_s + time.perf_counter() - session_start
    mean, _, success = log.last_eval
    result = write_outputs(
        model, out, config=config, log=log, wall_time=wall_time, solved=_solved(config, mean, success)
    )
    manifest.end(
        "finished",
        wall_time_s=time.perf_counter() - session_start,
        to_steps=result.env_steps,
        results={k: v for k, v in result.summary().items() if k != "history"},
        outputs={"model": "model.zip", "summary": "training.json", "curve": "training_curve.png"},
    )
    env.close()
    eval_env.close()
    return result


def _eval_due(config: TrainConfig, schedule: _Schedule, steps: int) -> bool:
    if config.eval_every is None:  # after every rollout, while there is a target to reach
        return config.target_return is not None or config.target_success_rate is not None
    return steps >= schedule.next_eval


def _solved(config: TrainConfig, mean: float, success_rate: float) -> bool:
    by_return = config.target_return is not None and mean >= config.target_return
    by_success = config.target_success_rate is not None and success_rate >= config.target_success_rate
    return bool(by_return or by_success)


def _next(steps: int, every: int | None) -> int | None:
    """The first multiple of ``every`` above ``steps`` (``None`` when ``every`` is)."""
    return None if every is None else (steps // every + 1) * every


def _replace(schedule: _Schedule, **changes: Any) -> _Schedule:
    return _Schedule(**{**schedule.to_json(), **changes})


def _resumable(config: TrainConfig, out: Path) -> Path:
    """The latest checkpoint of ``out``, after checking that ``config`` continues that run."""
    folder = latest_checkpoint(out)
    saved = checkpoint_config(out)  # ConfigError when there is no checkpoint
    assert folder is not None
    ours, theirs = config.model_dump(mode="json"), saved.model_dump(mode="json")
    changed = sorted(k for k in ours if ours[k] != theirs[k] and k not in RESUMABLE_CHANGES)
    if changed:
        raise ConfigError(
            f"cannot resume the run in {out} with a different {', '.join(changed)} "
            f"(the run has {', '.join(f'{k}={theirs[k]!r}' for k in changed)})",
            hint="a resumed run may only change total_timesteps and checkpoint_every; "
            "start a new run in another --out folder to change the rest",
        )
    return folder


def _save_checkpoint(
    out: Path, algorithm: Any, model: Any, config: TrainConfig, log: RunLog, schedule: _Schedule
) -> Path:
    """Write ``checkpoints/<steps>/``, then point ``checkpoints/latest.json`` at it, then drop older ones."""
    root = out / CHECKPOINTS
    steps = int(model.num_timesteps)
    folder = root / f"{steps:012d}-{time.time_ns()}"  # never the folder latest.json may still name
    folder.mkdir(parents=True)
    model.save(folder / "model.zip")
    algorithm.save_state(model, folder)
    write_json_atomic(
        folder / "progress.json",
        {
            "steps": steps,
            "config": config.model_dump(mode="json"),
            "log": log.to_json(),
            "schedule": schedule.to_json(),
        },
    )
    write_json_atomic(root / "latest.json", {"folder": folder.name, "steps": steps})
    for old in root.iterdir():
        if old.is_dir() and old != folder:
            shutil.rmtree(old)
    return folder
