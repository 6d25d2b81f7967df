"""Tasks as Gymnasium environments, registered under the ``clankers/`` namespace on import.

Short task names (as used by the CLI and the wire server) map to Gymnasium ids through :data:`TASKS`;
:func:`make_env` accepts either.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from clankers.envs.vector import vector_entry_point
from clankers.errors import ConfigError

TASKS: dict[str, str] = {
    "cartpole": "clankers/CartPole-v0",
    "pendulum": "clankers/Pendulum-v0",
    "arm_reach": "clankers/ArmReach-v0",
    "arm_reach6": "clankers/ArmReach6-v0",
    "two_arm_reach": "clankers/TwoArmReach-v0",
}

_ENTRY_POINTS: dict[str, str] = {
    "clankers/CartPole-v0": "clankers.envs.cartpole:CartPoleEnv",
    # Config-driven tasks (assets/tasks/*.toml), see clankers.envs.tasks.
    "clankers/Pendulum-v0": "clankers.envs.tasks.builtin:PendulumEnv",
    "clankers/ArmReach-v0": "clankers.envs.tasks.builtin:ArmReachEnv",
    "clankers/ArmReach6-v0": "clankers.envs.tasks.builtin:ArmReach6Env",
    "clankers/TwoArmReach-v0": "clankers.envs.tasks.builtin:TwoArmReachEnv",
}


def _register_all() -> None:
    for env_id, entry_point in _ENTRY_POINTS.items():
        if env_id not in gym.registry:
            # vector_entry_point: gym.make_vec(env_id, num_envs=N) builds the threaded ClankersVectorEnv.
            gym.register(
                id=env_id, entry_point=entry_point, vector_entry_point=vector_entry_point(entry_point)
            )


def resolve_task(task: str) -> str:
    """The Gymnasium id for a short task name or an id; :class:`ConfigError` names the known tasks."""
    if task in TASKS:
        return TASKS[task]
    if task in _ENTRY_POINTS:
        return task
    known = ", ".join(f"{name} ({env_id})" for name, env_id in TASKS.items())
    raise ConfigError(f"unknown task {task!r}; known tasks: {known}")


def make_env(task: str, **kwargs: Any) -> gym.Env:
    """Create a task's environment by short name (``"cartpole"``) or Gymnasium id."""
    return gym.make(resolve_task(task), **kwargs)


_register_all()

__all__ = ["TASKS", "make_env", "resolve_task"]
