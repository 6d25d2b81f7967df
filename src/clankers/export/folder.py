"""Experiment folders: ``clankers export DIR`` finds the model, its statistics and its config itself.

RL Baselines3 Zoo (and the Hugging Face copies of its agents) keep one experiment per folder::

    ppo/HalfCheetah-v3_1/
        HalfCheetah-v3.zip              # the final model (best_model.zip, rl_model_*_steps.zip: others)
        HalfCheetah-v3/
            args.yml                    # the command line, including the env id
            config.yml                  # hyperparameters: normalize, frame_stack, env_wrapper, ...
            vecnormalize.pkl            # VecNormalize statistics (Hugging Face: vec_normalize.pkl)

Hugging Face copies (``sb3/ppo-HalfCheetah-v3``) hold ``ppo-HalfCheetah-v3.zip``, ``config.yml`` and
``vec_normalize.pkl`` side by side. The model is ``<env id>.zip`` (or ``<algo>-<env id>.zip``) when
present, else the only zip that is not a checkpoint or ``best_model.zip``, else the only zip at all;
ambiguity is an error that lists the candidates. The statistics are the ``vecnormalize.pkl`` / ``vec_normalize.pkl`` beside the model or in a subfolder. A
config that says the model was trained behind ``VecNormalize`` while no statistics are found is an error:
exporting without them gives a policy that acts on the wrong scale. What was used is reported.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clankers.errors import ExportError

STATS_NAMES = ("vecnormalize.pkl", "vec_normalize.pkl")
_CHECKPOINT = re.compile(r"(^rl_model_.*_steps|_steps)\.zip$")
_RUN_SUFFIX = re.compile(r"_\d+$")
#: Hugging Face copies of zoo agents live in folders named ``<algo>-<env id>``.
_HUB_NAME = re.compile(
    r"^(a2c|ppo|sac|td3|ddpg|dqn|qrdqn|tqc|trpo|ars|crossq|her|ppo_lstm|recurrentppo)-(.+)$", re.I
)
#: Zips in such folders that are not models.
_NOT_MODELS = ("train_eval_metrics.zip",)
MAX_DEPTH = 2


@dataclass
class ExperimentFolder:
    """The pieces found in a folder."""

    root: Path
    model: Path
    vecnormalize: Path | None = None
    config: Path | None = None
    env_id: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def files(self) -> dict[str, str]:
        found = {"folder": str(self.root)}
        if self.config is not None:
            found["config"] = str(self.config)
        return found


def _walk(root: Path, depth: int = MAX_DEPTH) -> Iterator[Path]:
    for child in sorted(root.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir() and depth > 0:
            yield from _walk(child, depth - 1)
        elif child.is_file():
            yield child


def resolve_folder(root: Path, explicit_stats: bool = False) -> ExperimentFolder:
    """Find the model zip, statistics and config in ``root`` (see the module docstring)."""
    files = list(_walk(root))
    args = _first(files, "args.yml")
    config = _first(files, "config.yml")
    env_id = _env_id(args, root)
    model = _pick_model(root, [f for f in files if f.suffix == ".zip" and f.name not in _NOT_MODELS], env_id)
    folder = ExperimentFolder(root=root, model=model, config=config, env_id=env_id)
    folder.notes.append(f"experiment folder {root}: model {model.relative_to(root)}")
    if env_id:
        folder.notes.append(
            f"trained on {env_id} ({'args.yml' if args else 'folder name'}); pass --env {env_id} to add parity "
            "observations from real episodes"
        )
    if config is not None:
        folder.hyperparameters = read_yaml(config)
        wrappers = {
            k: folder.hyperparameters[k]
            for k in ("env_wrapper", "frame_stack")
            if k in folder.hyperparameters
        }
        if wrappers:
            folder.notes.append(
                f"config.yml: {wrappers}; the graph takes the observation the model saw, after these wrappers"
            )
    stats = [f for f in files if f.name in STATS_NAMES]
    if stats:
        folder.vecnormalize = _pick_stats(root, stats, model, env_id)
        if not explicit_stats:
            folder.notes.append(f"statistics {folder.vecnormalize.relative_to(root)}")
    elif _normalizes_observations(folder.hyperparameters) and not explicit_stats:
        raise ExportError(
            f"{config} says the model was trained behind VecNormalize (normalize: "
            f"{folder.hyperparameters.get('normalize')!r}), but {root} holds no {' or '.join(STATS_NAMES)}",
            hint="pass --vecnormalize PATH; without the statistics the policy would act on unnormalized "
            "observations",
        )
    return folder


def _first(files: list[Path], name: str) -> Path | None:
    matches = sorted((f for f in files if f.name == name), key=lambda f: len(f.parts))
    return matches[0] if matches else None


def _env_id(args: Path | None, root: Path) -> str | None:
    if args is not None:
        env = read_yaml(args).get("env")
        if isinstance(env, str) and env:
            return env
    name = _RUN_SUFFIX.sub("", root.name)
    hub = _HUB_NAME.match(name)
    name = hub.group(2) if hub else name
    return name if "-v" in name else None


def _pick_model(root: Path, zips: list[Path], env_id: str | None) -> Path:
    if not zips:
        raise ExportError(
            f"{root} holds no model zip (looked {MAX_DEPTH} folders deep)",
            hint="pass the model.zip itself, or the experiment folder that holds it",
        )
    if env_id is not None:
        named = [z for z in zips if z.stem == env_id or z.stem.endswith(f"-{env_id}")]
        if len(named) == 1:
            return named[0]
    finals = [z for z in zips if not _CHECKPOINT.search(z.name) and z.name != "best_model.zip"]
    if len(finals) == 1:
        return finals[0]
    if not finals and len(zips) == 1:
        return zips[0]
    listed = ", ".join(str(z.relative_to(root)) for z in zips)
    raise ExportError(
        f"{root} holds several model zips ({listed}) and none is clearly the final model",
        hint="pass the zip to export (e.g. DIR/best_model.zip)",
    )


def _pick_stats(root: Path, stats: list[Path], model: Path, env_id: str | None) -> Path:
    if len(stats) == 1:
        return stats[0]
    preferred = [s for s in stats if s.parent == model.parent or (env_id and s.parent.name == env_id)]
    if len(preferred) == 1:
        return preferred[0]
    listed = ", ".join(str(s.relative_to(root)) for s in stats)
    raise ExportError(
        f"{root} holds several statistics files ({listed})", hint="pass --vecnormalize PATH to choose one"
    )


def _normalizes_observations(hyperparameters: dict[str, Any]) -> bool:
    value = hyperparameters.get("normalize", False)
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, dict):
        return bool(value.get("norm_obs", True))
    return bool(value)


def read_yaml(path: Path) -> dict[str, Any]:
    """A zoo ``config.yml`` / ``args.yml`` as a dict; Python tags (OrderedDict, tuples) read as plain data."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def ordered(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        # !!python/object/apply:collections.OrderedDict [[[key, value], ...]]
        value = loader.construct_sequence(node, deep=True) if isinstance(node, yaml.SequenceNode) else None
        pairs = value[0] if value and isinstance(value[0], list) else []
        return {k: v for k, v in pairs} if all(isinstance(p, list) and len(p) == 2 for p in pairs) else {}

    def other(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        return f"{suffix}:{loader.construct_scalar(node)}"

    _Loader.add_constructor("tag:yaml.org,2002:python/object/apply:collections.OrderedDict", ordered)
    _Loader.add_multi_constructor("tag:yaml.org,2002:python/", other)
    try:
        loaded = yaml.load(path.read_text(), Loader=_Loader)
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path} cannot be read as YAML ({exc})", hint="pass the model zip itself") from exc
    if isinstance(loaded, list):  # args.yml of older zoo versions: [[key, value], ...]
        loaded = {p[0]: p[1] for p in loaded if isinstance(p, list) and len(p) == 2}
    return loaded if isinstance(loaded, dict) else {}
