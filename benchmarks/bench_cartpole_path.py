"""The deploy path's costs: policy inference (OnnxPolicy vs bare onnxruntime vs SB3 vs torch) and the
cart-pole env step (vs its physics and vs Gymnasium's CartPole-v1).

Targets (issue 2): ``act`` within 1.2x of bare ``InferenceSession.run`` and >= 10x faster than SB3
``predict``; the env step within 1.3x of its physics cost (substeps x bare ``mj_step``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
import onnxruntime as ort
import torch

from benchmarks._timing import compare, machine_line, ratio_table


def _policy_rows(workdir: Path) -> list[str]:
    from stable_baselines3 import PPO

    from clankers.envs import make_env
    from clankers.export import export_sb3
    from clankers.export.sb3 import build_actor
    from clankers.policy import OnnxPolicy
    from clankers.policy.runtime import session_options

    model = PPO(
        "MlpPolicy",
        make_env("cartpole"),
        seed=0,
        device="cpu",
        policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]}},
    )
    model.save(workdir / "model.zip")
    export_sb3(workdir / "model.zip", workdir / "policy.onnx", n_samples=1000)
    torch.set_num_threads(1)

    policy = OnnxPolicy(workdir / "policy.onnx")
    tuned = ort.InferenceSession(
        str(workdir / "policy.onnx"), session_options(), providers=["CPUExecutionProvider"]
    )
    default = ort.InferenceSession(str(workdir / "policy.onnx"), providers=["CPUExecutionProvider"])
    actor = build_actor(model, "PPO").module
    obs1 = np.random.default_rng(0).uniform(-1, 1, size=4).astype(np.float32)
    feed1 = {"obs": obs1.reshape(1, 4)}
    obs_batch = np.random.default_rng(1).uniform(-1, 1, size=(1024, 4)).astype(np.float32)
    feed_batch = {"obs": obs_batch}
    torch_batch = torch.from_numpy(obs_batch)

    def torch_forward() -> object:
        with torch.no_grad():
            return actor(torch_batch)

    single = compare(
        {
            "OnnxPolicy.act": lambda: policy.act(obs1),
            "bare InferenceSession.run (same options)": lambda: tuned.run(None, feed1),
            "bare InferenceSession.run (default options)": lambda: default.run(None, feed1),
            "SB3 predict(deterministic=True)": lambda: model.predict(obs1, deterministic=True),
        },
        number=200,
    )
    batch = compare(
        {
            "OnnxPolicy.act_batch": lambda: policy.act_batch(obs_batch),
            "bare InferenceSession.run": lambda: tuned.run(None, feed_batch),
            "torch forward (no_grad, 1 thread)": torch_forward,
        },
        number=50,
    )
    act = single["OnnxPolicy.act"]
    bare = single["bare InferenceSession.run (same options)"]
    rows = ratio_table("Policy inference, batch 1 (64x64 PPO actor)", single, "OnnxPolicy.act")
    rows += [
        "",
        f"- `act` / bare run: **{act / bare:.2f}x** (target <= 1.2x): "
        f"{'met' if act / bare <= 1.2 else 'MISSED'}",
        f"- SB3 predict / `act`: **{single['SB3 predict(deterministic=True)'] / act:.1f}x** (target >= 10x): "
        f"{'met' if single['SB3 predict(deterministic=True)'] / act >= 10 else 'MISSED'}",
        "",
    ]
    return rows + ratio_table("Policy inference, batch 1024", batch, "OnnxPolicy.act_batch")


def _env_rows() -> list[str]:
    import clankers.envs  # noqa: F401 - registers clankers/CartPole-v1

    ours = gym.make("clankers/CartPole-v1")
    raw = ours.unwrapped
    gym_cartpole = gym.make("CartPole-v1").unwrapped
    model, data = raw.sim.model, mujoco.MjData(raw.sim.model)
    substeps = raw.sim.substeps
    zero = np.zeros(2, dtype=np.float32)
    ours.reset(seed=0)
    raw.reset(seed=0)
    gym_cartpole.reset(seed=0)

    def stepper(env: gym.Env, action: object) -> Callable[[], None]:
        def step() -> None:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

        return step

    def physics() -> None:
        mujoco.mj_step(model, data, nstep=substeps)

    def physics_single_calls() -> None:
        for _ in range(substeps):
            mujoco.mj_step(model, data)

    times = compare(
        {
            "clankers/CartPole-v1 step (gym.make, with wrappers)": stepper(ours, zero),
            "TaskEnv.step (unwrapped)": stepper(raw, zero),
            f"physics: mj_step(nstep={substeps})": physics,
            f"physics: {substeps} x mj_step": physics_single_calls,
            "Gymnasium CartPole-v1 step (unwrapped, analytic Euler)": stepper(gym_cartpole, 0),
        },
        number=300,
    )
    phys = times[f"physics: mj_step(nstep={substeps})"]
    raw_t = times["TaskEnv.step (unwrapped)"]
    rows = ratio_table(
        "Cart-pole env step (20 substeps of 1 ms)", times, f"physics: mj_step(nstep={substeps})", "per step"
    )
    rows += [
        "",
        f"- unwrapped env step / physics: **{raw_t / phys:.2f}x** (target <= 1.3x): "
        f"{'met' if raw_t / phys <= 1.3 else 'MISSED'}",
        f"- through `gym.make` (OrderEnforcing + PassiveEnvChecker wrappers): "
        f"{times['clankers/CartPole-v1 step (gym.make, with wrappers)'] / phys:.2f}x",
    ]
    return rows


def main() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            f"## Deploy path: inference and env step\n\n{machine_line()}\n",
            *_policy_rows(Path(tmp)),
            "",
            *_env_rows(),
        ]
    return "\n".join(rows)


if __name__ == "__main__":
    print(main())
