"""The shipped reaching policies solve their tasks: torch-free, from the file alone, on seeded episodes.

Each file is what ``clankers train <task>`` then ``clankers export`` produced (docs/tasks.md, Measured
results; its training manifest sits beside it). A change to a task that breaks its policy fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from clankers.envs import make_env
from clankers.sim.robot import ASSETS_DIR

POLICIES = {task: ASSETS_DIR / "policies" / f"{task}.onnx" for task in ("arm_reach6", "two_arm_reach")}


def shipped(task: str) -> object:
    path = POLICIES[task]
    if not path.is_file():
        pytest.skip(f"{path.name} is not in this checkout (clankers train {task}, then clankers export)")
    from clankers.policy import OnnxPolicy

    return OnnxPolicy(path)


@pytest.mark.parametrize("task", sorted(POLICIES))
def test_shipped_policy_reaches_the_targets(task: str) -> None:
    policy = shipped(task)
    env = make_env(task)
    assert policy.metadata.observation_layout == list(env.unwrapped.observation_names)  # type: ignore[attr-defined]
    successes = []
    for seed in range(40):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy.act(obs))  # type: ignore[attr-defined]
            done = terminated or truncated
        successes.append(info["is_success"])
    # measured on 1,000 fresh episodes: 94.8% (ArmReach6), 96.3% (TwoArmReach); doing nothing reaches 0%
    assert np.mean(successes) >= 0.8, f"{task}: {np.mean(successes):.0%} success on seeds 0-39"


@pytest.mark.parametrize("task", sorted(POLICIES))
def test_shipped_policy_states_velocity_servos_with_gravity_fed_forward(task: str) -> None:
    deploy = shipped(task).deploy  # type: ignore[attr-defined]
    env = make_env(task).unwrapped
    assert deploy.action_semantics == "velocity" and deploy.gravity_compensation is True
    assert deploy.joint_names == list(env.sim.action.names)  # type: ignore[attr-defined]
    assert deploy.control_dt == pytest.approx(env.dt)  # type: ignore[attr-defined]
