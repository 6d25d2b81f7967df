"""Locomotion step cost: the batched Go1 velocity task against its bare physics, at N = 64.

``clankers/Go1Velocity-v0`` (example-robot-data's Go1, 5 ms physics, 4 substeps, position actions as
MuJoCo servos, 47 observations, 12 reward terms, 3 terminations, per-episode randomization and pushes)
in a :class:`~clankers.envs.vector.ClankersVectorEnv` of 64 envs in same-step auto-reset mode, against
bare ``mj_step(model, data, 4)`` on the same 64 models and datas with the same joint targets in ``ctrl``
(the servos then do the same work), dispatched by the same thread pool: the ratio is what the task adds
to the physics (pushes, copying state into the batch arrays, every term evaluated once over the batch,
infos, auto-resets). "Task alone" is the vector step with ``mj_step`` replaced by a no-op: the task's own
cost, free of the cache effects of interleaving it with the physics. Random actions in [-0.3, 0.3], so episodes end and
reset during the measurement as in training. Also: the SB3 adapter's step (what PPO calls) and, for
contrast, the same 64 envs stepped one by one as single environments (each a batch of one: the
per-environment cost of Python terms). Target: the vector step <= 1.3x the bare physics.

Two clocks, interleaved round by round: wall time (what a training run waits) and process CPU time
(what the step costs, all threads together; far less disturbed by other processes on a loaded machine).

    python -m benchmarks.run locomotion
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import mujoco
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import machine_line

N = 64


def compare_clocks(
    alternatives: dict[str, Callable[[], object]], number: int, rounds: int, warmup: int = 5
) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds per call of each alternative, interleaved round by round."""
    for fn in alternatives.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in alternatives}
    for _ in range(rounds):
        for name, fn in alternatives.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(number):
                fn()
            samples[name].append(
                ((time.perf_counter() - wall) / number, (time.process_time() - cpu) / number)
            )
    return {
        name: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
        for name, values in samples.items()
    }


def _vector(num_threads: int):  # type: ignore[no-untyped-def]
    import gymnasium as gym

    from clankers.envs import find_task

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make_vec(
            find_task("go1_velocity").env_id,  # type: ignore[union-attr]
            num_envs=N,
            vectorization_mode="vector_entry_point",
            autoreset_mode="SameStep",
            num_threads=num_threads,
        )
    return env.unwrapped


def _section(num_threads: int) -> tuple[list[str], dict[str, tuple[float, float]]]:
    from clankers.envs.sb3 import ClankersSB3VecEnv

    venv = _vector(num_threads)
    venv.reset(seed=0)
    sb3 = ClankersSB3VecEnv(venv)
    rng = np.random.default_rng(0)
    actions = [rng.uniform(-0.3, 0.3, (N, 12)) for _ in range(64)]
    models = [env.sim.model for env in venv.envs]
    datas = [env.sim.data for env in venv.envs]
    counter = [0]

    def next_actions() -> np.ndarray:
        counter[0] = (counter[0] + 1) % len(actions)
        return actions[counter[0]]

    action = venv.envs[0].sim.action
    targets = np.zeros((N, 12))

    def bare_slice(k: int) -> None:
        for i in venv._claim(k):
            datas[i].ctrl[:] = targets[i]
            mujoco.mj_step(models[i], datas[i], 4)

    def bare() -> None:
        action.targets(next_actions(), out=targets)
        venv._run(bare_slice)

    def vector_step() -> None:
        venv.step(next_actions())

    def sb3_step() -> None:
        sb3.step_async(next_actions().astype(np.float32))
        sb3.step_wait()

    import clankers.sim.simulation as simulation

    class _NoPhysics:  # mujoco, but mj_step does nothing
        def __getattr__(self, name: str) -> object:
            return getattr(mujoco, name)

        @staticmethod
        def mj_step(*_args: object) -> None:
            return None

    def task_alone() -> None:
        simulation.mujoco = _NoPhysics()  # type: ignore[assignment]
        try:
            venv.step(next_actions())
        finally:
            simulation.mujoco = mujoco

    times = compare_clocks(
        {
            "bare mj_step x4 (same threads)": bare,
            "vector env step": vector_step,
            "SB3 adapter step": sb3_step,
            "task alone (mj_step a no-op)": task_alone,
        },
        number=10,
        rounds=15,
    )
    venv.close()
    return [], times


def _one_by_one() -> dict[str, tuple[float, float]]:
    """64 single TaskEnvs stepped in a loop (no batching across envs), against their bare physics."""
    from clankers.envs import find_task

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        envs = [find_task("go1_velocity").make() for _ in range(N)]  # type: ignore[union-attr]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.3, 0.3, (N, 12)).astype(np.float32)

    def singles() -> None:
        for env, action in zip(envs, actions, strict=True):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

    def bare() -> None:
        for env in envs:
            mujoco.mj_step(env.sim.model, env.sim.data, 4)

    return compare_clocks({"bare mj_step x4": bare, "64 single envs, one by one": singles}, 5, rounds=7)


def main() -> str:
    from clankers.envs.vector import available_cores

    rows = [
        "## Locomotion step (clankers/Go1Velocity-v0, batched terms)",
        "",
        f"Machine: {machine_line()}. {N} envs, random actions, same-step auto-resets; per batch step (all "
        f"{N} envs), medians of interleaved rounds.",
        "",
    ]
    started = time.perf_counter()
    for threads in sorted({1, available_cores()}):
        _, times = _section(threads)
        wall0, cpu0 = times["bare mj_step x4 (same threads)"]
        rows += [
            f"### {threads} thread{'s' if threads > 1 else ''}",
            "",
            "| call | wall per batch step | vs bare (wall) | CPU per env step | vs bare (CPU) |",
            "|---|---|---|---|---|",
        ]
        rows += [
            f"| {name} | {wall * 1e3:.2f} ms | {wall / wall0:.2f}x | {cpu / N * 1e6:.1f} µs | {cpu / cpu0:.2f}x |"
            for name, (wall, cpu) in times.items()
        ]
        rows.append("")
    single = _one_by_one()
    wall0, cpu0 = single["bare mj_step x4"]
    rows += [
        "### Without batching: the 64 envs as single environments, one by one (1 thread)",
        "",
        "| call | wall per 64 env steps | vs bare (wall) | vs bare (CPU) |",
        "|---|---|---|---|",
    ]
    rows += [
        f"| {name} | {wall * 1e3:.2f} ms | {wall / wall0:.2f}x | {cpu / cpu0:.2f}x |"
        for name, (wall, cpu) in single.items()
    ]
    rows += ["", f"(whole benchmark: {time.perf_counter() - started:.0f} s)"]
    return "\n".join(rows)


if __name__ == "__main__":
    print(main())
