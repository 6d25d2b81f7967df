"""Tasks declared by config: schema, term libraries, the generic env and the shipped tasks.

A user's task is one TOML/JSON file; either build it directly::

    env = TaskEnv("my_task.toml")

or register it with Gymnasium (single and vector entry points) and use it like a shipped task::

    env_id = register_task("my_task.toml")          # "clankers/MyTask-v0" for name = "my_task"
    env = gymnasium.make(env_id)
    vec = gymnasium.make_vec(env_id, num_envs=8, vectorization_mode="vector_entry_point")
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym

from clankers.envs.tasks.config import TaskConfig, load_task_config, shipped_task_config
from clankers.envs.tasks.env import TaskEnv
from clankers.errors import ConfigError


def register_task(config: TaskConfig | Mapping[str, Any] | str | Path, env_id: str | None = None) -> str:
    """Register a task config as a Gymnasium id and return the id.

    The config is validated (and its files resolved) now, so a bad file fails here, not at ``make``.
    The default id is ``clankers/<CamelCaseName>-v0``. Registering an id that exists is an error
    unless it was registered by this function for an identical config.
    """
    from clankers.envs.vector import vector_entry_point

    cfg = load_task_config(config)
    env_id = env_id or "clankers/" + "".join(part.capitalize() for part in cfg.name.split("_")) + "-v0"
    if env_id in gym.registry:
        existing = gym.registry[env_id].entry_point
        if isinstance(existing, partial) and existing.args == (cfg,):
            return env_id
        raise ConfigError(f"Gymnasium id {env_id!r} is already registered; pass another env_id")
    factory = partial(TaskEnv, cfg)
    gym.register(id=env_id, entry_point=factory, vector_entry_point=vector_entry_point(factory))  # type: ignore[arg-type]
    return env_id


__all__ = ["TaskConfig", "TaskEnv", "load_task_config", "register_task", "shipped_task_config"]
