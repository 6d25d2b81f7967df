"""What every term of the task libraries shares: strict, immutable pydantic models."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

Vector3 = tuple[float, float, float]


class Term(BaseModel):
    """Base of every declared term: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Angles mapped to [-pi, pi): the shortest signed difference for continuous joints."""
    return (angle + np.pi) % (2.0 * np.pi) - np.pi
