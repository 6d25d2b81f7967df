"""The options of one export, as one validated object shared by :func:`export_sb3` and ``clankers export``.

Every option is declared once, here, with its default and its meaning; the CLI builds its flags from
these fields (same names, same defaults, same help), and the Python API takes either an
:class:`ExportOptions` or the same names as keyword arguments. An invalid value is a
:class:`~clankers.errors.ConfigError` before anything is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from clankers.sim.model import ConfigModel

#: Default relative parity tolerance: |graph - predict| <= tolerance * action scale (see ``docs/export.md``).
DEFAULT_TOLERANCE = 1e-4
#: Closed loop: largest |onnx - SB3| / max(1, |SB3|) on any observation and return.
DEFAULT_TRAJECTORY_TOLERANCE = 1e-3
DEFAULT_OPSET = 17
#: The torch exporters, in the order they are tried.
EXPORTERS: tuple[str, ...] = ("torchscript", "dynamo")


class ExportOptions(ConfigModel):
    """What to export and how hard to check it.

    | field                | default        | meaning                                                            |
    |----------------------|----------------|--------------------------------------------------------------------|
    | algo                 | detected       | algorithm (PPO, SAC, RecurrentPPO, ...) when the zip's is not wanted |
    | env                  | none           | environment whose real episodes add parity observations            |
    | vecnormalize         | none / found   | VecNormalize statistics to bake into the graph                     |
    | verify_env           | none           | closed-loop check in this environment                              |
    | verify_episodes      | 3              | episodes of the closed-loop check                                  |
    | trajectory_tolerance | 1e-3           | closed loop: max |onnx - SB3| / max(1, |SB3|)                      |
    | image_layout         | HWC / env's    | layout of image inputs                                             |
    | n_samples            | 1000           | parity observations drawn from the model's operating region        |
    | n_episode_states     | 1000           | parity observations from real episodes (with env or verify_env)    |
    | seed                 | 0              | seed of the parity samples and episodes                            |
    | tolerance            | 1e-4           | relative parity tolerance (of the action scale)                    |
    | opset                | 17             | ONNX opset                                                         |
    | exporters            | both           | torch exporters to try, in order                                   |
    """

    config_label = "export options"

    algo: str | None = Field(
        default=None,
        description="Algorithm (PPO, SAC, RecurrentPPO, ...), when detection from the zip is not wanted.",
    )
    env: str | None = Field(
        default=None,
        description="Environment whose real episodes add parity observations (a task such as cartpole, "
        "or a Gymnasium id).",
    )
    vecnormalize: Path | None = Field(
        default=None,
        description="VecNormalize statistics (VecNormalize.save) to bake into the graph; found beside the "
        "model when exporting an experiment folder.",
    )
    verify_env: str | None = Field(
        default=None,
        description="Run the file and the model closed-loop in this environment on the same seeds and "
        "record the result.",
    )
    verify_episodes: int = Field(default=3, ge=1, description="Episodes of the closed-loop check.")
    trajectory_tolerance: float = Field(
        default=DEFAULT_TRAJECTORY_TOLERANCE,
        ge=0.0,
        description="Closed loop: largest |onnx - SB3| / max(1, |SB3|) on any observation and return.",
    )
    image_layout: Literal["HWC", "CHW"] | None = Field(
        default=None, description="Layout of image inputs: HWC (camera frames, default) or CHW."
    )
    n_samples: int = Field(
        default=1000,
        ge=1,
        description="Parity observations drawn from the model's operating region (VecNormalize "
        "statistics, sane bounds); the verified level needs >= 1000.",
    )
    n_episode_states: int = Field(
        default=1000, ge=0, description="Parity observations from real episodes (with --env or --verify-env)."
    )
    seed: int = Field(default=0, description="Seed of the parity samples and episodes.")
    tolerance: float = Field(
        default=DEFAULT_TOLERANCE,
        ge=0.0,
        description="Relative parity tolerance: every continuous action component must satisfy "
        "|onnx - SB3| <= tolerance * scale (scale: half the action range, or the output's magnitude "
        "when larger). Discrete actions must match exactly.",
    )
    opset: int = Field(default=DEFAULT_OPSET, ge=9, description="ONNX opset to export with (recorded).")
    exporters: tuple[str, ...] = Field(
        default=EXPORTERS, min_length=1, description="torch exporters to try, in order."
    )

    @field_validator("algo", mode="before")
    @classmethod
    def _canonical_algo(cls, value: Any) -> Any:
        if value is None:
            return None
        from clankers.export.detect import canonical_algorithm

        return canonical_algorithm(str(value))

    @field_validator("image_layout", mode="before")
    @classmethod
    def _upper_layout(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("exporters")
    @classmethod
    def _known_exporters(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [e for e in value if e not in EXPORTERS]
        if unknown:
            raise ValueError(f"unknown exporter(s) {unknown}; choose from {', '.join(EXPORTERS)}")
        return value

    @classmethod
    def merged(cls, options: ExportOptions | None, overrides: dict[str, Any]) -> ExportOptions:
        """``options`` (or the defaults) with ``overrides`` applied, validated again."""
        base = options.model_dump() if options is not None else {}
        return cls(**{**base, **overrides})

    @classmethod
    def help(cls, name: str) -> str:
        """The description of field ``name`` (the CLI's help text)."""
        return cls.model_fields[name].description or ""

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of field ``name`` (the CLI's default)."""
        return cls.model_fields[name].default
