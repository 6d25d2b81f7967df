"""Termination terms and their composite: when an episode ends, and whether it *failed* or *ran out*.

Gymnasium distinguishes ``terminated`` (a terminal state: success or failure, no future reward) from
``truncated`` (the episode was cut short: the value of the state still counts when bootstrapping).
Getting this right matters for learning: a timeout reported as termination teaches the critic that the
last states of every episode are worthless. Each term therefore declares which of the two it produces,
and ``info["termination"]`` lists the terms that fired.

| kind           | fires when                                                         | ends as    |
|----------------|--------------------------------------------------------------------|------------|
| `joint_bounds` | a joint's position (or velocity) leaves ``[low, high]``            | terminated |
| `point_bounds` | a named point leaves the box ``[low, high]``                        | terminated |
| `success`      | the success condition has held for ``hold_steps`` consecutive steps | terminated |
| `timeout`      | ``steps`` control steps have elapsed (``max_episode_steps``)       | truncated  |
| `python`       | ``func(state, **params)`` is true (``func = "module:function"``)   | ``truncates = true``: truncated, else terminated |

A kind registered with :func:`clankers.envs.tasks.register_term` works like ``python``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from clankers.envs.tasks.base import FunctionTerm, Term, TermLibrary, Vector3, unique_labels
from clankers.envs.tasks.conditions import Check, Condition
from clankers.envs.tasks.state import TaskState
from clankers.errors import ConfigError

Fires = Callable[[], bool]

#: Every termination kind, built in and registered; ``TerminationTerm`` is the field type.
TERMINATIONS = TermLibrary("termination")
TerminationTerm = TERMINATIONS.annotation


class _Named(Term):
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.kind  # type: ignore[attr-defined]

    truncates: ClassVar[bool] = False


class JointBounds(_Named):
    kind: Literal["joint_bounds"] = "joint_bounds"
    robot: str | None = None
    joints: list[str] | None = None
    position: tuple[float, float] | None = None
    velocity: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _something_to_check(self) -> JointBounds:
        if self.position is None and self.velocity is None:
            raise ValueError("joint_bounds needs `position = [low, high]` and/or `velocity = [low, high]`")
        for bounds in (self.position, self.velocity):
            if bounds is not None and not bounds[0] < bounds[1]:
                raise ValueError(f"bounds {list(bounds)} must be [low, high] with low < high")
        return self

    def bind(self, state: TaskState, success: Check | None) -> Fires:
        idx, qpos, qvel = state.joint_indices(self.robot, self.joints), state.qpos, state.qvel
        plo, phi = self.position or (-math.inf, math.inf)
        vlo, vhi = self.velocity or (-math.inf, math.inf)
        if len(idx) == 1:  # the common case (cart-pole's limits): scalar compares, ~20x cheaper than arrays
            i = int(idx[0])
            return lambda: bool(qpos[i] < plo or qpos[i] > phi or qvel[i] < vlo or qvel[i] > vhi)

        def fires() -> bool:
            q, v = qpos[idx], qvel[idx]
            return bool(np.any((q < plo) | (q > phi) | (v < vlo) | (v > vhi)))

        return fires


class PointBounds(_Named):
    kind: Literal["point_bounds"] = "point_bounds"
    point: str
    low: Vector3
    high: Vector3

    def bind(self, state: TaskState, success: Check | None) -> Fires:
        point = state.position(self.point)
        low, high = np.array(self.low), np.array(self.high)
        return lambda: bool(np.any((point < low) | (point > high)))


class SuccessTermination(_Named):
    kind: Literal["success"] = "success"
    condition: Condition | None = None
    hold_steps: int = Field(default=1, ge=1)

    def bind(self, state: TaskState, success: Check | None) -> Fires:
        check = self.condition.bind(state) if self.condition is not None else success
        if check is None:
            raise ConfigError(
                "termination 'success' needs a condition: declare the task's [success] or give one"
            )
        held = [0]
        hold = self.hold_steps

        def fires() -> bool:
            if state.step_count == 1:  # a new episode: forget the previous one's streak
                held[0] = 0
            held[0] = held[0] + 1 if check() else 0
            return held[0] >= hold

        return fires


class Timeout(_Named):
    kind: Literal["timeout"] = "timeout"
    steps: int = Field(ge=1)
    truncates: ClassVar[bool] = True

    def bind(self, state: TaskState, success: Check | None) -> Fires:
        steps = self.steps
        return lambda: state.step_count >= steps


class FunctionTermination(FunctionTerm):
    """Fires when ``func(state, **params)`` is true; ``truncates`` (default: as registered, else false)
    says whether that is a truncation (the episode was cut short) or a termination."""

    model_config = ConfigDict(frozen=True, extra="allow")
    library = TERMINATIONS
    name: str | None = None
    truncates: bool = False

    @model_validator(mode="before")
    @classmethod
    def _registered_default(cls, values: Any) -> Any:
        registered = TERMINATIONS.functions.get(values.get("kind")) if isinstance(values, dict) else None
        if registered is not None and "truncates" not in values:
            return {**values, "truncates": bool(registered.options.get("truncates", False))}
        return values

    def bind(self, state: TaskState, success: Check | None) -> Fires:
        value = self.call(state)
        return lambda: bool(value())


for _model in (JointBounds, PointBounds, SuccessTermination, Timeout):
    TERMINATIONS.add_model(_model)
TERMINATIONS.function_model = FunctionTermination


class CompositeTermination:
    """Evaluates every term each step; ``terminated``/``truncated`` are ORs over their kinds."""

    def __init__(self, terms: Sequence[TerminationTerm], state: TaskState, success: Check | None) -> None:
        self.labels = unique_labels(list(terms), "termination terms")
        self._bound = [(t.label, t.truncates, t.bind(state, success)) for t in terms]

    def __call__(self) -> tuple[bool, bool, list[str]]:
        """``(terminated, truncated, labels that fired)``; every term runs, so stateful ones stay current."""
        terminated = truncated = False
        fired: list[str] = []
        for label, truncates, fires in self._bound:
            if fires():
                fired.append(label)
                if truncates:
                    truncated = True
                else:
                    terminated = True
        return terminated, truncated, fired
