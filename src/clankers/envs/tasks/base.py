"""What every term of the task libraries shares: strict, immutable models, and libraries open to users.

A term in a task file is a table with a ``kind``. Each category of terms (observations, rewards,
terminations, conditions) has a :class:`TermLibrary` that maps the kind to the pydantic model that
validates the table. The library is open: besides the built-in kinds, a user adds kinds of their own
(:func:`clankers.envs.tasks.register_term`): a model with a ``bind`` method like the built-in ones, or a
plain function ``f(state, **params)``. ``kind = "python"`` with ``func = "module:attr"`` names a function
without registering anything, which is how a task *file* brings its own term (``clankers train
my_task.toml`` imports the function; the module may sit next to the file). A function term's other keys
are the function's keyword arguments, checked against its signature when the file is read.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, PlainValidator, PrivateAttr, ValidationInfo, model_validator

from clankers.errors import ConfigError

Vector3 = tuple[float, float, float]

#: The ``kind`` that names a function by import path instead of a registered kind.
PYTHON_KIND = "python"


class Term(BaseModel):
    """Base of every declared term: frozen, and unknown keys are errors (a typo must not be ignored).

    Not :class:`clankers.sim.model.ConfigModel`, whose ``__init__`` turns errors into ``ConfigError``:
    pydantic calls a custom ``__init__`` for every nested model, which would wrap a bad reward's message
    once per level. :func:`~clankers.envs.tasks.config.load_task_config` converts once, at the top.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass
class _Function:
    func: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)


class TermLibrary:
    """The kinds of one category of terms, built in and registered, and the validation of a term table.

    ``annotation`` is the type to declare a field with (``rewards: list[REWARDS.annotation]``): pydantic
    then looks the kind up in this library at validation time, so kinds registered after the config
    classes were defined are accepted.
    """

    def __init__(self, category: str) -> None:
        self.category = category
        self.models: dict[str, type[Term]] = {}
        self.functions: dict[str, _Function] = {}
        self.function_model: type[FunctionTerm] | None = None
        self.annotation: Any = Annotated[Any, PlainValidator(self._validate)]

    def kinds(self) -> list[str]:
        return sorted([*self.models, *self.functions, PYTHON_KIND])

    def _free(self, kind: str) -> str:
        if not isinstance(kind, str) or not kind.isidentifier():
            raise ConfigError(f"{self.category} kind {kind!r} must be an identifier such as 'upright_bonus'")
        if kind == PYTHON_KIND or kind in self.models or kind in self.functions:
            raise ConfigError(
                f"{self.category} kind {kind!r} exists already; register yours under another name"
            )
        return kind

    def add_model(self, model: type[Term]) -> type[Term]:
        """Register a term model; its kind is the default of its ``kind`` field."""
        kind = model.model_fields["kind"].default if "kind" in model.model_fields else None
        if not hasattr(model, "bind"):
            raise ConfigError(f"{self.category} term model {model.__name__} needs a `bind` method")
        self.models[self._free(kind)] = model
        return model

    def add_function(self, kind: str, func: Callable[..., Any], **options: Any) -> None:
        if not callable(func):
            raise ConfigError(f"{self.category} kind {kind!r}: {func!r} is not callable")
        self.functions[self._free(kind)] = _Function(func, options)

    def remove(self, kind: str) -> None:
        """Forget a kind registered by a user (the built-in kinds stay)."""
        if kind in self.models and self.models[kind].__module__.startswith("clankers."):
            raise ConfigError(f"{self.category} kind {kind!r} is built in and cannot be removed")
        self.functions.pop(kind, None)
        self.models.pop(kind, None)

    def _validate(self, value: Any, info: ValidationInfo) -> Term:
        if isinstance(value, Term):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"a {self.category} term is a table with a `kind`, got {value!r}")
        kind = value.get("kind")
        if kind in self.models:
            return self.models[kind].model_validate(value, context=info.context)
        if (kind == PYTHON_KIND or kind in self.functions) and self.function_model is not None:
            return self.function_model.model_validate(value, context=info.context)
        raise ValueError(
            f"unknown {self.category} kind {kind!r}; known kinds: {self.kinds()}. A kind of your own: "
            f'kind = "python" with func = "module:function", or clankers.envs.tasks.register_term'
        )


def import_function(spec: str, base_dir: Path | None = None) -> Callable[..., Any]:
    """The callable named ``"module:attr"`` (``attr`` may be dotted). A module that is not importable
    as is is looked for in ``base_dir`` (the task file's folder) too."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"func {spec!r} must be 'module:function', e.g. 'my_terms:upright_bonus'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top = module_name.split(".")[0]
        local = base_dir is not None and (
            (base_dir / f"{top}.py").is_file() or (base_dir / top / "__init__.py").is_file()
        )
        if exc.name != top or not local:
            where = f" or next to the task file ({base_dir})" if base_dir is not None else ""
            raise ValueError(
                f"cannot import {module_name!r} for func {spec!r} ({exc}); put the module on the "
                f"Python path{where}"
            ) from exc
        sys.path.insert(0, str(base_dir))
        try:
            module = importlib.import_module(module_name)
        finally:
            sys.path.remove(str(base_dir))
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ValueError(f"module {module_name!r} has no attribute {attr!r} (func {spec!r})")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"func {spec!r} is not callable")
    return target


class FunctionTerm(Term):
    """A term computed by a Python function ``f(state, **params)`` (see the module docstring).

    The keys of the table that are not fields of the model are ``params``: the function's keyword
    arguments. Each category subclasses this with its own fields (a reward's ``weight``...) and ``bind``.
    """

    model_config = ConfigDict(frozen=True, extra="allow")
    library: ClassVar[TermLibrary]

    kind: str
    func: str | None = None
    _function: _Function = PrivateAttr()

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> FunctionTerm:
        category = self.library.category
        if self.kind == PYTHON_KIND:
            if not self.func:
                raise ValueError(f'{category} kind "python" needs func = "module:function"')
            base_dir = (info.context or {}).get("base_dir")
            function = _Function(import_function(self.func, base_dir))
        elif self.func is not None:
            raise ValueError(f'`func` goes with kind = "python"; {self.kind!r} is a registered kind')
        elif self.kind not in self.library.functions:
            raise ValueError(f"unknown {category} kind {self.kind!r}; register it before loading the task")
        else:
            function = self.library.functions[self.kind]
        try:
            inspect.signature(function.func).bind(None, **self.params)
        except TypeError as exc:
            raise ValueError(
                f"{category} {self.label!r}: the parameters {sorted(self.params)} do not fit "
                f"{getattr(function.func, '__name__', function.func)}{inspect.signature(function.func)} ({exc})"
            ) from exc
        except ValueError:  # a builtin without a signature: trust it
            pass
        self._function = function
        return self

    @property
    def params(self) -> dict[str, Any]:
        """The function's keyword arguments from the task file."""
        return dict(self.model_extra or {})

    @property
    def options(self) -> dict[str, Any]:
        """Options given when the kind was registered (e.g. an observation's ``size``)."""
        return self._function.options

    @property
    def label(self) -> str:
        name = getattr(self, "name", None)
        if name:
            return name
        return self.func.rpartition(":")[2].rpartition(".")[2] if self.kind == PYTHON_KIND else self.kind

    def call(self, state: Any) -> Callable[[], Any]:
        """``() -> f(state, **params)``: the per-step evaluation, with everything looked up once."""
        func, params = self._function.func, self.params
        return lambda: func(state, **params)


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Angles mapped to [-pi, pi): the shortest signed difference for continuous joints."""
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


def unique_labels(terms: list[Any], what: str) -> tuple[str, ...]:
    """The terms' labels, or :class:`ConfigError` naming those that repeat (the breakdown needs unique keys)."""
    labels = [t.label for t in terms]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ConfigError(f"{what} {duplicates} appear more than once; give each a distinct `name`")
    return tuple(labels)
