"""Which algorithm saved a model zip, named from the zip's own data, and the class that rebuilds it.

(Reading the zip, old or new, is :mod:`clankers.export.source`'s job; ``detect_algorithm`` and
``load_model`` here are shortcuts to it.)

SB3 stores the policy *class* (cloudpickled) and the algorithm's constructor arguments in the zip's
``data``. Class names are ambiguous across algorithms (DQN, SAC and TD3 each define a class called
``CnnPolicy``), so detection goes by the module that defines the policy class, and only where several
algorithms share one policy family (PPO/A2C/TRPO share ``ActorCriticPolicy``; TD3/DDPG share
``TD3Policy``) by the hyperparameters only one of them stores.

A model zip is a pickle container: only load files you trust.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clankers.errors import UnsupportedModelError

#: Algorithm name -> (package, class). sb3-contrib entries are used only when sb3-contrib is installed.
ALGORITHM_CLASSES: dict[str, tuple[str, str]] = {
    "PPO": ("stable_baselines3", "PPO"),
    "A2C": ("stable_baselines3", "A2C"),
    "SAC": ("stable_baselines3", "SAC"),
    "TD3": ("stable_baselines3", "TD3"),
    "DDPG": ("stable_baselines3", "DDPG"),
    "DQN": ("stable_baselines3", "DQN"),
    "RECURRENTPPO": ("sb3_contrib", "RecurrentPPO"),
    "TQC": ("sb3_contrib", "TQC"),
    "QRDQN": ("sb3_contrib", "QRDQN"),
    "TRPO": ("sb3_contrib", "TRPO"),
    "ARS": ("sb3_contrib", "ARS"),
    "CROSSQ": ("sb3_contrib", "CrossQ"),
}

#: Module of the policy class -> algorithm, for families used by exactly one algorithm.
_POLICY_MODULES: dict[str, str] = {
    "stable_baselines3.sac.policies": "SAC",
    "stable_baselines3.dqn.policies": "DQN",
    "sb3_contrib.common.recurrent.policies": "RECURRENTPPO",
    "sb3_contrib.ppo_recurrent.policies": "RECURRENTPPO",
    "sb3_contrib.tqc.policies": "TQC",
    "sb3_contrib.qrdqn.policies": "QRDQN",
    "sb3_contrib.ars.policies": "ARS",
    "sb3_contrib.crossq.policies": "CROSSQ",
}

#: Spellings accepted by ``--algo`` besides the canonical names.
_ALIASES = {"RECURRENT_PPO": "RECURRENTPPO", "PPO_LSTM": "RECURRENTPPO", "QR-DQN": "QRDQN", "QR_DQN": "QRDQN"}

#: Algorithms that save the same policy class (``--algo`` may choose within a family).
_FAMILIES = {"A2C": "PPO", "TRPO": "PPO", "DDPG": "TD3"}

#: Display names (the value written to the ``algorithm`` metadata key).
DISPLAY_NAMES = {key: cls for key, (_, cls) in ALGORITHM_CLASSES.items()}


def canonical_algorithm(name: str) -> str:
    """Normalise a user-given algorithm name (``recurrentppo``, ``QR-DQN``...) to a registry key."""
    key = name.strip().upper()
    key = _ALIASES.get(key, key)
    if key not in ALGORITHM_CLASSES:
        raise UnsupportedModelError(
            f"algorithm {name!r} is not supported; choose one of {', '.join(DISPLAY_NAMES.values())}"
        )
    return key


def family_of(algorithm: str) -> str:
    """Algorithms whose zips share one policy class form a family (``--algo`` may pick within it)."""
    key = canonical_algorithm(algorithm)
    return _FAMILIES.get(key, key)


def algorithm_from_data(data: Mapping[str, Any], label: str = "model") -> str:
    """The registry key of the algorithm that produced ``data`` (see the module docstring for how)."""
    policy_class = data["policy_class"]
    module = getattr(policy_class, "__module__", "")
    name = getattr(policy_class, "__name__", str(policy_class))
    if module in _POLICY_MODULES:
        return _POLICY_MODULES[module]
    if module == "stable_baselines3.td3.policies":
        # DDPG is TD3 with one actor update per critic update and no target smoothing noise.
        if data.get("policy_delay") == 1 and data.get("target_noise_clip") == 0.0:
            return "DDPG"
        return "TD3"
    if module == "stable_baselines3.common.policies" and "ActorCritic" in name:
        if "cg_max_steps" in data or "line_search_shrinking_factor" in data:
            return "TRPO"
        if "clip_range" in data:
            return "PPO"
        return "A2C"
    if module.startswith(("sb3_contrib.ppo_mask", "sb3_contrib.common.maskable")):
        raise UnsupportedModelError(
            f"{label}: MaskablePPO is not supported: its actions depend on an action mask the policy file "
            "has no input for"
        )
    raise UnsupportedModelError(
        f"{label}: policy class {module}.{name} is not supported (supported algorithms: "
        f"{', '.join(DISPLAY_NAMES.values())}); pass --algo if detection is wrong"
    )


def detect_algorithm(path: str | Path) -> str:
    """Name the algorithm that saved ``path`` (a registry key such as ``PPO`` or ``RECURRENTPPO``)."""
    from clankers.export.source import detect_algorithm as detect

    return detect(path)


def algorithm_class(algorithm: str) -> type:
    """The SB3 / sb3-contrib class of a registry key, with a clear error when sb3-contrib is missing."""
    module_name, class_name = ALGORITHM_CLASSES[canonical_algorithm(algorithm)]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnsupportedModelError(
            f"{class_name} needs the {module_name} package; install clankers[train]"
        ) from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise UnsupportedModelError(f"the installed {module_name} has no {class_name}")
    return cls


def load_model(path: str | Path, algo: str | None = None) -> Any:
    """Load an SB3 model on the CPU for acting (any SB3 version, gym or Gymnasium; no environment needed)."""
    from clankers.export.source import load_model as load

    return load(path, algo)
