"""Conditions: named yes/no questions about the task state (is the goal reached?).

A task declares its ``success`` condition once; the ``success`` reward term, the ``success``
termination term and ``info["is_success"]`` (which SB3 averages into its success rate) all ask it.

| kind             | holds when                                                           |
|------------------|----------------------------------------------------------------------|
| `distance_below` | ``|a - b| < threshold`` for two points/targets ``a`` and ``b``        |
| `joint_near`     | every selected joint is within ``tolerance`` of ``target`` (and, if given, slower than ``velocity_tolerance``) |
| `all_of`         | every listed condition holds (e.g. each arm of a two-arm scene at its target) |
| `python`         | ``func(state, **params)`` is true (``func = "module:function"``); or a kind registered with :func:`clankers.envs.tasks.register_term` |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import Field

from clankers.envs.tasks.base import FunctionTerm, Term, TermLibrary, wrap_angle
from clankers.envs.tasks.state import TaskState

Check = Callable[[], bool]

#: Every condition kind, built in and registered; ``Condition`` is the field type that validates one.
CONDITIONS = TermLibrary("condition")
Condition = CONDITIONS.annotation


class DistanceBelow(Term):
    """``|a - b| < threshold`` (metres), ``a`` and ``b`` naming points or targets."""

    kind: Literal["distance_below"] = "distance_below"
    a: str
    b: str
    threshold: float = Field(gt=0.0)

    def bind(self, state: TaskState) -> Check:
        pa, pb = state.position(self.a), state.position(self.b)
        limit = self.threshold**2
        delta = np.empty(3)

        def holds() -> bool:
            np.subtract(pa, pb, out=delta)
            return bool(delta @ delta < limit)

        return holds


class JointNear(Term):
    """Selected joints within ``tolerance`` of ``target``; ``wrap`` compares angles modulo 2 pi."""

    kind: Literal["joint_near"] = "joint_near"
    robot: str | None = None
    joints: list[str] | None = None
    target: float | list[float] = 0.0
    tolerance: float = Field(gt=0.0)
    velocity_tolerance: float | None = Field(default=None, gt=0.0)
    wrap: bool = False

    def bind(self, state: TaskState) -> Check:
        idx = state.joint_indices(self.robot, self.joints)
        target = np.broadcast_to(np.asarray(self.target, dtype=np.float64), idx.shape).copy()
        qpos, qvel = state.qpos, state.qvel
        tol, vtol, wrap = self.tolerance, self.velocity_tolerance, self.wrap

        def holds() -> bool:
            error = qpos[idx] - target
            if wrap:
                error = wrap_angle(error)
            if not bool(np.all(np.abs(error) < tol)):
                return False
            return vtol is None or bool(np.all(np.abs(qvel[idx]) < vtol))

        return holds


class AllOf(Term):
    """Every listed condition holds."""

    kind: Literal["all_of"] = "all_of"
    conditions: list[Condition] = Field(min_length=1)

    def bind(self, state: TaskState) -> Check:
        checks = [c.bind(state) for c in self.conditions]
        return lambda: all(check() for check in checks)


class FunctionCondition(FunctionTerm):
    """``func(state, **params)``, truthy or not (see :mod:`clankers.envs.tasks.base`)."""

    library = CONDITIONS

    def bind(self, state: TaskState) -> Check:
        value = self.call(state)
        return lambda: bool(value())


for _model in (DistanceBelow, JointNear, AllOf):
    CONDITIONS.add_model(_model)
CONDITIONS.function_model = FunctionCondition
