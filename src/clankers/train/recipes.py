"""Training recipes: a task's registered recipe (plain data) turned into a :class:`TrainConfig`.

A recipe is registered with its task (:func:`clankers.envs.register_task`, ``recipe=...``) as the fields of
:class:`~clankers.train.config.TrainConfig` other than ``task`` and ``seed``; the shipped tasks' recipes
are in :mod:`clankers.envs.tasks.builtin`. A task without one (a user's task file, a Gymnasium id) is
trained with an algorithm's defaults by naming it (``algo``, ``clankers train ... --algo sac``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clankers.envs import find_task, registered_tasks
from clankers.errors import ConfigError
from clankers.train.config import TrainConfig, apply_overrides, with_algo


def recipe_for(
    task: str,
    *,
    algo: str | None = None,
    seed: int = 0,
    total_timesteps: int | None = None,
    num_envs: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """The training config of ``task`` (any form :func:`clankers.envs.resolve_task` accepts).

    Args:
        algo: ``"ppo"`` or ``"sac"``; required when the task has no recipe. With a recipe of another
            algorithm, the recipe's budget and targets stay and the hyperparameters become ``algo``'s defaults.
        seed, total_timesteps, num_envs: replace the recipe's values (None keeps them).
        overrides: further ``TrainConfig`` fields or hyperparameters by name (``{"learning_rate": 1e-3}``).

    Raises:
        ConfigError: unknown task, no recipe and no ``algo``, or an invalid value.
    """
    entry = find_task(task)
    recipe = dict(entry.recipe) if entry is not None and entry.recipe is not None else None
    if recipe is None:
        if algo is None:
            with_recipes = [t.name for t in registered_tasks().values() if t.recipe is not None]
            raise ConfigError(
                f"task {task!r} has no training recipe (tasks with one: {', '.join(with_recipes)})",
                hint="name an algorithm: --algo ppo or --algo sac (and --set KEY=VALUE to tune it)",
            )
        recipe = {"algo": algo}
    config = TrainConfig(task=task, seed=seed, **recipe)
    if algo is not None:
        config = with_algo(config, algo)
    changes = {"total_timesteps": total_timesteps, "num_envs": num_envs}
    config = config.replace(**{k: v for k, v in changes.items() if v is not None})
    return apply_overrides(config, dict(overrides)) if overrides else config
