"""Legged locomotion: velocity commands, a gait clock, and the reward and termination terms of the field.

A task declares ``[locomotion]`` once: which links are the robot's feet, the distribution of the
velocity commands the policy must track and, optionally, a gait clock (a phase per foot, as in
periodic-reward locomotion). The terms below read them; nothing else of the task changes, so the same
file drives any quadruped by changing the robot, its home pose and its feet::

    [locomotion]
    feet = ["FR_foot", "FL_foot", "RR_foot", "RL_foot"]

    [locomotion.commands]           # drawn per episode, resampled every resample_s seconds
    lin_vel_x = [-0.3, 1.0]         # m/s, forward (base frame)
    lin_vel_y = [-0.3, 0.3]         # m/s, left
    ang_vel_z = [-0.6, 0.6]         # rad/s, yaw rate
    standing_probability = 0.1      # share of commands that are "stand still"
    resample_s = 5.0
    evaluation = [0.5, 0.0, 0.0]    # TaskEnv(..., command="evaluation"): walk forward at 0.5 m/s

    [locomotion.gait]               # a trot: diagonal pairs half a cycle apart
    frequency = 2.0
    offsets = [0.0, 0.5, 0.5, 0.0]  # per foot, in `feet` order

Every term here is **batched**: it is computed once over the ``[N, ...]`` arrays of all N environments
of a vector env (:mod:`clankers.envs.tasks.batch`); a single environment is a batch of one. Each term
is written once, as a function of :class:`~clankers.envs.tasks.batch.BatchState`.

Observation kinds:

| kind               | size | entries                                                             |
|--------------------|------|---------------------------------------------------------------------|
| `velocity_command` | 3    | the command: forward, lateral (m/s), yaw rate (rad/s)               |
| `gait_clock`       | 2    | sin and cos of 2 pi times the gait phase                            |

Reward kinds (raw values; the weight carries the sign, as everywhere):

| kind                 | raw value                                                                       |
|----------------------|---------------------------------------------------------------------------------|
| `tracking_lin_vel`   | ``exp(-|cmd_xy - v_xy|^2 / sigma)``, base-frame linear velocity                 |
| `tracking_ang_vel`   | ``exp(-(cmd_yaw - w_z)^2 / sigma)``                                             |
| `lin_vel_z`          | ``v_z^2`` (vertical bouncing)                                                   |
| `ang_vel_xy`         | ``w_x^2 + w_y^2`` (roll and pitch rates)                                        |
| `torques`            | ``sum(tau^2)`` over the actuated joints (N m)                                   |
| `joint_acc`          | ``sum(((qdot - qdot_prev) / dt)^2)``                                           |
| `action_rate`        | ``sum((a - a_prev)^2)``                                                         |
| `feet_air_time`      | ``sum((t_air - threshold) * first_contact)`` while the command asks to move    |
| `undesired_contacts` | how many of ``links`` touch anything                                            |
| `base_height`        | ``(z - target)^2``                                                              |
| `orientation`        | ``g_x^2 + g_y^2`` of the projected gravity (0 when level)                       |
| `feet_gait`          | ``exp(-sum((clearance - swing)^2) / sigma)``: each foot follows the gait clock's swing height (``swing_height * sin`` during its swing, 0 in stance) while moving |

Termination kinds:

| kind              | fires when                                                         |
|-------------------|--------------------------------------------------------------------|
| `illegal_contact` | any of ``links`` touches anything (the trunk or a thigh on the ground) |
| `fall`            | the base is below ``min_height`` (m) or tilted beyond ``max_tilt`` (degrees) |

Contacts are MuJoCo's (any contact of a link's collision geometry), body positions and actuator
forces those MuJoCo computed during the last physics substep of the control step; joint and base
states are the current ones.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from clankers.envs.tasks.base import Term
from clankers.envs.tasks.observations import OBSERVATIONS, _ObservationTerm
from clankers.envs.tasks.rewards import REWARDS, _Weighted
from clankers.envs.tasks.rows import row_sum, row_sum_squares
from clankers.envs.tasks.state import TaskState
from clankers.envs.tasks.terminations import TERMINATIONS, _Named
from clankers.errors import ConfigError

if TYPE_CHECKING:
    from clankers.envs.tasks.batch import BatchState
    from clankers.sim.seeding import EpisodeSeeds


Range = tuple[float, float]
BatchValue = Any  # a callable () -> np.ndarray over the batch


def _ordered(value: Range) -> Range:
    if not value[0] <= value[1]:
        raise ValueError(f"range {list(value)} must be [low, high] with low <= high")
    return value


class VelocityCommands(Term):
    """The base velocity targets a policy tracks, drawn per episode (see the module docstring)."""

    lin_vel_x: Range = (-0.3, 1.0)
    lin_vel_y: Range = (-0.3, 0.3)
    ang_vel_z: Range = (-0.6, 0.6)
    standing_probability: float = Field(default=0.1, ge=0.0, le=1.0)
    resample_s: float | None = Field(default=5.0, gt=0.0)
    evaluation: tuple[float, float, float] = (0.5, 0.0, 0.0)

    @field_validator("lin_vel_x", "lin_vel_y", "ang_vel_z")
    @classmethod
    def _low_high(cls, value: Range) -> Range:
        return _ordered(value)


class GaitConfig(Term):
    """A gait clock: phase in [0, 1) advancing at ``frequency`` Hz; foot ``k`` is in its swing while
    ``(phase + offsets[k]) mod 1 < swing``."""

    frequency: float = Field(default=2.0, gt=0.0)
    offsets: list[float] = Field(min_length=1)
    swing: float = Field(default=0.5, gt=0.0, lt=1.0)


class LocomotionConfig(Term):
    """``[locomotion]``: the feet (link names or glob patterns), the commands and the optional gait."""

    feet: list[str] = Field(min_length=1)
    commands: VelocityCommands = VelocityCommands()
    gait: GaitConfig | None = None

    @model_validator(mode="after")
    def _one_offset_per_foot(self) -> LocomotionConfig:
        if self.gait is not None and len(self.gait.offsets) != len(self.feet):
            raise ValueError(
                f"gait.offsets has {len(self.gait.offsets)} entries for {len(self.feet)} feet; give one per foot"
            )
        return self


def command_override(config: LocomotionConfig | None, command: Any) -> np.ndarray | None:
    """The fixed command of ``TaskEnv(..., command=...)``: ``"evaluation"`` (the task's evaluation
    setting), three numbers, or None (commands drawn from the task's distribution)."""
    if command is None:
        return None
    if config is None:
        raise ConfigError(
            "command=... is for tasks with [locomotion] commands; this task has none",
            hint="drop the command argument",
        )
    if isinstance(command, str):
        if command != "evaluation":
            raise ConfigError(
                f"command {command!r} is not a known setting", hint='use "evaluation" or [vx, vy, yaw_rate]'
            )
        return np.array(config.commands.evaluation, dtype=np.float64)
    values = np.asarray(command, dtype=np.float64)
    if values.shape != (3,) or not np.all(np.isfinite(values)):
        raise ConfigError(
            f"command {command!r} must be three finite numbers",
            hint="[forward m/s, lateral m/s, yaw rate rad/s], e.g. [0.5, 0.0, 0.0]",
        )
    return values


class LocomotionState:
    """Per-environment command and gait phase of a batch (rows), with their seeded generators.

    Commands are drawn at every reset from the episode's ``commands`` generator, which then also draws
    the resamples within the episode; the gait phase starts at a value drawn from ``gait``. Both are
    subsystems of :mod:`clankers.sim.seeding`, so the same seed gives the same commands in a single
    environment and in any row of a vector env.
    """

    def __init__(self, config: LocomotionConfig, n: int, control_dt: float) -> None:
        self.config = config
        self.commands = np.zeros((n, 3))
        self.phase = np.zeros(n)
        self.dt = control_dt
        resample = config.commands.resample_s
        self.resample_steps = max(1, round(resample / control_dt)) if resample is not None else 0
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._fixed = np.zeros(n, dtype=np.bool_)
        self.offsets = np.array(config.gait.offsets) if config.gait is not None else None

    def _draw(self, row: int) -> None:
        rng, spec = self._rngs[row], self.config.commands
        assert rng is not None
        command = self.commands[row]
        command[0] = rng.uniform(*spec.lin_vel_x)
        command[1] = rng.uniform(*spec.lin_vel_y)
        command[2] = rng.uniform(*spec.ang_vel_z)
        if rng.random() < spec.standing_probability:
            command[:] = 0.0

    def reset_row(self, row: int, episode: EpisodeSeeds, fixed: np.ndarray | None) -> None:
        if fixed is not None:
            self.commands[row] = fixed
            self._fixed[row] = True
        else:
            self._fixed[row] = False
            self._rngs[row] = episode.generator("commands")
            self._draw(row)
        if self.config.gait is not None:
            self.phase[row] = episode.generator("gait").random()

    def advance(self) -> None:
        """One control step of the gait clock (every row)."""
        if self.config.gait is not None:
            self.phase += self.config.gait.frequency * self.dt
            np.mod(self.phase, 1.0, out=self.phase)

    def resample(self, step_count: np.ndarray, live: np.ndarray) -> None:
        """New commands for the rows (not ending now) whose episode reached a resample period."""
        if not self.resample_steps:
            return
        due = (step_count % self.resample_steps == 0) & live & ~self._fixed
        for row in np.flatnonzero(due):
            self._draw(int(row))

    def moving(self, threshold: float) -> np.ndarray:
        """Rows whose command asks to move (``|v_xy| + |yaw rate| > threshold``)."""
        c = self.commands
        return (np.sqrt(c[:, 0] * c[:, 0] + c[:, 1] * c[:, 1]) + np.abs(c[:, 2])) > threshold


def _locomotion(batch: BatchState, what: str) -> LocomotionState:
    if batch.locomotion is None:
        raise ConfigError(f"{what} needs the task's [locomotion] section (feet, commands)")
    return batch.locomotion


class _Batched:
    """Mixin of terms that exist only in batched form (``bind_batch``)."""

    def bind(self, state: TaskState, *args: Any) -> Any:
        raise ConfigError(
            f"term {getattr(self, 'kind', '?')!r} is computed over the batch of environments; the task must run batched",
            hint="remove `batched = false` from the task file",
        )


# --- observations -------------------------------------------------------------------------------------


class VelocityCommandObservation(_Batched, _ObservationTerm):
    kind: Literal["velocity_command"] = "velocity_command"

    def names(self, state: TaskState) -> list[str]:
        return ["command.lin_vel_x", "command.lin_vel_y", "command.ang_vel_z"]

    def bind_batch(self, batch: BatchState) -> Any:
        commands = _locomotion(batch, "observation 'velocity_command'").commands
        return lambda out: np.copyto(out, commands)


class GaitClockObservation(_Batched, _ObservationTerm):
    kind: Literal["gait_clock"] = "gait_clock"

    def names(self, state: TaskState) -> list[str]:
        return ["gait.sin", "gait.cos"]

    def bind_batch(self, batch: BatchState) -> Any:
        loco = _locomotion(batch, "observation 'gait_clock'")
        if loco.config.gait is None:
            raise ConfigError("observation 'gait_clock' needs [locomotion.gait]")
        phase = loco.phase

        def write(out: np.ndarray) -> None:
            angle = 2.0 * math.pi * phase
            out[:, 0] = np.sin(angle)
            out[:, 1] = np.cos(angle)

        return write


# --- rewards ------------------------------------------------------------------------------------------


class _BatchedReward(_Batched, _Weighted):
    pass


class TrackingLinVel(_BatchedReward):
    kind: Literal["tracking_lin_vel"] = "tracking_lin_vel"
    sigma: float = Field(default=0.25, gt=0.0)

    def bind_batch(self, batch: BatchState) -> BatchValue:
        loco, sigma = _locomotion(batch, "reward 'tracking_lin_vel'"), self.sigma

        def value() -> np.ndarray:
            error = loco.commands[:, :2] - batch.base_linear_velocity()[:, :2]
            return np.exp(-(error[:, 0] ** 2 + error[:, 1] ** 2) / sigma)

        return value


class TrackingAngVel(_BatchedReward):
    kind: Literal["tracking_ang_vel"] = "tracking_ang_vel"
    sigma: float = Field(default=0.25, gt=0.0)

    def bind_batch(self, batch: BatchState) -> BatchValue:
        loco, sigma = _locomotion(batch, "reward 'tracking_ang_vel'"), self.sigma

        def value() -> np.ndarray:
            error = loco.commands[:, 2] - batch.base_angular_velocity()[:, 2]
            return np.exp(-(error * error) / sigma)

        return value


class LinVelZ(_BatchedReward):
    kind: Literal["lin_vel_z"] = "lin_vel_z"

    def bind_batch(self, batch: BatchState) -> BatchValue:
        batch.base("reward 'lin_vel_z'")
        return lambda: batch.base_linear_velocity()[:, 2] ** 2


class AngVelXY(_BatchedReward):
    kind: Literal["ang_vel_xy"] = "ang_vel_xy"

    def bind_batch(self, batch: BatchState) -> BatchValue:
        batch.base("reward 'ang_vel_xy'")

        def value() -> np.ndarray:
            w = batch.base_angular_velocity()
            return w[:, 0] ** 2 + w[:, 1] ** 2

        return value


class Torques(_BatchedReward):
    kind: Literal["torques"] = "torques"

    def bind_batch(self, batch: BatchState) -> BatchValue:
        batch.need("actuator_force")

        def value() -> np.ndarray:
            return row_sum_squares(batch.joint_torques())

        return value


class JointAcc(_BatchedReward):
    kind: Literal["joint_acc"] = "joint_acc"

    def bind_batch(self, batch: BatchState) -> BatchValue:
        dt = batch.dt

        def value() -> np.ndarray:
            return row_sum_squares((batch.qvel - batch.previous_qvel) / dt)

        return value


class ActionRate(_BatchedReward):
    kind: Literal["action_rate"] = "action_rate"

    def bind_batch(self, batch: BatchState) -> BatchValue:
        def value() -> np.ndarray:
            return row_sum_squares(batch.action - batch.previous_action)

        return value


class _FeetAirTime:
    """The air-time clock of each foot (stateful: reset per row)."""

    def __init__(self, batch: BatchState, threshold: float, min_command: float) -> None:
        self.loco = _locomotion(batch, "reward 'feet_air_time'")
        self.batch = batch
        self.columns = batch.contact_columns(self.loco.config.feet)
        self.air = np.zeros((batch.n, len(self.columns)))
        self.threshold, self.min_command = threshold, min_command

    def __call__(self) -> np.ndarray:
        contact = self.batch.contacts[:, self.columns]
        first = (self.air > 0.0) & contact
        self.air += self.batch.dt
        value = row_sum((self.air - self.threshold) * first) * self.loco.moving(self.min_command)
        self.air[contact] = 0.0
        return value

    def reset(self, row: int) -> None:
        self.air[row] = 0.0


class FeetAirTime(_BatchedReward):
    kind: Literal["feet_air_time"] = "feet_air_time"
    threshold: float = Field(default=0.5, ge=0.0)
    min_command: float = Field(default=0.1, ge=0.0)

    def bind_batch(self, batch: BatchState) -> BatchValue:
        return _FeetAirTime(batch, self.threshold, self.min_command)


class UndesiredContacts(_BatchedReward):
    kind: Literal["undesired_contacts"] = "undesired_contacts"
    links: list[str] = Field(min_length=1)

    def bind_batch(self, batch: BatchState) -> BatchValue:
        columns = batch.contact_columns(self.links)
        return lambda: row_sum(batch.contacts[:, columns].astype(np.float64))


class BaseHeightReward(_BatchedReward):
    kind: Literal["base_height"] = "base_height"
    target: float

    def bind_batch(self, batch: BatchState) -> BatchValue:
        batch.base("reward 'base_height'")
        target = self.target
        return lambda: (batch.base_position()[:, 2] - target) ** 2


class Orientation(_BatchedReward):
    kind: Literal["orientation"] = "orientation"

    def bind_batch(self, batch: BatchState) -> BatchValue:
        batch.base("reward 'orientation'")

        def value() -> np.ndarray:
            g = batch.projected_gravity()
            return g[:, 0] ** 2 + g[:, 1] ** 2

        return value


class FeetGait(_BatchedReward):
    kind: Literal["feet_gait"] = "feet_gait"
    swing_height: float = Field(default=0.08, ge=0.0)
    sigma: float = Field(default=0.01, gt=0.0)
    min_command: float = Field(default=0.1, ge=0.0)

    def bind_batch(self, batch: BatchState) -> BatchValue:
        loco = _locomotion(batch, "reward 'feet_gait'")
        if loco.config.gait is None or loco.offsets is None:
            raise ConfigError("reward 'feet_gait' needs [locomotion.gait] (frequency, offsets)")
        geoms, radius = batch.foot_geoms(loco.config.feet)
        offsets, swing, height = loco.offsets, loco.config.gait.swing, self.swing_height
        sigma, min_command = self.sigma, self.min_command
        batch.need("geom_xpos")

        def value() -> np.ndarray:
            clearance = batch.geom_xpos[:, geoms, 2] - radius
            phase = np.mod(loco.phase[:, None] + offsets[None, :], 1.0)
            lift = np.where(phase < swing, np.sin(math.pi * phase / swing), 0.0) * height
            lift *= loco.moving(min_command)[:, None]
            return np.exp(-row_sum_squares(clearance - lift) / sigma)

        return value


# --- terminations -------------------------------------------------------------------------------------


class IllegalContact(_Batched, _Named):
    kind: Literal["illegal_contact"] = "illegal_contact"
    links: list[str] = Field(min_length=1)

    def bind_batch(self, batch: BatchState) -> BatchValue:
        columns = batch.contact_columns(self.links)
        return lambda: np.any(batch.contacts[:, columns], axis=1)


class Fall(_Batched, _Named):
    kind: Literal["fall"] = "fall"
    min_height: float | None = None
    max_tilt: float | None = Field(default=None, gt=0.0, le=180.0)

    @model_validator(mode="after")
    def _something_to_check(self) -> Fall:
        if self.min_height is None and self.max_tilt is None:
            raise ValueError("fall needs `min_height` (m) and/or `max_tilt` (degrees)")
        return self

    def bind_batch(self, batch: BatchState) -> BatchValue:
        batch.base("termination 'fall'")
        low = -math.inf if self.min_height is None else self.min_height
        cos_tilt = -math.inf if self.max_tilt is None else math.cos(math.radians(self.max_tilt))

        def fires() -> np.ndarray:
            # upright: projected gravity z = -1; tilted by theta: -cos(theta)
            return (batch.base_position()[:, 2] < low) | (-batch.projected_gravity()[:, 2] < cos_tilt)

        return fires


for _model in (VelocityCommandObservation, GaitClockObservation):
    OBSERVATIONS.add_model(_model)  # type: ignore[arg-type]
for _model in (
    TrackingLinVel,
    TrackingAngVel,
    LinVelZ,
    AngVelXY,
    Torques,
    JointAcc,
    ActionRate,
    FeetAirTime,
    UndesiredContacts,
    BaseHeightReward,
    Orientation,
    FeetGait,
):
    REWARDS.add_model(_model)  # type: ignore[arg-type]
for _model in (IllegalContact, Fall):
    TERMINATIONS.add_model(_model)  # type: ignore[arg-type]
