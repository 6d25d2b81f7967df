"""Tasks declared by config: schema, open term libraries, the generic env, the registry, the shipped tasks.

A user's task is one TOML/JSON file; either build it directly::

    env = TaskEnv("my_task.toml")

or register it (single and vector Gymnasium entry points, a training recipe, documentation) and use it
like a shipped task, by any command::

    task = register_task("my_task.toml", recipe={"algo": "ppo"})   # "clankers/MyTask-v0" for name = "my_task"
    env = gymnasium.make(task.env_id)
    vec = gymnasium.make_vec(task.env_id, num_envs=8, vectorization_mode="vector_entry_point")

A term kind of one's own is a function registered with :func:`register_term` (or named in the file
with ``kind = "python"``, ``func = "module:function"``), see :mod:`clankers.envs.tasks.terms`.
"""

from __future__ import annotations

from clankers.envs.tasks.config import TaskConfig, load_task_config, shipped_task_config
from clankers.envs.tasks.env import TaskEnv
from clankers.envs.tasks.registry import (
    RegisteredTask,
    find_task,
    register_task,
    registered_tasks,
    resolve_task,
    unregister_task,
)
from clankers.envs.tasks.state import TaskState
from clankers.envs.tasks.terms import register_term, unregister_term

__all__ = [
    "RegisteredTask",
    "TaskConfig",
    "TaskEnv",
    "TaskState",
    "find_task",
    "load_task_config",
    "register_task",
    "register_term",
    "registered_tasks",
    "resolve_task",
    "shipped_task_config",
    "unregister_task",
    "unregister_term",
]
