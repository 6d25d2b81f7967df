"""Reward terms and their weighted composite.

The reward of a step is ``sum(weight_i * value_i)`` over the task's terms. Terms return *raw* values
with a fixed sign convention (distances and penalties are positive), and the weight carries the sign,
so a config reads ``{ kind = "distance", a = "ee", b = "target", weight = -1.0 }``.
:class:`CompositeReward` also reports each weighted term in ``info["reward_terms"]``, which is how one
tells whether a policy is earning its return from the goal or from a shaping term.

| kind             | raw value                                                                 |
|------------------|---------------------------------------------------------------------------|
| `constant`       | 1 (an alive bonus, or a per-step time cost with a negative weight)         |
| `distance`       | ``|a - b|``; ``kernel = "squared"``: ``|a - b|^2``; ``"tanh"``: ``1 - tanh(|a - b| / scale)`` (1 at the goal, 0 far away) |
| `success`        | 1 while the task's success condition (or the term's own ``condition``) holds, else 0 (sparse) |
| `action_penalty` | ``sum(command^2)`` over the selected joints                                |
| `joint_position` | ``sum((q - target)^2)``, angles wrapped to [-pi, pi) if ``wrap``          |
| `joint_velocity` | ``sum(qdot^2)``                                                            |
| `python`         | ``func(state, **params)`` (``func = "module:function"``; other keys are the params); or a kind registered with :func:`clankers.envs.tasks.register_term` |
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from pydantic import ConfigDict, Field

from clankers.envs.tasks.base import FunctionTerm, Term, TermLibrary, unique_labels, wrap_angle
from clankers.envs.tasks.conditions import Check, Condition
from clankers.envs.tasks.state import TaskState
from clankers.errors import ConfigError

Value = Callable[[], float]

#: Every reward kind, built in and registered; ``RewardTerm`` is the field type that validates one.
REWARDS = TermLibrary("reward")
RewardTerm = REWARDS.annotation


class _Weighted(Term):
    name: str | None = None
    weight: float = 1.0

    @property
    def label(self) -> str:
        return self.name or self.kind  # type: ignore[attr-defined]


class ConstantReward(_Weighted):
    kind: Literal["constant"] = "constant"

    def bind(self, state: TaskState, success: Check | None) -> Value:
        return lambda: 1.0


class DistanceReward(_Weighted):
    kind: Literal["distance"] = "distance"
    a: str
    b: str
    kernel: Literal["linear", "squared", "tanh"] = "linear"
    scale: float = Field(default=0.1, gt=0.0)

    def bind(self, state: TaskState, success: Check | None) -> Value:
        pa, pb = state.position(self.a), state.position(self.b)
        delta = np.empty(3)
        kernel, scale = self.kernel, self.scale

        def value() -> float:
            np.subtract(pa, pb, out=delta)
            squared = float(delta @ delta)
            if kernel == "squared":
                return squared
            distance = squared**0.5
            return distance if kernel == "linear" else 1.0 - float(np.tanh(distance / scale))

        return value


class SuccessReward(_Weighted):
    kind: Literal["success"] = "success"
    condition: Condition | None = None

    def bind(self, state: TaskState, success: Check | None) -> Value:
        check = self.condition.bind(state) if self.condition is not None else success
        if check is None:
            raise ConfigError(
                "reward term 'success' needs a condition: declare the task's [success] or give one"
            )
        return lambda: 1.0 if check() else 0.0


class _JointSelection(_Weighted):
    robot: str | None = None
    joints: list[str] | None = None


class ActionPenalty(_JointSelection):
    kind: Literal["action_penalty"] = "action_penalty"

    def bind(self, state: TaskState, success: Check | None) -> Value:
        idx, action = state.joint_indices(self.robot, self.joints), state.action
        if len(idx) == len(action):
            return lambda: float(action @ action)
        return lambda: float(np.sum(action[idx] ** 2))


class JointPositionReward(_JointSelection):
    kind: Literal["joint_position"] = "joint_position"
    target: float | list[float] = 0.0
    wrap: bool = False

    def bind(self, state: TaskState, success: Check | None) -> Value:
        idx, qpos = state.joint_indices(self.robot, self.joints), state.qpos
        target = np.broadcast_to(np.asarray(self.target, dtype=np.float64), idx.shape).copy()
        wrap = self.wrap

        def value() -> float:
            error = qpos[idx] - target
            if wrap:
                error = wrap_angle(error)
            return float(error @ error)

        return value


class JointVelocityReward(_JointSelection):
    kind: Literal["joint_velocity"] = "joint_velocity"

    def bind(self, state: TaskState, success: Check | None) -> Value:
        idx, qvel = state.joint_indices(self.robot, self.joints), state.qvel
        if len(idx) == len(qvel):
            return lambda: float(qvel @ qvel)
        return lambda: float(np.sum(qvel[idx] ** 2))


class FunctionReward(FunctionTerm):
    """``weight * func(state, **params)`` (see :mod:`clankers.envs.tasks.base`)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    library = REWARDS
    name: str | None = None
    weight: float = 1.0

    def bind(self, state: TaskState, success: Check | None) -> Value:
        value = self.call(state)
        return lambda: float(value())


for _model in (
    ConstantReward,
    DistanceReward,
    SuccessReward,
    ActionPenalty,
    JointPositionReward,
    JointVelocityReward,
):
    REWARDS.add_model(_model)
REWARDS.function_model = FunctionReward


class CompositeReward:
    """The weighted sum of bound terms, with the per-term breakdown of the last evaluation."""

    def __init__(self, terms: Sequence[RewardTerm], state: TaskState, success: Check | None) -> None:
        self.labels = unique_labels(list(terms), "reward terms")
        self._bound = [(t.label, t.weight, t.bind(state, success)) for t in terms]

    def __call__(self) -> tuple[float, dict[str, float]]:
        """Total reward and ``{label: weight * value}``."""
        breakdown = {label: weight * value() for label, weight, value in self._bound}
        return float(sum(breakdown.values())), breakdown
