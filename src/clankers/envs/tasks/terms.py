"""Term kinds of one's own: a function registered under a kind is usable from any task file.

::

    from clankers.envs.tasks import register_term

    @register_term("reward")                      # kind "upright_bonus", the function's name
    def upright_bonus(state, joint="pole_hinge", width=0.1):
        angle = state.qpos[state.scene.robot.layout.names.index(joint)]
        return float(np.exp(-((angle / width) ** 2)))

A task file then uses it like a built-in kind; the table's other keys are the function's keyword
arguments, checked against its signature when the file is read::

    [[rewards]]
    kind = "upright_bonus"
    width = 0.05
    weight = 0.5

The function gets the environment's :class:`~clankers.envs.tasks.state.TaskState` (joint positions,
velocities and the last command in layout order, named points and targets, the step count, and the
MuJoCo model and data as ``state.sim.model`` / ``state.sim.data``) and is called once per step.
The module that registers the kind must be imported before the file is read. A task file that must
stand alone (``clankers train my_task.toml``) names the function instead; the module may sit next to
the file::

    [[rewards]]
    kind = "python"
    func = "my_terms:upright_bonus"
    weight = 0.5

| category      | the function returns             | registration options | keys besides the params |
|---------------|----------------------------------|----------------------|-------------------------|
| `observation` | a fixed number of values         | `size`               | `name`, `noise`, `size` |
| `reward`      | a float, multiplied by `weight`  |                      | `name`, `weight`        |
| `termination` | true to end the episode          | `truncates`          | `name`, `truncates`     |
| `condition`   | true while the condition holds   |                      |                         |

A pydantic model with ``kind: Literal["..."]`` and a ``bind`` method, like the built-in kinds, may be
registered as well (``register_term("reward")(MyReward)``): it resolves names once and returns a closure,
the fastest form.

**Batched kinds** (``batched=True``) are computed once for all environments of a vector env: the
function gets the :class:`~clankers.envs.tasks.batch.BatchState` (``[N, ...]`` arrays) and returns one
value per environment, ``[N]`` (rewards, terminations) or ``[N, size]`` (observations; ``size`` is then
required). A task using one runs batched (:mod:`clankers.envs.tasks.batch`), a single environment as a
batch of one::

    @register_term("reward", batched=True)
    def feet_apart(batch, width=0.3):
        return np.abs(batch.qpos[:, 0] - batch.qpos[:, 3]) > width
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from clankers.envs.tasks.base import Term, TermLibrary
from clankers.envs.tasks.conditions import CONDITIONS
from clankers.envs.tasks.observations import OBSERVATIONS
from clankers.envs.tasks.rewards import REWARDS
from clankers.envs.tasks.terminations import TERMINATIONS
from clankers.errors import ConfigError

#: Category -> its library of kinds.
LIBRARIES: dict[str, TermLibrary] = {
    "observation": OBSERVATIONS,
    "reward": REWARDS,
    "termination": TERMINATIONS,
    "condition": CONDITIONS,
}
_OPTIONS = {
    "observation": {"size", "batched"},
    "reward": {"batched"},
    "termination": {"truncates", "batched"},
}

T = TypeVar("T")


def _library(category: str) -> TermLibrary:
    if category not in LIBRARIES:
        raise ConfigError(f"unknown term category {category!r}; use one of {sorted(LIBRARIES)}")
    return LIBRARIES[category]


def register_term(category: str, kind: str | None = None, **options: Any) -> Callable[[T], T]:
    """Decorator: register a function (or a term model) as a ``kind`` of ``category``.

    Args:
        category: ``"observation"``, ``"reward"``, ``"termination"`` or ``"condition"``.
        kind: the name task files use (default: the function's name; a model's ``kind`` field).
        **options: ``size`` (observations: how many values, else measured by one call), ``truncates``
            (terminations: the episode is cut short rather than ended, default False) or ``batched``
            (the function takes the batch and returns one value per environment, see above).

    Raises:
        ConfigError: the kind exists already (built in or registered), or an unknown option.
    """
    library = _library(category)
    unknown = sorted(set(options) - _OPTIONS.get(category, set()))
    if category == "observation" and options.get("batched") and not options.get("size"):
        raise ConfigError(
            "a batched observation kind needs size=... (it cannot be measured without a batch)",
            hint='e.g. @register_term("observation", batched=True, size=3)',
        )
    if unknown:
        raise ConfigError(
            f"{category} terms take no option(s) {unknown}",
            hint=f"options of {category} terms: {sorted(_OPTIONS.get(category, set())) or 'none'}",
        )

    def decorator(target: T) -> T:
        if isinstance(target, type) and issubclass(target, Term):
            if options:
                raise ConfigError(f"options {sorted(options)} apply to functions; a model declares its own")
            if kind is not None and target.model_fields.get("kind") is not None:
                declared = target.model_fields["kind"].default
                if declared != kind:
                    raise ConfigError(f"model {target.__name__} declares kind {declared!r}, not {kind!r}")
            library.add_model(target)
        else:
            library.add_function(kind or getattr(target, "__name__", ""), target, **options)  # type: ignore[arg-type]
        return target

    return decorator


def unregister_term(category: str, kind: str) -> None:
    """Forget a kind registered with :func:`register_term` (tests, notebooks redefining a function)."""
    _library(category).remove(kind)
