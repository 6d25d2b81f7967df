"""Baseline policies: what a trained policy has to beat.

A return means little alone: 40 on a reaching task is good if doing nothing scores -300, and worthless if
doing nothing scores 35. ``clankers run --policy`` takes these beside policy files, so an evaluation can
put the trained policy next to them on the same seeds:

| spec                    | acts                                                                      |
|-------------------------|---------------------------------------------------------------------------|
| ``zero``                | the "do nothing" action: zeros (clipped into the bounds of a Box; the     |
|                         | first action of a Discrete space)                                        |
| ``random``              | uniform samples of the action space, from a generator seeded by the run's |
|                         | seed (the same seed gives the same actions)                               |
| ``scripted:module:attr``| a function ``act(obs) -> action`` of your own, e.g. a hand-written        |
|                         | controller; imported from the current folder or an installed package; if  |
|                         | it has a ``reset()`` method, that is called at the start of every episode |

All of them run torch-free, like the ONNX runtime.
"""

from __future__ import annotations

import copy
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from clankers.errors import ConfigError

BASELINES = ("zero", "random", "scripted:module:attr")


@dataclass
class BaselinePolicy:
    """A named ``obs -> action`` function with an optional per-episode ``reset``."""

    name: str
    act: Callable[[Any], Any]
    reset: Callable[[], None] | None = None


def is_baseline(spec: str) -> bool:
    """Whether ``spec`` names a baseline (rather than a policy file)."""
    return spec in ("zero", "random") or spec.startswith("scripted:")


def baseline_policy(spec: str, action_space: gym.Space, seed: int = 0) -> BaselinePolicy:
    """The baseline ``spec`` (see the module docstring) for an environment with ``action_space``."""
    if spec == "zero":
        action = zero_action(action_space)
        return BaselinePolicy("zero", lambda _obs: copy.deepcopy(action))
    if spec == "random":
        space = copy.deepcopy(action_space)
        space.seed(seed)
        return BaselinePolicy("random", lambda _obs: space.sample())
    if spec.startswith("scripted:"):
        target = _import(spec.removeprefix("scripted:"))
        reset = getattr(target, "reset", None)
        return BaselinePolicy(spec, target, reset if callable(reset) else None)
    raise ConfigError(
        f"unknown policy {spec!r}",
        hint=f"pass a policy file (.onnx) or one of the baselines {', '.join(BASELINES)}",
    )


def zero_action(space: gym.Space) -> Any:
    """The "do nothing" action of ``space``: zeros, moved into the bounds where zero is outside them."""
    if isinstance(space, gym.spaces.Box):
        return np.clip(np.zeros(space.shape, dtype=space.dtype), space.low, space.high).astype(space.dtype)
    if isinstance(space, gym.spaces.Discrete):
        return np.int64(space.start)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return np.asarray(space.start, dtype=space.dtype).copy()
    if isinstance(space, gym.spaces.MultiBinary):
        return np.zeros(space.shape, dtype=space.dtype)
    if isinstance(space, gym.spaces.Dict):
        return {key: zero_action(sub) for key, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(zero_action(sub) for sub in space.spaces)
    raise ConfigError(
        f"no zero action for a {type(space).__name__} action space",
        hint="use --policy random or a scripted policy",
    )


def _import(target: str) -> Callable[[Any], Any]:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"scripted policy {target!r} must be module:attr",
            hint="e.g. --policy scripted:my_controller:act (my_controller.py in the current folder)",
        )
    cwd = str(Path.cwd())
    if cwd not in sys.path:  # a console script's path lacks the current folder; `python -m` has it
        sys.path.append(cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(
            f"cannot import {module_name!r} for the scripted policy: {err}",
            hint="run from the folder that holds the module, or install the package that has it",
        ) from err
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(
                f"module {module_name!r} has no {attr!r}",
                hint=f"define a function {attr}(obs) -> action in {module_name}",
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{module_name}:{attr} is not callable", hint="it must be a function obs -> action")
    return obj
