"""Simulation timing and global physics settings.

A policy acts at ``control_dt``; MuJoCo integrates at ``physics_dt``. The command is held constant for
the ``control_dt / physics_dt`` substeps of one control step (a zero-order hold, as on a real
motor driver), so ``control_dt`` must be a whole multiple of ``physics_dt``.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from clankers.sim.model import ConfigModel

Integrator = Literal["euler", "implicitfast", "rk4"]


class SimConfig(ConfigModel):
    """Timing, gravity and integrator of a simulation.

    | field        | default          | meaning                                                    |
    |--------------|------------------|------------------------------------------------------------|
    | physics_dt   | 0.001 s          | MuJoCo timestep                                            |
    | control_dt   | 0.02 s           | time between two policy commands (a multiple of physics_dt)|
    | gravity      | (0, 0, -9.81)    | m/s^2, world frame                                         |
    | integrator   | ``"euler"``      | MuJoCo's semi-implicit Euler, ``implicitfast`` or ``rk4``  |
    """

    physics_dt: float = Field(default=0.001, gt=0.0, le=0.1)
    control_dt: float = Field(default=0.02, gt=0.0, le=10.0)
    gravity: tuple[float, float, float] = (0.0, 0.0, -9.81)
    integrator: Integrator = "euler"

    @field_validator("gravity")
    @classmethod
    def _finite_gravity(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(math.isfinite(g) for g in value):
            raise ValueError("gravity components must be finite numbers")
        return value

    @model_validator(mode="after")
    def _control_is_multiple_of_physics(self) -> SimConfig:
        ratio = self.control_dt / self.physics_dt
        if round(ratio) < 1 or abs(ratio - round(ratio)) > 1e-9 * max(1.0, ratio):
            raise ValueError(
                f"control_dt ({self.control_dt}) must be a positive whole multiple of physics_dt "
                f"({self.physics_dt}); e.g. control_dt={max(1, round(ratio)) * self.physics_dt:g}"
            )
        return self

    @property
    def substeps(self) -> int:
        """Physics steps per control step."""
        return round(self.control_dt / self.physics_dt)
