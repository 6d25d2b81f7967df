"""Distributed rollouts on Ray against the local threaded vector env, the per-call overhead, and a scaling
model built from the measured costs.

Everything runs on this machine, inside the network sandbox (:mod:`clankers.distributed.sandbox`: a
private network and PID namespace, so Ray talks on loopback only and leaves no process behind), against a
private local Ray. For N = 64 cart-poles, N = 64 envs of the heaviest registered task (the one with
the highest measured cost per env step) and N = 256 cart-poles, interleaved round by round (medians of rounds), 16 steps per
sample with uniformly random actions:

- **local threaded**: :func:`clankers.envs.sb3.make_sb3_vec_env` (SB3 semantics, one thread per core);
- **ray, 2 workers**: :class:`~clankers.distributed.sb3.RaySB3VecEnv`, 32 envs per worker (1 thread
  each), one remote call per worker per step: what ``clankers train --ray --num-workers 2`` runs;
- **ray, 1 worker x 2 threads**: all 64 envs in one actor with the local env's thread count, so the
  difference to local is the engine's cost alone (a call, serialization, the object store);
- **ray, 2 workers, 16 steps per call**: :meth:`RaySB3VecEnv.step_sequence` (open-loop action blocks).

Then the costs the scaling model needs: a no-op actor call's round trip, the extra cost of a step call
over stepping the same env in-process, one env step on one core, submitting one remote call, SB3 PPO's
action selection for a batch and its update per transition.

    python -m benchmarks.run distributed
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import compare, machine_line
from clankers.distributed.sandbox import in_sandbox, run_in_sandbox

ROOT = Path(__file__).resolve().parents[1]
N = 64
STEPS = 16  # env steps per timed sample
ACT_SIZES = (16, 64, 256, 1024, 4096)  # batch sizes of the learner's action selection
BEGIN, END = "<!-- bench_distributed: begin -->", "<!-- bench_distributed: end -->"


def main() -> str:
    """The BENCHMARKS.md section: measured inside the sandbox, in a child process."""
    if in_sandbox():
        return measure()
    result = run_in_sandbox([sys.executable, "-m", "benchmarks.bench_distributed"], timeout=1800, cwd=ROOT)
    out = result.stdout
    if result.returncode != 0 or BEGIN not in out:
        raise RuntimeError(f"bench_distributed failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    return out.split(BEGIN, 1)[1].split(END, 1)[0].strip()


# --- measurements ---------------------------------------------------------------------------------------


def _per_env_step_cost(env_id: str, num_envs: int = 16, steps: int = 30) -> float:
    """Seconds per env step with one thread (random actions), to rank the tasks by cost."""
    import gymnasium as gym

    venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", num_threads=1)
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    low, high = venv.single_action_space.low, venv.single_action_space.high
    actions = rng.uniform(low, high, size=(steps, num_envs, *venv.single_action_space.shape))
    start = time.perf_counter()
    for a in actions:
        venv.step(a)
    cost = (time.perf_counter() - start) / (steps * num_envs)
    venv.close()
    return cost


def heaviest_task() -> tuple[str, dict[str, float]]:
    """The registered task with the highest cost per env step, and every task's cost."""
    from clankers.envs import registered_tasks, resolve_task

    costs = {}
    for name in registered_tasks():
        try:
            costs[name] = min(_per_env_step_cost(resolve_task(name)) for _ in range(3))  # least disturbed
        except Exception as err:  # a task this machine cannot build (optional assets): not a candidate
            print(f"skipping {name}: {type(err).__name__}: {err}", file=sys.stderr)
    return max(costs, key=costs.__getitem__), costs


def _action_blocks(space: Any, rounds: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(space.low, space.high, size=(rounds, STEPS, n, *space.shape)).astype(np.float32)


def rollout_throughput(task: str, rounds: int, n: int = N) -> dict[str, float]:
    """Seconds per sample of STEPS steps of ``n`` envs, per alternative (interleaved)."""
    from clankers.distributed.sb3 import RaySB3VecEnv
    from clankers.envs.sb3 import make_sb3_vec_env

    local = make_sb3_vec_env(task, n, seed=0)
    ray2 = RaySB3VecEnv(task, n, num_workers=2, seed=0)
    ray1 = RaySB3VecEnv(task, n, num_workers=1, seed=0, threads_per_worker=local.venv.num_threads)
    blocks = _action_blocks(local.action_space, 64, n)
    envs = {"local": local, "ray2": ray2, "ray1": ray1}
    for env in envs.values():
        env.reset()
    counter = {"i": 0}

    def block() -> np.ndarray:
        counter["i"] += 1
        return blocks[counter["i"] % len(blocks)]

    def stepper(env: Any) -> Any:
        def run() -> None:
            for a in block():
                env.step(a)

        return run

    times = compare(
        {
            "local threaded": stepper(local),
            "ray, 2 workers": stepper(ray2),
            "ray, 1 worker x 2 threads": stepper(ray1),
            f"ray, 2 workers, {STEPS} steps per call": lambda: ray2.step_sequence(block()),
        },
        number=1,
        rounds=rounds,
        warmup=3,
    )
    for env in envs.values():
        env.close()
    return times


def call_costs(rounds: int = 15) -> dict[str, float]:
    """The engine's fixed costs, in seconds."""
    import ray

    from clankers.distributed.env_worker import EnvSliceWorker
    from clankers.envs import resolve_task

    env_id = resolve_task("cartpole")
    actor = ray.remote(EnvSliceWorker).options(num_cpus=1).remote(env_id, 1, {}, 1)
    ray.get(actor.describe.remote())
    local = EnvSliceWorker(env_id, 1, {}, 1)
    seeds, options = [0], [{}]
    ray.get(actor.reset.remote(seeds, options))
    local.reset(seeds, options)
    action = np.zeros((1, 2), dtype=np.float32)
    noop = lambda: ray.get(actor.get_attr.remote("dt", []))  # noqa: E731
    times = compare(
        {
            "no-op actor call": noop,
            "step call, 1 env": lambda: ray.get(actor.step.remote(action)),
            "in-process step, 1 env": lambda: local.step(action),
            "submit one call (no wait)": lambda: actor.get_attr.remote("dt", []),
        },
        number=20,
        rounds=rounds,
    )
    ray.kill(actor)
    return times


def learner_costs(task: str) -> dict[str, Any]:
    """SB3 PPO (the cart-pole recipe's network and update settings) on N envs: action selection (seconds
    per batch, for each size in ACT_SIZES) and the update (seconds per transition)."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    from clankers.envs.sb3 import make_sb3_vec_env
    from clankers.train import recipe_for

    torch.set_num_threads(1)
    config = recipe_for("cartpole")
    kwargs = config.hyperparams.sb3_kwargs()
    n_steps = 32
    kwargs["n_steps"] = n_steps
    env = make_sb3_vec_env(task, N, seed=0)
    model = PPO("MlpPolicy", env, seed=0, device="cpu", **kwargs)
    marks: list[tuple[str, float]] = []

    class Clock(BaseCallback):
        def _on_rollout_start(self) -> None:
            marks.append(("start", time.perf_counter()))

        def _on_rollout_end(self) -> None:
            marks.append(("end", time.perf_counter()))

        def _on_step(self) -> bool:
            return True

    model.learn(total_timesteps=N * n_steps * 3, callback=Clock())
    updates = [marks[i + 1][1] - marks[i][1] for i in range(len(marks) - 1) if marks[i][0] == "end"]
    act = {}
    with torch.no_grad():
        for size in ACT_SIZES:
            obs = torch.as_tensor(np.stack([env.observation_space.sample() for _ in range(size)]))
            act[size] = compare({"act": lambda o=obs: model.policy(o)}, number=10, rounds=9)["act"]
    env.close()
    return {"act": act, "update_per_transition": statistics.median(updates) / (N * n_steps)}


# --- the report -----------------------------------------------------------------------------------------


def _sps(seconds_per_block: float, n: int = N) -> float:
    return n * STEPS / seconds_per_block


def _scaling_rows(
    t_env: float, c_step: float, t_submit: float, act: dict[int, float], update: float, envs_per_worker: int
) -> list[str]:
    rows = [
        "| workers K | envs N = 16K | one step (K x submit + call + 16 x env + act) | rollout SPS | "
        "PPO SPS (with updates) | time in updates |",
        "|---|---|---|---|---|---|",
    ]
    for k in (1, 4, 16, 64, 256):
        n = envs_per_worker * k
        step = (
            k * t_submit
            + c_step
            + envs_per_worker * t_env
            + float(np.interp(n, list(act), list(act.values())))
        )
        rollout = n / step
        overall = 1 / (1 / rollout + update)
        rows.append(
            f"| {k} | {n} | {step * 1e3:.2f} ms | {rollout:,.0f} | {overall:,.0f} | "
            f"{update / (1 / rollout + update):.0%} |"
        )
    return rows


def measure() -> str:
    import ray

    from clankers.envs import resolve_task

    logging.getLogger("ray").setLevel(logging.WARNING)
    # 4 logical CPUs: the alternatives never run at the same time, but their actors must all fit.
    ray.init(num_cpus=4, include_dashboard=False, logging_level=logging.WARNING)
    heavy, task_costs = heaviest_task()
    lines = [
        "## Distributed rollouts (Ray) vs the local threaded vector env",
        "",
        f"Machine: {machine_line()}. A private local Ray inside the network sandbox, workers on this "
        f"machine; N = {N} envs, random actions, {STEPS} steps per sample, medians of interleaved rounds.",
        "",
        "Cost per env step, one thread, 16 envs (the heaviest task is benchmarked below): "
        + ", ".join(f"{name} {cost * 1e6:.0f} µs" for name, cost in task_costs.items())
        + ".",
        "",
    ]
    ratios = {}
    for task, n in (("cartpole", N), (heavy, N), ("cartpole", 4 * N)):
        times = rollout_throughput(task, rounds=15 if task == "cartpole" else 9, n=n)
        base = times["local threaded"]
        lines += [
            f"### {task} ({resolve_task(task)}), N = {n}",
            "",
            "| rollouts | env steps/s | vs local threaded |",
            "|---|---|---|",
        ]
        lines += [f"| {name} | {_sps(t, n):,.0f} | {base / t:.2f}x |" for name, t in times.items()]
        lines.append("")
        ratios[task, n] = base / times["ray, 2 workers"]

    calls = call_costs()
    t_env = _per_env_step_cost(resolve_task("cartpole"), num_envs=64, steps=40)
    c_step = calls["step call, 1 env"] - calls["in-process step, 1 env"]
    learner = learner_costs("cartpole")
    lines += [
        "### Fixed costs of the engine and of the learner",
        "",
        "| cost | measured |",
        "|---|---|",
        f"| no-op actor call, round trip | {calls['no-op actor call'] * 1e3:.3f} ms |",
        f"| step call of 1 env minus the same step in-process (per-call overhead c) | {c_step * 1e3:.3f} ms |",
        f"| submitting one remote call (no wait) | {calls['submit one call (no wait)'] * 1e6:.0f} µs |",
        f"| cart-pole env step, one core (t_env) | {t_env * 1e6:.1f} µs |",
        "| PPO action selection (64x64 MLP, torch, 1 thread), batch "
        + ", ".join(str(n) for n in learner["act"])
        + " | "
        + ", ".join(f"{t * 1e6:.0f}" for t in learner["act"].values())
        + " µs |",
        "| PPO update per transition (10 epochs, minibatch 64, 1 thread) | "
        f"{learner['update_per_transition'] * 1e6:.0f} µs |",
        "",
        f"Distributed (2 workers, one call per step) / local throughput at N = {N}: cart-pole "
        f"**{ratios['cartpole', N]:.2f}x**, {heavy} **{ratios[heavy, N]:.2f}x** (target >= 0.8x); cart-pole "
        f"at N = {4 * N}: **{ratios['cartpole', 4 * N]:.2f}x**. A step call costs the per-call overhead c "
        "on top of the slice's physics, so the ratio rises with the work per call: heavier envs, more "
        "envs per worker, or several steps per call.",
        "",
        "### Scaling model (on paper, from the costs above)",
        "",
        "Synchronous stepping with K single-core workers of 16 cart-poles each: one step costs the K call "
        "submissions, one call's overhead c, 16 env steps (the workers run in parallel) and the "
        "learner's action selection for all N envs; PPO then spends the update cost per transition "
        "collected. Throughput = N / step time for the rollouts, 1 / (1/rollout + update) with PPO's "
        "updates (it alternates collecting and learning).",
        "",
        *_scaling_rows(
            t_env,
            c_step,
            calls["submit one call (no wait)"],
            learner["act"],
            learner["update_per_transition"],
            16,
        ),
        "",
        f"The learner is the limit once the rollouts outrun the updates: beyond "
        f"{1 / learner['update_per_transition']:,.0f} transitions/s no number of workers helps PPO "
        "with these settings (a GPU learner, larger minibatches or fewer epochs move that line); the "
        "submissions (K per step) and the learner's batched action selection bound the rollouts "
        "themselves at large K.",
    ]
    ray.shutdown()
    return "\n".join(lines)


if __name__ == "__main__":
    body = main()
    print(BEGIN)
    print(body)
    print(END)
