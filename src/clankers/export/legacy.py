"""Reading pickles written by older software: gym-era spaces and VecNormalize files of any SB3 version.

Most SB3 models people have were saved by SB3 1.x under OpenAI Gym (0.17-0.26). Their zips pickle the
observation and action spaces as ``gym.spaces.box.Box`` and so on, and VecNormalize files hold such spaces
too. Gym is unmaintained (it does not install on current Python); its spaces live on in Gymnasium. So
nothing here imports, installs or fakes ``gym``: :class:`LegacyUnpickler` resolves every ``gym.*`` name
to a :class:`Pickled` stand-in, which keeps the object's state as plain data, and :func:`modern_space`
rebuilds the Gymnasium space from that data (bounds, dtype, ``n``, ``nvec``, sub-spaces in their saved
order). The mapping lives in this unpickler only: no ``sys.modules`` entry, no global state, nothing
that outlives one read.

The same unpickler reads a VecNormalize file *as data* (``as_data`` prefixes): its wrapper classes and
``RunningMeanStd`` become stand-ins too, because the real classes need a live environment behind them
(an old file without ``norm_obs_keys`` made SB3's own attribute lookup recurse forever) and change
between versions, while the statistics themselves (mean, var, count, epsilon, clip_obs) have not.

Pickles can run code: read only files you trust.
"""

from __future__ import annotations

import importlib
import io
import pickle
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from clankers.errors import ExportError, UnsupportedModelError

#: Module prefixes whose classes are always read as data (gym is never imported).
LEGACY_PREFIXES = ("gym",)


class Pickled:
    """An object whose class was not loaded: its saved class name (``pickled_class``) and state, as data.

    Subclasses are made per class name by :func:`stand_in`; pickle creates instances with ``__new__`` or by
    calling the class, then hands over the state (``__setstate__``), all of which this absorbs.
    """

    pickled_class: str = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Pickled:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            self.__dict__["_pickled_args"] = (args, kwargs)

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and (state[0] is None or isinstance(state[0], dict)):
            dict_state, slot_state = state  # (__dict__, __slots__) form
            self.__dict__.update(dict_state or {})
            self.__dict__.update(slot_state or {})
        elif isinstance(state, Mapping):
            self.__dict__.update(state)
        else:
            self.__dict__["_pickled_state"] = state

    def __repr__(self) -> str:
        return f"<pickled {self.pickled_class}>"


_STAND_INS: dict[str, type[Pickled]] = {}


def stand_in(module: str, name: str) -> type[Pickled]:
    """The stand-in class for ``module.name`` (one per name, so ``isinstance`` works across reads)."""
    qualified = f"{module}.{name}"
    if qualified not in _STAND_INS:
        _STAND_INS[qualified] = type(name, (Pickled,), {"pickled_class": qualified, "__module__": __name__})
    return _STAND_INS[qualified]


class LegacyUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that reads ``gym.*`` (and the ``as_data`` prefixes) as :class:`Pickled` data."""

    def __init__(self, file: Any, as_data: tuple[str, ...] = ()) -> None:
        super().__init__(file)
        self.as_data = LEGACY_PREFIXES + tuple(as_data)
        self.legacy_names: set[str] = set()

    def find_class(self, module: str, name: str) -> Any:
        if any(module == p or module.startswith(p + ".") for p in self.as_data):
            self.legacy_names.add(f"{module}.{name}")
            return stand_in(module, name)
        if module == "numpy.core" or module.startswith("numpy.core."):
            # numpy 2 renamed numpy.core to numpy._core (the old name still works, with a warning).
            try:
                return getattr(importlib.import_module("numpy._core" + module[len("numpy.core") :]), name)
            except (ImportError, AttributeError):
                pass
        return super().find_class(module, name)


def loads(data: bytes, as_data: tuple[str, ...] = ()) -> tuple[Any, set[str]]:
    """Unpickle ``data``; returns the object and the legacy class names that were read as data."""
    unpickler = LegacyUnpickler(io.BytesIO(data), as_data)
    return unpickler.load(), unpickler.legacy_names


def is_pickled(obj: Any, *names: str) -> bool:
    """Whether ``obj`` is a stand-in for a class whose qualified name ends with one of ``names``."""
    return isinstance(obj, Pickled) and any(
        obj.pickled_class == n or obj.pickled_class.endswith("." + n) for n in names
    )


def state_of(obj: Any) -> dict[str, Any]:
    """The attribute dictionary of a stand-in or of a real object."""
    return dict(vars(obj)) if hasattr(obj, "__dict__") else {}


_SPACE_KINDS = ("Box", "Discrete", "MultiDiscrete", "MultiBinary", "Dict", "Tuple")


def modern_space(obj: Any, where: str = "space") -> gym.spaces.Space:
    """A Gymnasium space equal to ``obj`` (a Gymnasium space, or a gym-era space read as data).

    Spaces are rebuilt even when Gymnasium itself unpickled them, so no stale attribute of an older
    Gymnasium (a seeded generator, a cached repr) travels into the export.
    """
    if isinstance(obj, gym.spaces.Space):
        kind = type(obj).__name__
        state = state_of(obj)
    elif isinstance(obj, Pickled) and obj.pickled_class.rsplit(".", 1)[-1] in _SPACE_KINDS:
        kind = obj.pickled_class.rsplit(".", 1)[-1]
        state = state_of(obj)
    else:
        raise ExportError(
            f"the {where} is a {getattr(obj, 'pickled_class', type(obj).__name__)}, not a space",
            hint="the zip's description of its spaces is damaged; re-save the model with SB3's model.save()",
        )
    try:
        return _rebuild(kind, state, where)
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(
            f"the {where} ({kind}) could not be rebuilt from its saved state: {type(exc).__name__}: {exc}",
            hint="the zip's description of its spaces is damaged; re-save the model with SB3's model.save()",
        ) from exc


def _shape(state: dict[str, Any]) -> tuple[int, ...] | None:
    shape = state.get("_shape", state.get("shape"))
    return None if shape is None else tuple(int(d) for d in shape)


def _rebuild(kind: str, state: dict[str, Any], where: str) -> gym.spaces.Space:
    if kind == "Box":
        low, high = np.asarray(state["low"]), np.asarray(state["high"])
        dtype = np.dtype(state.get("dtype", low.dtype))
        shape = _shape(state) or low.shape
        low = np.broadcast_to(low, shape).astype(dtype)
        high = np.broadcast_to(high, shape).astype(dtype)
        return gym.spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
    if kind == "Discrete":
        return gym.spaces.Discrete(int(state["n"]), start=int(state.get("start", 0)))
    if kind == "MultiDiscrete":
        nvec = np.asarray(state["nvec"])
        start = state.get("start")
        dtype = np.dtype(state.get("dtype", np.int64))
        return gym.spaces.MultiDiscrete(nvec.astype(dtype), dtype=dtype, start=start)
    if kind == "MultiBinary":
        n = state["n"]
        return gym.spaces.MultiBinary(int(n) if np.ndim(n) == 0 else [int(v) for v in np.ravel(n)])
    if kind == "Dict":
        spaces = state["spaces"]
        # Keep the saved key order: SB3's extractors concatenate features in it.
        return gym.spaces.Dict(
            OrderedDict((str(k), modern_space(v, f"{where} key {k!r}")) for k, v in spaces.items())
        )
    if kind == "Tuple":
        return gym.spaces.Tuple([modern_space(v, f"{where}[{i}]") for i, v in enumerate(state["spaces"])])
    raise UnsupportedModelError(
        f"the {where} is a {kind} space; the exporter handles Box, Discrete, MultiDiscrete, MultiBinary, Dict "
        "and Tuple spaces",
        hint="export a model whose spaces are among those",
    )
