"""Stable-Baselines3 models -> deterministic actor modules ready for ONNX export.

``predict(obs, deterministic=True)`` in SB3 is preprocessing (outside the policy: ``VecNormalize``,
``VecTransposeImage``) + network + post-processing (distribution mode, unscale or clip). Recipes that
export only the network disagree with ``predict`` whenever any of those matter; here all of it is part of
the exported module, so the graph and ``predict`` agree and the policy file needs no transform at run
time (``action_transform = none``).

A model zip is a pickle container: only load files you trust.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from torch import nn

from clankers.export.actors import build_family_module
from clankers.export.detect import (
    ALGORITHM_CLASSES,
    DISPLAY_NAMES,
    canonical_algorithm,
    detect_algorithm,
    load_model,
)
from clankers.export.observations import ObservationAdapter, ObservationInput, observation_inputs
from clankers.export.vecnormalize import NormalizationStats

__all__ = ["ExportableActor", "RecurrentSpec", "build_actor", "detect_algorithm", "load_model"]


@dataclass
class RecurrentSpec:
    """The LSTM state a recurrent graph takes and returns: ``[n_layers, batch, hidden]`` float32 each."""

    n_layers: int
    hidden_size: int
    inputs: tuple[str, str] = ("lstm_h", "lstm_c")
    outputs: tuple[str, str] = ("lstm_h_out", "lstm_c_out")
    batch_axis: int = 1

    def state_shape(self, batch: int) -> tuple[int, int, int]:
        return (self.n_layers, batch, self.hidden_size)


@dataclass
class ExportableActor:
    """A deterministic actor and the facts the policy file must record about it."""

    module: nn.Module
    algorithm: str  # registry key, e.g. "PPO", "RECURRENTPPO"
    observation_space: gym.spaces.Space
    action_space: gym.spaces.Space
    inputs: list[ObservationInput] = field(default_factory=list)
    is_dict: bool = False
    recurrent: RecurrentSpec | None = None
    normalization: NormalizationStats | None = None

    @property
    def display_name(self) -> str:
        return DISPLAY_NAMES[self.algorithm]

    @property
    def framework(self) -> str:
        """``training_framework``: the package whose algorithm trained the model."""
        return "sb3-contrib" if ALGORITHM_CLASSES[self.algorithm][0] == "sb3_contrib" else "stable-baselines3"

    @property
    def input_names(self) -> list[str]:
        names = [spec.name for spec in self.inputs]
        return names + list(self.recurrent.inputs) if self.recurrent else names

    @property
    def output_names(self) -> list[str]:
        return ["action", *self.recurrent.outputs] if self.recurrent else ["action"]


def build_actor(
    model: Any,
    algorithm: str,
    *,
    normalization: NormalizationStats | None = None,
    image_layout: str | None = None,
) -> ExportableActor:
    """Wrap ``model``'s policy as ``inputs -> action`` with SB3's pre- and post-processing included."""
    algorithm = canonical_algorithm(algorithm)
    obs_space = model.observation_space
    is_dict = isinstance(obs_space, gym.spaces.Dict)
    inputs = observation_inputs(obs_space, image_layout, normalization)
    adapter = ObservationAdapter(inputs, is_dict)
    module = build_family_module(algorithm, model, adapter)
    recurrent = None
    if algorithm == "RECURRENTPPO":
        lstm = model.policy.lstm_actor
        recurrent = RecurrentSpec(n_layers=int(lstm.num_layers), hidden_size=int(lstm.hidden_size))
    return ExportableActor(
        module=module.eval(),
        algorithm=algorithm,
        observation_space=obs_space,
        action_space=model.action_space,
        inputs=inputs,
        is_dict=is_dict,
        recurrent=recurrent,
        normalization=normalization,
    )
