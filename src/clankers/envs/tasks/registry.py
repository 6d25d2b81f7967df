"""The task registry: one call registers a task, one resolver finds it from whatever a user typed.

A task is registered once, with everything that belongs to it::

    register_task(
        "my_task.toml",                                   # the task file (or a TaskConfig, or a mapping)
        recipe={"algo": "sac", "total_timesteps": 50_000},  # how to train it (optional), as data
        doc="...Gymnasium-style tables...",               # its documentation entry (optional)
    )

That call validates the file, registers the Gymnasium id (``gym.make`` and ``gym.make_vec`` with the
threaded vector env; ``spec.max_episode_steps`` is the task's horizon) and records the entry under the
task's short name. The shipped tasks are registered exactly so (:mod:`clankers.envs.tasks.builtin`).

The recipe is plain data (the fields of :class:`clankers.train.config.TrainConfig` except ``task`` and
``seed``); :mod:`clankers.train.recipes` interprets it, so this package never imports the training code.

:func:`resolve_task` is the one resolver every command uses. It accepts a short name (``cartpole``), a
clankers id (``clankers/CartPole-v1``), any other registered Gymnasium id (``CartPole-v1`` is Gymnasium's
own), or the path of a task file, which is registered on first use under its ``name``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym

from clankers.envs.tasks.config import TaskConfig, load_task_config
from clankers.envs.tasks.env import TaskEnv
from clankers.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TASK_FILE_SUFFIXES = (".toml", ".json")


@dataclass(frozen=True)
class RegisteredTask:
    """A registered task: its names, its definition, how to train it and its documentation.

    Attributes:
        name: the short name commands accept (``"cartpole"``).
        env_id: the Gymnasium id (``"clankers/CartPole-v1"``).
        config: the validated task definition.
        source: the task file it was read from (None for a config built in Python).
        recipe: the training recipe as data (TrainConfig fields), None when the task has none.
        doc: the documentation entry: Gymnasium-style tables of spaces, rewards, episode ends.
    """

    name: str
    env_id: str
    config: TaskConfig
    source: Path | None = None
    recipe: Mapping[str, Any] | None = None
    doc: str = ""
    factory: partial[TaskEnv] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "factory", partial(TaskEnv, self.config))

    def make(self, **kwargs: Any) -> TaskEnv:
        """A new environment of this task, unwrapped (``gym.make(env_id)`` adds Gymnasium's wrappers)."""
        return self.factory(**kwargs)


_TASKS: dict[str, RegisteredTask] = {}  # by short name, in registration order
_BY_ID: dict[str, str] = {}  # Gymnasium id -> short name


def default_env_id(name: str) -> str:
    """``"arm_reach"`` -> ``"clankers/ArmReach-v0"``."""
    return "clankers/" + "".join(part.capitalize() for part in name.split("_")) + "-v0"


def register_task(
    config: TaskConfig | Mapping[str, Any] | str | Path,
    *,
    name: str | None = None,
    env_id: str | None = None,
    recipe: Mapping[str, Any] | None = None,
    doc: str | None = None,
) -> RegisteredTask:
    """Register a task with Gymnasium and the clankers registry; return its entry.

    Args:
        config: the task file (.toml/.json), a :class:`TaskConfig` or a plain mapping; validated now, so
            a bad file fails here, not at ``gym.make``.
        name: the short name (default: the config's ``name``).
        env_id: the Gymnasium id (default: ``clankers/<CamelCaseName>-v0``).
        recipe: the training recipe as data, e.g. ``{"algo": "ppo", "total_timesteps": 30_000}``.
        doc: the documentation entry (default: the config's ``description``); indentation is removed
            as from a docstring.

    Registering the same task again (same name, id and config) returns the existing entry; a name or
    id taken by another task is a :class:`ConfigError`.
    """
    from clankers.envs.vector import vector_entry_point

    cfg = load_task_config(config)
    source = Path(config).resolve() if isinstance(config, (str, Path)) else None
    name = name or cfg.name
    if not _NAME.match(name):
        raise ConfigError(
            f"task name {name!r} must be letters, digits and underscores (a Python identifier)",
            hint="rename it, e.g. name = 'my_task'",
        )
    env_id = env_id or default_env_id(name)
    if recipe is not None and (not isinstance(recipe, Mapping) or "algo" not in recipe):
        raise ConfigError(
            f"the recipe of task {name!r} must be a mapping with an 'algo' key, got {recipe!r}",
            hint="e.g. recipe={'algo': 'ppo', 'total_timesteps': 30_000}",
        )
    existing = _TASKS.get(name) or (_TASKS[_BY_ID[env_id]] if env_id in _BY_ID else None)
    if existing is not None:
        if (existing.name, existing.env_id, existing.config) == (name, env_id, cfg):
            return existing
        origin = f" from {existing.source}" if existing.source else ""
        raise ConfigError(
            f"task {existing.name!r} ({existing.env_id}) is registered already{origin}, as another task",
            hint="give yours another `name` in its file (or pass name=... and env_id=... to register_task)",
        )
    if env_id in gym.registry:
        raise ConfigError(
            f"Gymnasium id {env_id!r} is registered already by something else", hint="pass another env_id"
        )
    entry = RegisteredTask(
        name=name,
        env_id=env_id,
        config=cfg,
        source=source,
        recipe=dict(recipe) if recipe is not None else None,
        doc=inspect.cleandoc(doc) if doc is not None else cfg.description,
    )
    gym.register(
        id=env_id,
        entry_point=entry.factory,  # type: ignore[arg-type]
        vector_entry_point=vector_entry_point(entry.factory),
        max_episode_steps=cfg.max_episode_steps,
    )
    _TASKS[name] = entry
    _BY_ID[env_id] = name
    return entry


def unregister_task(name: str) -> None:
    """Remove a task from the registry and from Gymnasium's (tests, notebooks re-registering a file)."""
    entry = _TASKS.pop(name, None)
    if entry is not None:
        del _BY_ID[entry.env_id]
        gym.registry.pop(entry.env_id, None)


def registered_tasks() -> dict[str, RegisteredTask]:
    """Every registered task by short name, in registration order (a copy)."""
    return dict(_TASKS)


def find_task(task: str | Path) -> RegisteredTask | None:
    """The registry entry of ``task`` (see :func:`resolve_task` for the forms it takes), or None for a
    Gymnasium id registered outside clankers.

    Raises:
        ConfigError: ``task`` is none of the accepted forms (the message lists the known tasks).
    """
    key = str(task)
    if key in _TASKS:
        return _TASKS[key]
    if key in _BY_ID:
        return _TASKS[_BY_ID[key]]
    if isinstance(task, Path) or key.endswith(_TASK_FILE_SUFFIXES):
        return _from_file(Path(key))
    if key in gym.registry:
        return None
    known = ", ".join(f"{t.name} ({t.env_id})" for t in _TASKS.values())
    raise ConfigError(
        f"unknown task {key!r}; known tasks: {known}",
        hint="pass a short name or Gymnasium id from that list, any registered Gymnasium id "
        "(e.g. CartPole-v1), or the path of a task .toml file",
    )


def resolve_task(task: str | Path) -> str:
    """The Gymnasium id of ``task``: a short name, a clankers id, any registered Gymnasium id, or the
    path of a task file (.toml/.json, registered on first use). :class:`ConfigError` otherwise."""
    entry = find_task(task)
    return entry.env_id if entry is not None else str(task)


def make_env(task: str | Path, **kwargs: Any) -> gym.Env:
    """``gym.make`` of any form :func:`resolve_task` accepts (``kwargs`` go to the environment)."""
    return gym.make(resolve_task(task), **kwargs)


def _from_file(path: Path) -> RegisteredTask:
    """Register (or find again) the task of a file; a name already taken by another task is an error."""
    if not path.is_file():
        raise ConfigError(
            f"task file {path} does not exist", hint="pass the path of a .toml or .json task file"
        )
    cfg = load_task_config(path)
    existing = _TASKS.get(cfg.name)
    if existing is not None and existing.config == cfg:
        return existing  # e.g. a shipped task's own file: keeps its recipe and docs
    return register_task(path)
