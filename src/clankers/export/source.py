"""Stage 1 of an export: read what the user has (a model zip, an experiment folder, statistics) into a
:class:`Source` the later stages use, or stop with an :class:`ExportError` that names the cause and the fix.

All compatibility work lives here. SB3's own ``Algorithm.load`` needs the packages the model was saved
with (gym for SB3 1.x zips), rebuilds training state nobody needs to act (a HER replay buffer wants its
environment; a million-entry buffer wants memory), and fails with whatever the first broken piece raises.
This reader instead:

- opens the zip itself and tells a file that is not an SB3 zip from one that is but is damaged;
- decodes the ``data`` member with :class:`~clankers.export.legacy.LegacyUnpickler` (gym-era spaces become
  Gymnasium spaces, rebuilt from their saved state), entry by entry: an entry needed to act (policy class,
  spaces, policy arguments) that cannot be read is an error naming what it needs; training-only entries
  (schedules, replay buffer settings, noise, last observations) are replaced by inert values;
- rebuilds the algorithm object without an environment, with a one-element plain replay buffer, and loads
  only the policy weights (optimizer states are not needed to act and differ between versions), accepting
  older layouts: a shared feature extractor saved under one name only (SB3 < 1.7), actor-critic layers
  shared by the policy and value networks (SB3 < 1.8; rebuilt as two copies, the same function).

A model zip is a pickle container: only load files you trust.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import warnings
import zipfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clankers.errors import ExportError, UnsupportedModelError
from clankers.export.detect import (
    DISPLAY_NAMES,
    algorithm_class,
    algorithm_from_data,
    canonical_algorithm,
    family_of,
)
from clankers.export.legacy import loads, modern_space
from clankers.export.vecnormalize import NormalizationStats, load_vecnormalize

#: Data entries without which the policy cannot be rebuilt.
ESSENTIAL = ("policy_class", "observation_space", "action_space")
#: Training-only entries replaced by inert values (never decoded): acting needs none of them.
ACT_ONLY: dict[str, Any] = {
    "learning_rate": 0.0,
    "lr_schedule": None,  # set to a constant schedule below (a lambda cannot be a module constant here)
    "clip_range": 0.2,
    "clip_range_vf": None,
    "exploration_schedule": None,
    "action_noise": None,
    "replay_buffer_class": None,  # HerReplayBuffer needs the environment; a plain one does not
    "replay_buffer_kwargs": {},
    "buffer_size": 1,
    "optimize_memory_usage": False,
    "rollout_buffer_class": None,
    "rollout_buffer_kwargs": {},
    "train_freq": 1,
    "_last_obs": None,
    "_last_original_obs": None,
    "_last_episode_starts": None,
    "ep_info_buffer": None,
    "ep_success_buffer": None,
}

_RESAVE = "the file is damaged; download it again, or load and re-save it with the SB3 that trained it"


def _zero_schedule(_: float) -> float:
    return 0.0


@dataclass
class ZipContents:
    """What an SB3 model zip holds, decoded (see the module docstring)."""

    path: Path
    data: dict[str, Any]
    raw_keys: set[str]
    policy_state: Mapping[str, Any]
    sb3_version: str | None = None
    system_info: dict[str, str] = field(default_factory=dict)
    legacy_names: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)

    @property
    def gym_era(self) -> bool:
        """Saved under OpenAI Gym (its spaces were read as data and rebuilt with Gymnasium)."""
        return any(name.startswith("gym.") for name in self.legacy_names)

    def describe(self) -> str:
        """One line on where the zip came from, for the report."""
        parts = [f"SB3 {self.sb3_version or 'version unknown'}"]
        gym_version = self.system_info.get("Gym")
        if self.gym_era:
            parts.append(f"gym {gym_version or '(version unknown)'}: gym.spaces rebuilt as Gymnasium spaces")
        elif "Gymnasium" in self.system_info:
            parts.append(f"Gymnasium {self.system_info['Gymnasium']}")
        if self.skipped:
            parts.append(f"unreadable training-only entries skipped: {', '.join(sorted(self.skipped))}")
        return "; ".join(parts)


@dataclass
class Source:
    """The output of stage 1: the rebuilt model and everything read to rebuild it."""

    model: Any
    algorithm: str  # registry key
    model_path: Path
    contents: ZipContents
    stats: NormalizationStats | None = None
    files: dict[str, str] = field(default_factory=dict)  # role -> path of every file used
    notes: list[str] = field(default_factory=list)


def read_source(model_path: str | Path, algo: str | None, vecnormalize: str | Path | None) -> Source:
    """Stage 1: a model zip or an experiment folder (+ statistics) -> :class:`Source`."""
    from clankers.export.folder import resolve_folder

    path = Path(model_path)
    notes: list[str] = []
    files: dict[str, str] = {}
    if path.is_dir():
        folder = resolve_folder(path, explicit_stats=vecnormalize is not None)
        path = folder.model
        if vecnormalize is None:
            vecnormalize = folder.vecnormalize
        files.update(folder.files)
        notes.extend(folder.notes)
    contents = read_zip(path)
    algorithm = resolve_algorithm(contents, algo)
    model = build_model(contents, algorithm)
    files["model"] = str(path)
    stats = None
    if vecnormalize is not None:
        stats = load_vecnormalize(vecnormalize)
        files["vecnormalize"] = str(vecnormalize)
        if stats is None:
            notes.append(
                f"{vecnormalize} does not normalize observations (norm_obs is False): nothing baked in"
            )
    notes.insert(0, f"read {path.name}: {contents.describe()}")
    return Source(model, algorithm, path, contents, stats, files, notes)


# --- the zip -----------------------------------------------------------------------------------------


def read_zip(path: str | Path) -> ZipContents:
    """Open and decode an SB3 model zip; an :class:`ExportError` for anything that stops it."""
    path = Path(path)
    if not path.exists():
        raise ExportError(
            f"model file {path} does not exist",
            hint="pass the model.zip that SB3 saved (or an experiment folder holding it)",
        )
    if path.is_dir():
        raise ExportError(
            f"{path} is a folder, not a model zip", hint="pass the zip inside it, or export the folder itself"
        )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        with open(path, "rb") as handle:
            damaged = handle.read(4) == b"PK\x03\x04"  # a zip's first member header, but no directory
        if damaged:
            raise ExportError(f"{path} is a truncated or damaged zip archive ({exc})", hint=_RESAVE) from exc
        raise ExportError(
            f"{path} is not a Stable-Baselines3 model zip (not a zip archive: {exc})",
            hint="pass the model.zip that SB3's model.save() wrote",
        ) from exc
    with archive:
        names = archive.namelist()
        if "data" not in names:
            raise ExportError(
                f"{path} is a zip archive but not a Stable-Baselines3 model: it has no 'data' member "
                f"(members: {', '.join(names[:8]) or 'none'})",
                hint="pass the model.zip that SB3's model.save() wrote",
            )
        raw_json = _member(archive, "data", path)
        policy_raw = _member(archive, "policy.pth", path) if "policy.pth" in names else None
        version = None
        if "_stable_baselines3_version" in names:
            version = (
                _member(archive, "_stable_baselines3_version", path).decode(errors="replace").strip() or None
            )
        info = _system_info(archive, path) if "system_info.txt" in names else {}
    try:
        entries = json.loads(raw_json.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(
            f"{path} is an SB3 model zip, but its 'data' member is corrupt ({type(exc).__name__}: {exc})",
            hint=_RESAVE,
        ) from exc
    if not isinstance(entries, dict):
        raise ExportError(f"{path}: its 'data' member is not a JSON object", hint=_RESAVE)
    data, legacy, skipped = _decode(entries, path, version)
    if policy_raw is None:
        raise ExportError(
            f"{path} is an SB3 model zip without policy weights (no policy.pth member)",
            hint="the zip was saved without its parameters; export a zip written by model.save()",
        )
    return ZipContents(
        path, data, set(entries), _policy_state(policy_raw, path), version, info, legacy, skipped
    )


def _member(archive: zipfile.ZipFile, name: str, path: Path) -> bytes:
    try:
        return archive.read(name)
    except Exception as exc:  # BadZipFile (CRC), zlib.error, EOFError on a truncated archive...
        raise ExportError(
            f"{path} is an SB3 model zip, but its member {name!r} cannot be read ({type(exc).__name__}: {exc})",
            hint=_RESAVE,
        ) from exc


def _system_info(archive: zipfile.ZipFile, path: Path) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in _member(archive, "system_info.txt", path).decode(errors="replace").splitlines():
        key, sep, value = line.lstrip("- ").partition(":")
        if sep:
            info[key.strip()] = value.strip().split(" ")[0]
    return info


def _decode(
    entries: dict[str, Any], path: Path, version: str | None
) -> tuple[dict[str, Any], set[str], list[str]]:
    """Decode every entry (legacy-aware); training-only entries get their inert values."""
    data: dict[str, Any] = {}
    legacy: set[str] = set()
    skipped: list[str] = []
    for key, item in entries.items():
        if key in ACT_ONLY:
            data[key] = _zero_schedule if key == "lr_schedule" else ACT_ONLY[key]
            continue
        if not (isinstance(item, dict) and ":serialized:" in item):
            data[key] = item
            continue
        try:
            value, names = loads(base64.b64decode(item[":serialized:"].encode()))
        except Exception as exc:
            if key in ESSENTIAL or key == "policy_kwargs":
                raise _entry_error(key, exc, path, version) from exc
            skipped.append(key)  # e.g. a function pickled by another Python version
            continue
        legacy |= names
        data[key] = value
    for key in ESSENTIAL:
        if key not in data:
            raise ExportError(
                f"{path} is an SB3 model zip without {key!r} in its data",
                hint="the zip was not written by SB3's model.save(), or was edited; re-save it with SB3",
            )
    for key in ("observation_space", "action_space"):
        data[key] = modern_space(data[key], key.replace("_", " "))
    return data, legacy, skipped


def _entry_error(key: str, exc: Exception, path: Path, version: str | None) -> ExportError:
    saved = f"SB3 {version}" if version else "an SB3 version this zip does not name"
    if isinstance(exc, ModuleNotFoundError):
        module = exc.name or "?"
        if module.split(".")[0] == "sb3_contrib":
            hint = "install sb3-contrib (pip install 'clankers[train]')"
        else:
            hint = (
                f"the model uses code of its own (module {module!r}: a custom policy, network or feature "
                "extractor); make that module importable (pip install it, or add it to PYTHONPATH) and "
                "export again"
            )
        return ExportError(
            f"{path}: the saved {key} needs the module {module!r}, which is not installed", hint=hint
        )
    if isinstance(exc, AttributeError):
        return ExportError(
            f"{path}: the saved {key} refers to something the installed packages do not have ({exc}); it was "
            f"saved by {saved}",
            hint="install the package version that defines it, or re-save the model with this SB3",
        )
    if isinstance(exc, (EOFError, pickle.UnpicklingError, ValueError, TypeError)) or "truncated" in str(exc):
        return ExportError(
            f"{path}: the saved {key} is truncated or corrupt ({type(exc).__name__}: {exc})", hint=_RESAVE
        )
    return ExportError(f"{path}: the saved {key} cannot be read ({type(exc).__name__}: {exc})", hint=_RESAVE)


def _policy_state(raw: bytes, path: Path) -> Mapping[str, Any]:
    import torch

    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ExportError(
            f"{path} is an SB3 model zip, but its policy weights (policy.pth) cannot be read "
            f"({type(exc).__name__}: {str(exc)[:200]})",
            hint=_RESAVE,
        ) from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ExportError(f"{path}: policy.pth does not hold a state dict of tensors", hint=_RESAVE)
    return state


# --- which algorithm ---------------------------------------------------------------------------------


def resolve_algorithm(contents: ZipContents, algo: str | None) -> str:
    """The detected algorithm, or ``algo`` when given and compatible with the zip's policy class."""
    from stable_baselines3.common.policies import BasePolicy

    policy_class = contents.data["policy_class"]
    label = str(contents.path)
    if not (isinstance(policy_class, type) and issubclass(policy_class, BasePolicy)):
        raise UnsupportedModelError(
            f"{label}: policy_class is {policy_class!r}, not a Stable-Baselines3 policy class",
            hint="the zip was edited or saved by another library; export a zip written by SB3's model.save()",
        )
    if algo is None:
        return algorithm_from_data(contents.data, label)
    key = canonical_algorithm(algo)
    try:
        detected = algorithm_from_data(contents.data, label)
    except UnsupportedModelError:
        return key  # detection failed; trust the user's --algo (loading checks the weights fit)
    if family_of(detected) != family_of(key):
        raise ExportError(
            f"--algo {DISPLAY_NAMES[key]} does not fit {label}: its policy class "
            f"{policy_class.__module__}.{policy_class.__name__} belongs to {DISPLAY_NAMES[detected]}",
            hint="drop --algo to use the detected algorithm",
        )
    return key


# --- the model ---------------------------------------------------------------------------------------


def build_model(contents: ZipContents, algorithm: str) -> Any:
    """The algorithm object, rebuilt without an environment, with the zip's policy weights."""
    cls = algorithm_class(algorithm)
    data = dict(contents.data)
    state = contents.policy_state
    kwargs = _policy_kwargs(data.get("policy_kwargs"), contents.path)
    if any(key.startswith("mlp_extractor.shared_net.") for key in state):
        kwargs, state = unshare_mlp_extractor(kwargs, state)
    elif _has_shared_layers(kwargs.get("net_arch")):
        raise UnsupportedModelError(
            f"{contents.path}: net_arch {kwargs['net_arch']} has layers shared by the policy and value "
            "networks, but the weights have no shared layers",
            hint=_RESAVE,
        )
    elif (
        isinstance(kwargs.get("net_arch"), list)
        and kwargs["net_arch"]
        and isinstance(kwargs["net_arch"][0], dict)
    ):
        kwargs["net_arch"] = kwargs["net_arch"][
            0
        ]  # [dict(pi=..., vf=...)] -> dict(pi=..., vf=...) (SB3 < 1.8)
    data["policy_kwargs"] = kwargs
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = cls(policy=data["policy_class"], env=None, device="cpu", _init_setup_model=False)
            model.__dict__.update(data)
            model._setup_model()
    except Exception as exc:
        raise ExportError(
            f"{contents.path}: {cls.__name__} cannot rebuild the saved policy from its arguments "
            f"({type(exc).__name__}: {str(exc)[:300]}); the zip was saved by SB3 {contents.sb3_version or '?'}",
            hint="re-save the model with a current SB3, or pass --algo if the detected algorithm is wrong",
        ) from exc
    load_policy_weights(model.policy, state, str(contents.path))
    model.policy.set_training_mode(False)
    return model


def _policy_kwargs(kwargs: Any, path: Path) -> dict[str, Any]:
    """SB3's own load-time conversions of policy arguments, plus those of removed arguments."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise ExportError(f"{path}: policy_kwargs is a {type(kwargs).__name__}, not a mapping", hint=_RESAVE)
    kwargs = dict(kwargs)
    kwargs.pop("device", None)
    if kwargs.get("sde_net_arch", "absent") is None:
        kwargs.pop("sde_net_arch")  # removed in SB3 1.3; None meant "no extra layers"
    return kwargs


def _has_shared_layers(net_arch: Any) -> bool:
    return (
        isinstance(net_arch, list)
        and any(isinstance(layer, int) for layer in net_arch)
        and any(isinstance(layer, dict) for layer in net_arch)
    )


def unshare_mlp_extractor(
    kwargs: dict[str, Any], state: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An actor-critic MLP with layers shared by the policy and value networks (SB3 < 1.8:
    ``net_arch=[64, dict(pi=[32], vf=[32])]``, or ``[64, 64]``, which then meant shared) as two separate
    networks that each start with a copy of the shared layers: the same function, in a form current SB3
    builds (``net_arch=dict(pi=[64, 32], vf=[64, 32])``). Layer sizes come from the weights themselves.
    """

    def layers(prefix: str) -> list[tuple[int, int]]:
        found = []
        for key, value in state.items():
            if key.startswith(prefix) and key.endswith(".weight"):
                found.append((int(key[len(prefix) :].split(".")[0]), int(value.shape[0])))
        return sorted(found)

    shared = layers("mlp_extractor.shared_net.")
    offset = 2 * len(shared)  # each layer is Linear + activation in the Sequential
    renamed: dict[str, Any] = {}
    for key, value in state.items():
        if key.startswith("mlp_extractor.shared_net."):
            rest = key[len("mlp_extractor.shared_net.") :]
            renamed[f"mlp_extractor.policy_net.{rest}"] = value
            renamed[f"mlp_extractor.value_net.{rest}"] = value.clone()
        elif key.startswith(("mlp_extractor.policy_net.", "mlp_extractor.value_net.")):
            head, rest = key[len("mlp_extractor.") :].split(".", 1)
            index, tail = rest.split(".", 1)
            renamed[f"mlp_extractor.{head}.{int(index) + offset}.{tail}"] = value
        else:
            renamed[key] = value
    sizes = [size for _, size in shared]
    net_arch = {
        "pi": sizes + [size for _, size in layers("mlp_extractor.policy_net.")],
        "vf": sizes + [size for _, size in layers("mlp_extractor.value_net.")],
    }
    return {**kwargs, "net_arch": net_arch}, renamed


def load_policy_weights(policy: Any, state: Mapping[str, Any], label: str) -> None:
    """``policy.load_state_dict(state)``, accepting names missing only because a module is shared.

    SB3 < 1.7 saved a shared feature extractor once (``features_extractor.*``); current policies also name
    it ``pi_features_extractor`` and ``vf_features_extractor``. A missing name whose tensor is the same
    object as a loaded one is fine; any other missing or unexpected weight is an error.
    """
    try:
        result = policy.load_state_dict(dict(state), strict=False)
    except RuntimeError as exc:
        raise ExportError(
            f"{label}: the saved weights do not fit the policy rebuilt from the zip's own arguments "
            f"({str(exc)[:400]})",
            hint="the zip's data and weights disagree (edited, or saved by an incompatible version); "
            "re-save the model with SB3",
        ) from exc
    own = policy.state_dict(keep_vars=True)
    names_of: dict[int, set[str]] = defaultdict(set)
    for name, tensor in own.items():
        names_of[id(tensor)].add(name)
    provided = set(state)
    missing = [k for k in result.missing_keys if not (names_of[id(own[k])] & provided)]
    unexpected = list(result.unexpected_keys)
    if missing or unexpected:
        raise ExportError(
            f"{label}: the saved weights do not fit the policy rebuilt from the zip's own arguments "
            f"(missing: {missing[:6]}{'...' if len(missing) > 6 else ''}; unexpected: "
            f"{unexpected[:6]}{'...' if len(unexpected) > 6 else ''})",
            hint="the zip's data and weights disagree (edited, or a policy_class of another algorithm); "
            "re-save the model with SB3, or check --algo",
        )


# --- the public shortcuts ----------------------------------------------------------------------------


def detect_algorithm(path: str | Path) -> str:
    """Name the algorithm that saved ``path`` (a registry key such as ``PPO`` or ``RECURRENTPPO``)."""
    return resolve_algorithm(read_zip(path), None)


def load_model(path: str | Path, algo: str | None = None) -> Any:
    """Load an SB3 model on the CPU for acting (any SB3 version, gym or Gymnasium, no environment)."""
    contents = read_zip(path)
    return build_model(contents, resolve_algorithm(contents, algo))
