"""Files as older software wrote them, made here: SB3 1.x model zips saved under OpenAI Gym, and
VecNormalize pickles of older SB3 versions.

Gym is never installed. :func:`stand_in_gym` registers a minimal ``gym`` package in ``sys.modules`` for the
time it takes to *write* a pickle, with space classes at gym's module paths (``gym.spaces.box.Box`` ...),
so pickles name exactly the classes gym-era files name. :func:`old_space` gives an instance the attribute
layout of a given gym release (0.17: ``shape``/``np_random``; 0.21: ``_shape``/``_np_random``; 0.26: plus
``low_repr``, ``start`` and a seeded ``Generator``), and random generators are pickled in numpy 1.x's
form (constructor by bit-generator name, then the state dict).

:func:`gym_era_zip` rewrites a zip saved by the installed SB3 into SB3 1.x's layout: gym spaces in
``data``, ``net_arch=[dict(pi=..., vf=...)]`` (SB3 < 1.8), no 2.x-only entries, the shared feature
extractor's weights saved under one name only (SB3 < 1.7), and a 1.x version and system info.
:func:`old_vecnormalize` writes a VecNormalize pickle the way SB3 1.x did (no ``norm_obs_keys``,
optionally gym spaces).
"""

from __future__ import annotations

import base64
import copyreg
import io
import json
import sys
import types
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np

_SPACE_MODULES = {
    "Box": "box",
    "Discrete": "discrete",
    "MultiDiscrete": "multi_discrete",
    "MultiBinary": "multi_binary",
    "Dict": "dict",
    "Tuple": "tuple",
}
GYM_STYLES = ("0.17", "0.21", "0.26")


@contextmanager
def stand_in_gym() -> Iterator[dict[str, type]]:
    """A minimal ``gym`` package in ``sys.modules`` (space classes only) while the block runs."""
    created: dict[str, types.ModuleType] = {}
    root = types.ModuleType("gym")
    spaces = types.ModuleType("gym.spaces")
    space_module = types.ModuleType("gym.spaces.space")
    root.spaces = spaces  # type: ignore[attr-defined]
    base = type("Space", (), {"__module__": "gym.spaces.space"})
    space_module.Space = base  # type: ignore[attr-defined]
    created.update({"gym": root, "gym.spaces": spaces, "gym.spaces.space": space_module})
    classes: dict[str, type] = {}
    for name, module_name in _SPACE_MODULES.items():
        module = types.ModuleType(f"gym.spaces.{module_name}")
        cls = type(name, (base,), {"__module__": module.__name__})
        setattr(module, name, cls)
        setattr(spaces, name, cls)
        created[module.__name__] = module
        classes[name] = cls
    saved = {name: sys.modules.get(name) for name in created}
    sys.modules.update(created)
    try:
        yield classes
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


def old_space(space: gym.spaces.Space, style: str, classes: dict[str, type], seeded: bool = False) -> Any:
    """``space`` as an instance of gym ``style``'s class, with that release's attribute names."""
    kind = type(space).__name__
    obj = object.__new__(classes[kind])
    shape_key, rng_key = ("shape", "np_random") if style == "0.17" else ("_shape", "_np_random")
    rng: Any = None
    if seeded or style == "0.17":  # 0.17 seeded every space on construction
        rng = (
            np.random.RandomState(0) if style in ("0.17", "0.21") else np.random.Generator(np.random.PCG64(0))
        )
    state: dict[str, Any] = {rng_key: rng}
    if kind == "Box":
        state.update(
            dtype=space.dtype,
            low=np.array(space.low),
            high=np.array(space.high),
            bounded_below=np.isfinite(space.low),
            bounded_above=np.isfinite(space.high),
        )
        state[shape_key] = tuple(space.shape)
        if style == "0.26":
            state.update(low_repr=str(space.low.min()), high_repr=str(space.high.max()))
    elif kind == "Discrete":
        state.update(n=int(space.n), dtype=np.dtype(np.int64))
        state[shape_key] = ()
        if style == "0.26":
            state["start"] = np.int64(0)
    elif kind == "MultiDiscrete":
        state.update(nvec=np.array(space.nvec), dtype=np.dtype(np.int64))
        state[shape_key] = tuple(space.shape)
    elif kind == "MultiBinary":
        state.update(n=int(space.n), dtype=np.dtype(np.int8))
        state[shape_key] = (int(space.n),)
    elif kind == "Dict":
        state.update(
            dtype=None, spaces=OrderedDict((k, old_space(v, style, classes)) for k, v in space.spaces.items())
        )
        state[shape_key] = None
    else:
        raise ValueError(kind)
    obj.__dict__.update(state)
    return obj


class _OldPickler(cloudpickle.CloudPickler):
    """Pickles random generators as numpy 1.x did: constructor by name, then the bit generator's state dict;
    ``overrides`` maps ``id(x)`` to the ``(callable, args, state)`` to pickle ``x`` as."""

    def __init__(self, file: io.BytesIO, overrides: dict[int, Any]) -> None:
        self.overrides = overrides
        super().__init__(file, protocol=4)

    def reducer_override(self, obj: Any) -> Any:
        from numpy.random import _pickle

        if id(obj) in self.overrides:
            return self.overrides[id(obj)]
        if type(obj) is np.random.Generator:
            name = type(obj.bit_generator).__name__
            return getattr(_pickle, "__generator_ctor"), (name,), obj.bit_generator.state
        if type(obj) is np.random.RandomState:
            name = type(obj._bit_generator).__name__
            return getattr(_pickle, "__randomstate_ctor"), (name,), obj.get_state(legacy=False)
        return super().reducer_override(obj)


def old_pickle(obj: Any, overrides: dict[int, Any] | None = None) -> bytes:
    """Pickle ``obj`` the old way; ``overrides`` maps ``id(x)`` to a replacement ``(callable, args, state)``."""
    buffer = io.BytesIO()
    _OldPickler(buffer, overrides or {}).dump(obj)
    return buffer.getvalue()


def _describe(space: gym.spaces.Space, serialized: bytes, style: str) -> dict[str, Any]:
    """A data entry as SB3's ``data_to_json`` writes it: type, pickle, and readable attributes."""
    entry: dict[str, Any] = {
        ":type:": f"<class 'gym.spaces.{_SPACE_MODULES[type(space).__name__]}.{type(space).__name__}'>",
        ":serialized:": base64.b64encode(serialized).decode(),
    }
    if isinstance(space, gym.spaces.Box):
        entry.update(dtype=str(space.dtype), low=str(space.low), high=str(space.high))
    return entry


def gym_era_zip(
    source: Path,
    target: Path,
    style: str = "0.21",
    sb3_version: str = "1.6.2",
    gym_version: str | None = None,
    shared_layers: int = 0,
) -> Path:
    """Rewrite the zip ``source`` (saved by the installed SB3) as SB3 ``sb3_version`` under gym ``style`` saved it.

    ``shared_layers``: fold the first layers of an actor-critic MLP into SB3 < 1.8's ``shared_net`` (the
    caller made the policy's and value's first layers equal, so the function is the same).
    """
    import torch
    from stable_baselines3.common.save_util import json_to_data

    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    entries = json.loads(members["data"].decode())
    data = json_to_data(members["data"].decode())
    with stand_in_gym() as classes:
        for key in ("observation_space", "action_space"):
            space = data[key]
            old = old_space(space, style, classes, seeded=key == "action_space")
            entries[key] = _describe(space, old_pickle(old), style)
    for key in ("rollout_buffer_class", "rollout_buffer_kwargs", "n_steps_replay"):
        entries.pop(key, None)
    state = torch.load(io.BytesIO(members["policy.pth"]), weights_only=True)
    # SB3 < 1.7 saved a shared feature extractor once (no pi_/vf_features_extractor names).
    if any(k.startswith("features_extractor.") for k in state):
        state = {
            k: v
            for k, v in state.items()
            if not k.startswith(("pi_features_extractor.", "vf_features_extractor."))
        }
    kwargs = entries.get("policy_kwargs")
    if isinstance(kwargs, dict) and isinstance(kwargs.get("net_arch"), dict):
        arch = kwargs["net_arch"]
        if shared_layers:
            shared = arch["pi"][:shared_layers]
            assert arch["vf"][:shared_layers] == shared
            tail = {"pi": arch["pi"][shared_layers:], "vf": arch["vf"][shared_layers:]}
            kwargs["net_arch"] = [*shared, tail]  # SB3 < 1.8: shared layers, then the two heads
            state = _fold_shared(state, shared_layers)
        else:
            kwargs["net_arch"] = [arch]  # SB3 < 1.8 wrote [dict(pi=..., vf=...)]
    buffer = io.BytesIO()
    torch.save(state, buffer)
    members["policy.pth"] = buffer.getvalue()
    members["data"] = json.dumps(entries, indent=4).encode()
    members["_stable_baselines3_version"] = sb3_version.encode()
    members["system_info.txt"] = (
        f"- OS: Linux-5.4.0 #1 SMP\n- Python: 3.8.10\n- Stable-Baselines3: {sb3_version}\n- PyTorch: 1.11.0\n"
        f"- GPU Enabled: False\n- Numpy: 1.21.5\n- Gym: {gym_version or style + '.0'}\n"
    ).encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return target


def _fold_shared(state: dict[str, Any], n: int) -> dict[str, Any]:
    """``mlp_extractor.{policy,value}_net`` with ``n`` equal leading layers -> ``shared_net`` + heads."""
    import torch

    folded: dict[str, Any] = {}
    for key, value in state.items():
        if key.startswith(("mlp_extractor.policy_net.", "mlp_extractor.value_net.")):
            head, rest = key[len("mlp_extractor.") :].split(".", 1)
            index, tail = rest.split(".", 1)
            if int(index) < 2 * n:
                if head == "policy_net":
                    other = state[f"mlp_extractor.value_net.{rest}"]
                    assert torch.equal(value, other), "the shared layers must be equal in both heads"
                    folded[f"mlp_extractor.shared_net.{rest}"] = value
                continue
            folded[f"mlp_extractor.{head}.{int(index) - 2 * n}.{tail}"] = value
        else:
            folded[key] = value
    return folded


def old_vecnormalize(
    venv: Any, target: Path, gym_style: str | None = None, drop: tuple[str, ...] = ()
) -> Path:
    """Write ``venv`` (a VecNormalize) as an older SB3 did: ``norm_obs_keys`` and ``drop`` left out, spaces
    pickled under gym ``gym_style`` when given. The class is the real one, so SB3 itself would unpickle it."""
    from stable_baselines3.common.vec_env import VecNormalize

    state = venv.__getstate__()
    for key in ("norm_obs_keys", "render_mode", *drop):
        state.pop(key, None)
    if gym_style is None:
        target.write_bytes(old_pickle(venv, {id(venv): (copyreg.__newobj__, (VecNormalize,), state)}))
        return target
    with stand_in_gym() as classes:
        for key in ("observation_space", "action_space"):
            if key in state:
                state[key] = old_space(state[key], gym_style, classes)
        target.write_bytes(old_pickle(venv, {id(venv): (copyreg.__newobj__, (VecNormalize,), state)}))
    return target


def numpy1_array_pickle(array: np.ndarray) -> bytes:
    """An array pickled as numpy 1.x did (``numpy.core.multiarray._reconstruct``), by text protocol 2."""
    import pickle

    raw = pickle.dumps(array, protocol=2)
    return raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
