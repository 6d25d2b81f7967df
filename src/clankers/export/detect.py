"""Which algorithm saved a model zip, read from the zip itself, and loading it with the right class.

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

from clankers.errors import ExportError, UnsupportedModelError

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


def read_zip_data(path: str | Path) -> Mapping[str, Any]:
    """The ``data`` dictionary of an SB3 model zip, with typed errors for files that are not one."""
    from stable_baselines3.common.save_util import load_from_zip_file

    try:
        data, _, _ = load_from_zip_file(str(path), load_data=True, device="cpu")
    except FileNotFoundError as exc:
        raise ExportError(f"model file {path} does not exist; pass the model.zip that SB3 saved") from exc
    except Exception as exc:
        raise ExportError(
            f"{path} is not a Stable-Baselines3 model zip ({type(exc).__name__}: {exc})"
        ) from exc
    if data is None or "policy_class" not in data:
        raise ExportError(f"{path} has no policy_class in its data; was it saved by SB3's model.save()?")
    return data


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
    return algorithm_from_data(read_zip_data(path), str(path))


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
    """Load an SB3 model on the CPU, detecting its algorithm unless ``algo`` is given."""
    key = canonical_algorithm(algo) if algo else detect_algorithm(path)
    cls = algorithm_class(key)
    try:
        return cls.load(str(path), device="cpu")
    except Exception as exc:
        raise ExportError(f"{cls.__name__}.load({path}) failed: {type(exc).__name__}: {exc}") from exc
