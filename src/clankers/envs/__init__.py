"""Tasks as Gymnasium environments, registered under the ``clankers/`` namespace on import.

Every task is data (a task file) registered by one call (:func:`register_task`) with its training
recipe and documentation; :func:`resolve_task` turns what a user typed (short name, Gymnasium id, or
the path of a task file) into a Gymnasium id, for every command. :func:`make_env` accepts the same.
"""

from __future__ import annotations

from clankers.envs.tasks import builtin as _builtin  # noqa: F401 - registers the shipped tasks
from clankers.envs.tasks.registry import (
    RegisteredTask,
    find_task,
    make_env,
    register_task,
    registered_tasks,
    resolve_task,
)

__all__ = [
    "RegisteredTask",
    "find_task",
    "make_env",
    "register_task",
    "registered_tasks",
    "resolve_task",
]
