"""Structured metadata values added in format 1.1: recurrent state, normalization, provenance and parity.

Each is the JSON object stored under one metadata key. Unknown members are kept (``extra="allow"``) so a
reader can show what a newer writer recorded, but nothing here depends on them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class StateTensor(_Record):
    """One recurrent state: graph input ``input`` receives it, graph output ``output`` returns the next one.

    ``batch_axis`` is where the environments are stacked (1 for an LSTM's ``[layers, batch, hidden]``);
    every other axis has a fixed size in the graph. A fresh or reset environment starts from ``init``.
    """

    input: str
    output: str
    batch_axis: int = Field(default=0, ge=0)
    init: float = 0.0


class RecurrentState(_Record):
    """The value of ``recurrent_state``: the state tensors, and the optional episode-start input."""

    tensors: list[StateTensor]
    episode_start: str | None = None  # name of an optional float32 [batch] input (1.0 = episode starts)

    @model_validator(mode="after")
    def _distinct(self) -> RecurrentState:
        if not self.tensors:
            raise ValueError("recurrent_state needs at least one state tensor")
        names = [t.input for t in self.tensors] + [t.output for t in self.tensors]
        if len(set(names)) != len(names):
            raise ValueError(f"state tensor names must be distinct, got {names}")
        return self


class ObservationNormalization(_Record):
    """The value of ``observation_normalization``: what was baked into the graph (readers never normalize)."""

    kind: Literal["vecnormalize"] = "vecnormalize"
    in_graph: Literal[True] = True
    epsilon: float = Field(default=1e-8, gt=0)
    clip_obs: float = Field(default=10.0, gt=0)
    keys: list[str] | None = None  # Dict observations: which keys were normalized (None: all)


class ParityProbe(_Record):
    """A few reference observations and the reference actions, so a checker can re-run the graph.

    ``obs`` is ``[n, *obs_shape]`` (a mapping of key to such lists for Dict observations); ``action`` is
    ``[n, *act_shape]``. For recurrent policies the rows are consecutive steps of one environment and
    ``episode_start`` marks where episodes begin.
    """

    obs: list[Any] | dict[str, list[Any]]
    action: list[Any]
    episode_start: list[bool] | None = None


class ClosedLoopRecord(_Record):
    """Policy file and source model run side by side in a simulator on the same seeds."""

    env: str
    seeds: list[int]
    returns_equal: bool
    max_trajectory_diff: float | None = None
    tolerance: float | None = None
    passed: bool


class ParityRecord(_Record):
    """The value of ``parity``: how the graph was compared with its source model, and the result."""

    reference: str
    n_samples: int = Field(ge=1)
    n_episode_states: int = Field(default=0, ge=0)
    max_abs_diff: float = Field(ge=0)
    tolerance: float = Field(ge=0)
    mismatches: int | None = Field(default=None, ge=0)  # discrete actions: rows that differ
    passed: bool
    probe: ParityProbe | None = None
    closed_loop: ClosedLoopRecord | None = None


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_sha256(value: str | None) -> str | None:
    if value is not None and not _SHA256.match(value):
        raise ValueError("must be 64 lowercase hexadecimal characters (a SHA-256 digest)")
    return value


def check_timestamp(value: str | None) -> str | None:
    """ISO 8601 with a time zone, e.g. ``2026-01-31T12:00:00Z``: a time without a zone is ambiguous."""
    if value is None:
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise ValueError(f"{value!r} is not an ISO 8601 time such as 2026-01-31T12:00:00Z") from err
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone; write UTC with a trailing Z")
    return value
