"""Space objects of the clanker policy format (the JSON in ``action_space`` and ``observation_space``).

They mirror Gymnasium's spaces closely enough that an exporter can translate one to the other, but they are
plain validated data: a deployment reads them without Gymnasium. Every space knows its per-sample shape
(what one action or observation looks like) and its canonical JSON form.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Element types a Box may declare (numpy names). uint8 is for camera images.
BOX_DTYPES = frozenset({"float16", "float32", "float64", "uint8"})
FLOAT_DTYPES = frozenset({"float16", "float32", "float64"})
IMAGE_LAYOUTS = ("HWC", "CHW")


def float_token(value: float) -> float | str:
    """JSON has no infinity: the format writes unbounded limits as the strings "inf" and "-inf"."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


class _Space(BaseModel):
    # Readers ignore members they do not know (a newer minor version may add some).
    model_config = ConfigDict(extra="ignore")

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample (one action for one observation)."""
        raise NotImplementedError

    @property
    def size(self) -> int:
        """Number of elements in one sample (``act_dim`` for action spaces)."""
        return math.prod(self.sample_shape)

    @property
    def is_discrete(self) -> bool:
        """True for integer-valued spaces: their tensors are int64 and admit no action transform."""
        return True

    def to_json_obj(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class BoxSpace(_Space):
    """A continuous (``Box``) space: ``shape``, element ``dtype`` and per-element ``low``/``high``.

    ``low``/``high`` list every element in row-major order, or hold a single value for all of them.
    ``dtype`` may be omitted by other writers; readers then take the tensor's dtype. ``image_layout``
    marks a camera image (``HWC`` or ``CHW``, uint8) fed raw to the graph.
    """

    type: Literal["Box"] = "Box"
    shape: list[int]
    dtype: str | None = None
    low: list[float]
    high: list[float]
    image_layout: Literal["HWC", "CHW"] | None = None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.shape)

    @property
    def is_discrete(self) -> bool:
        return False

    @field_validator("shape")
    @classmethod
    def _positive_shape(cls, shape: list[int]) -> list[int]:
        if not shape or any(d < 1 for d in shape):
            raise ValueError(f"shape {shape} must be a non-empty list of positive integers")
        return shape

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, dtype: str | None) -> str | None:
        if dtype is not None and dtype not in BOX_DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one of {sorted(BOX_DTYPES)}")
        return dtype

    @model_validator(mode="after")
    def _consistent(self) -> BoxSpace:
        for name, bound in (("low", self.low), ("high", self.high)):
            if len(bound) not in (1, self.size):
                raise ValueError(
                    f"{name} has {len(bound)} values; shape {self.shape} needs {self.size} (or 1 for all)"
                )
            if any(math.isnan(v) for v in bound):
                raise ValueError(f"{name} contains NaN; use a number, 'inf' or '-inf'")
        lows, highs = self.bounds()
        bad = [i for i, (lo, hi) in enumerate(zip(lows, highs, strict=True)) if lo > hi]
        if bad:
            raise ValueError(f"low > high at element(s) {bad[:5]}")
        if self.image_layout is not None:
            if len(self.shape) != 3:
                raise ValueError(f"an image ({self.image_layout}) needs a 3-D shape, got {self.shape}")
            if self.dtype not in (None, "uint8"):
                raise ValueError(f"an image must have dtype uint8, got {self.dtype}")
        return self

    def bounds(self) -> tuple[list[float], list[float]]:
        """``(low, high)`` expanded to one value per element."""
        lows = self.low * self.size if len(self.low) == 1 else list(self.low)
        highs = self.high * self.size if len(self.high) == 1 else list(self.high)
        return lows, highs

    def to_json_obj(self) -> dict[str, Any]:
        """The canonical JSON object (infinite bounds as "inf"/"-inf" strings)."""
        obj: dict[str, Any] = {"type": self.type, "shape": list(self.shape)}
        if self.dtype is not None:
            obj["dtype"] = self.dtype
        obj["low"] = [float_token(v) for v in self.low]
        obj["high"] = [float_token(v) for v in self.high]
        if self.image_layout is not None:
            obj["image_layout"] = self.image_layout
        return obj


class DiscreteSpace(_Space):
    """One integer in ``[start, start + n)``; the graph outputs int64 ``[batch]``."""

    type: Literal["Discrete"] = "Discrete"
    n: int = Field(ge=1)
    start: int = 0

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return ()


class MultiDiscreteSpace(_Space):
    """One integer per branch ``i`` in ``[start[i], start[i] + nvec[i])``; int64 ``[batch, len(nvec)]``."""

    type: Literal["MultiDiscrete"] = "MultiDiscrete"
    nvec: list[int]
    start: list[int] | None = None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (len(self.nvec),)

    @model_validator(mode="after")
    def _consistent(self) -> MultiDiscreteSpace:
        if not self.nvec or any(n < 1 for n in self.nvec):
            raise ValueError(f"nvec {self.nvec} must be a non-empty list of positive integers")
        if self.start is not None and len(self.start) != len(self.nvec):
            raise ValueError(f"start has {len(self.start)} values; nvec has {len(self.nvec)}")
        return self


class MultiBinarySpace(_Space):
    """``n`` independent 0/1 values; the graph outputs int64 ``[batch, n]``."""

    type: Literal["MultiBinary"] = "MultiBinary"
    n: int = Field(ge=1)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.n,)


class DictSpace(_Space):
    """Named Box sub-spaces; each key is its own graph input (see ``observation_inputs``)."""

    type: Literal["Dict"] = "Dict"
    spaces: dict[str, BoxSpace]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (sum(s.size for s in self.spaces.values()),)

    @property
    def is_discrete(self) -> bool:
        return False

    @field_validator("spaces")
    @classmethod
    def _non_empty(cls, spaces: dict[str, BoxSpace]) -> dict[str, BoxSpace]:
        if not spaces:
            raise ValueError("a Dict space needs at least one key")
        return spaces

    def to_json_obj(self) -> dict[str, Any]:
        return {"type": "Dict", "spaces": {k: s.to_json_obj() for k, s in self.spaces.items()}}


ActionSpace = Annotated[
    BoxSpace | DiscreteSpace | MultiDiscreteSpace | MultiBinarySpace, Field(discriminator="type")
]
ObservationSpace = Annotated[BoxSpace | DictSpace, Field(discriminator="type")]
#: Space types allowed in ``action_space`` by format 1.0.0 and 1.1.0.
ACTION_SPACE_TYPES_1_0 = ("Box",)
ACTION_SPACE_TYPES_1_1 = ("Box", "Discrete", "MultiDiscrete", "MultiBinary")
