"""The wire protocol's cost: remote env steps/s vs in-process, JSON vs binary batch frames, and PPO
trained on a remote cart-pole vs in-process.

The server runs in its own process (as in real use), on this machine, over 127.0.0.1; it competes with
the client for the same 2 cores, so these are the numbers of the worst realistic case.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from benchmarks._timing import compare, machine_line, us

BATCH = 64


@contextmanager
def server(task: str, num_envs: int) -> Iterator[int]:
    """A ``clankers`` protocol server in a child process; yields its port."""
    code = (
        "from clankers.server import ServerConfig, env_source, serve\n"
        f"serve(env_source({task!r}), ServerConfig(port=0, num_envs={num_envs}),"
        " on_bound=lambda a: print(a[1], flush=True))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        yield int(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _stepper(env, actions: np.ndarray) -> Callable[[], object]:  # type: ignore[no-untyped-def]
    """One env step, resetting when an episode ends (the cost a training loop sees)."""
    env.reset(seed=0)
    state = {"k": 0}

    def step() -> object:
        state["k"] += 1
        out = env.step(actions[state["k"] % len(actions)])
        if out[2] or out[3]:
            env.reset()
        return out

    return step


def _batch_stepper(venv, actions: np.ndarray) -> Callable[[], object]:  # type: ignore[no-untyped-def]
    """One batch step of an SB3-style VecEnv (auto-resets inside)."""
    venv.seed(0)
    venv.reset()
    state = {"k": 0}

    def step() -> object:
        state["k"] += 1
        return venv.step(actions[state["k"] % len(actions)])

    return step


def _single_rows(task: str, label: str) -> list[str]:
    from clankers.envs import make_env
    from clankers.server import RemoteEnv

    rng = np.random.default_rng(0)
    local = make_env(task) if task == "cartpole" else __import__("gymnasium").make(task)
    if task == "cartpole":
        actions = rng.uniform(-1, 1, (256, 2)).astype(np.float32)
    else:
        actions = rng.integers(0, 2, 256)
    with server(task, 1) as port:
        remote = RemoteEnv("127.0.0.1", port)
        times = compare(
            {
                "in-process env.step": _stepper(local, actions),
                "remote env.step (RemoteEnv)": _stepper(remote, actions),
            },
            number=200,
            rounds=9,
        )
        rtt = float(np.median([remote.client.ping() for _ in range(500)]))
        remote.close()
    base = times["in-process env.step"]
    rows = [
        f"### Single env, {label}",
        "",
        "| path | per step | steps/s | vs in-process |",
        "|---|---|---|---|",
    ]
    for name, t in times.items():
        rows.append(f"| {name} | {us(t)} | {1 / t:,.0f} | {t / base:.1f}x |")
    rows += ["", f"- ping round trip (the protocol's floor): {us(rtt)}", ""]
    return rows


def _batch_rows(task: str, label: str) -> list[str]:
    from stable_baselines3.common.vec_env import DummyVecEnv

    from clankers.envs import make_env
    from clankers.server.sb3 import RemoteSB3VecEnv

    rng = np.random.default_rng(1)
    if task == "cartpole":
        make = lambda: make_env("cartpole")  # noqa: E731
        actions = rng.uniform(-1, 1, (64, BATCH, 2)).astype(np.float32)
    else:
        import gymnasium as gym

        make = lambda: gym.make(task)  # noqa: E731
        actions = rng.integers(0, 2, (64, BATCH))
    local = DummyVecEnv([make for _ in range(BATCH)])
    in_process = {"in-process DummyVecEnv": _batch_stepper(local, actions)}
    if task == "cartpole":
        from clankers.envs.sb3 import make_sb3_vec_env

        threaded = make_sb3_vec_env("cartpole", BATCH)
        in_process["in-process ClankersSB3VecEnv (threaded)"] = _batch_stepper(threaded, actions)
    with server(task, BATCH) as port:
        json_env = RemoteSB3VecEnv(
            "127.0.0.1", port, capabilities={"batch_step": True, "binary_batch": False}
        )
        binary_env = RemoteSB3VecEnv(
            "127.0.0.1", port, capabilities={"batch_step": True, "binary_batch": True}
        )
        assert binary_env.client.capabilities["binary_batch"]
        times = compare(
            {
                **in_process,
                "remote batch_step, JSON observations": _batch_stepper(json_env, actions),
                "remote batch_step, binary batch frame": _batch_stepper(binary_env, actions),
            },
            number=10,
            rounds=9,
            warmup=5,
        )
        json_env.close()
        binary_env.close()
    base = times["in-process DummyVecEnv"]
    rows = [
        f"### Batch of N = {BATCH}, {label} (SB3 VecEnv step, auto-reset included)",
        "",
        "Remote: `RemoteSB3VecEnv` against `clankers serve --num-envs 64` (clankers tasks step their batch",
        "on the server's threaded vector env); each step that finishes an episode costs a second round",
        "trip (`batch_reset` of the finished envs).",
        "",
        "| path | per batch step | env steps/s | vs in-process |",
        "|---|---|---|---|",
    ]
    for name, t in times.items():
        rows.append(f"| {name} | {us(t)} | {BATCH / t:,.0f} | {t / base:.2f}x |")
    j = times["remote batch_step, JSON observations"]
    b = times["remote batch_step, binary batch frame"]
    rows += ["", f"- binary frames vs JSON: {j / b:.2f}x faster per batch step", ""]
    return rows


def _ppo_rows() -> list[str]:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecMonitor

    from clankers.envs import make_env
    from clankers.server.sb3 import RemoteSB3VecEnv

    torch.set_num_threads(1)
    steps = 30_720  # 15 rollouts of 8 envs x 256 steps: the cart-pole recipe's budget
    hyper = {
        "n_steps": 256, "learning_rate": 3e-4, "gamma": 0.99, "gae_lambda": 0.95, "clip_range": 0.2,
        "n_epochs": 10, "batch_size": 64, "policy_kwargs": {"net_arch": {"pi": [64, 64], "vf": [64, 64]}},
    }  # fmt: skip

    def run(env) -> tuple[float, float, float, list]:  # type: ignore[no-untyped-def]
        model = PPO("MlpPolicy", env, seed=0, device="cpu", **hyper)
        start = time.perf_counter()
        model.learn(steps)
        wall = time.perf_counter() - start
        eval_env = make_vec_env(lambda: make_env("cartpole"), n_envs=1, seed=10_000)
        mean, std = evaluate_policy(model, eval_env, n_eval_episodes=20, deterministic=True)
        params = [p.detach().numpy().copy() for p in model.policy.parameters()]
        return wall, float(mean), float(std), params

    local = run(make_vec_env(lambda: make_env("cartpole"), n_envs=8, seed=0))
    with server("cartpole", 8) as port:
        env = RemoteSB3VecEnv("127.0.0.1", port)
        env.seed(0)
        remote = run(VecMonitor(env))
        env.close()
    identical = all(np.array_equal(a, b) for a, b in zip(local[3], remote[3], strict=True))
    rows = [
        f"### PPO on the cart-pole, {steps:,} env steps (8 envs x 256, the recipe's hyperparameters, seed 0)",
        "",
        "| where the envs run | wall time | deterministic eval (20 episodes) |",
        "|---|---|---|",
        f"| in-process (DummyVecEnv) | {local[0]:.1f} s | {local[1]:.1f} ± {local[2]:.1f} |",
        f"| remote (`clankers serve --num-envs 8`, RemoteSB3VecEnv, binary frames) | {remote[0]:.1f} s | "
        f"{remote[1]:.1f} ± {remote[2]:.1f} |",
        "",
        f"- trained weights bit-identical: **{'yes' if identical else 'NO'}**; remote / in-process wall time "
        f"{remote[0] / local[0]:.2f}x",
        "",
    ]
    return rows


def main() -> str:
    rows = [
        "## Wire protocol: remote vs in-process",
        "",
        machine_line(),
        "",
        "Server in a child process on the same machine, over 127.0.0.1 (it shares the 2 cores with the",
        "client). `python -m benchmarks.run server`.",
        "",
    ]
    rows += _single_rows("cartpole", "clankers cart-pole (MuJoCo)")
    rows += _batch_rows("cartpole", "clankers cart-pole (MuJoCo)")
    rows += _batch_rows("CartPole-v1", "Gymnasium CartPole-v1 (near-free env: the protocol's own cost)")
    rows += _ppo_rows()
    return "\n".join(rows)


if __name__ == "__main__":
    print(main())
