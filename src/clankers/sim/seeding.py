"""The seed hierarchy: one root seed reproduces every environment, episode and subsystem, bit for bit.

Randomness in clankers never comes from a global generator. Every consumer (start-state sampling, sensor
noise, domain randomization, push forces, actuation noise) receives its own
:class:`numpy.random.Generator`, derived from the root seed along a fixed path::

    root seed ──> environment i ──> episode j ──> subsystem "noise" / "randomization" / "start" / ...

Each node is a :class:`numpy.random.SeedSequence` whose ``spawn_key`` is the path: environment ``i`` is
``SeedSequence(root, spawn_key=(i,))``, which is exactly the ``i``-th child of ``SeedSequence(root).spawn()``,
episode ``j`` of it is ``spawn_key=(i, j)`` and subsystem ``name`` is ``spawn_key=(i, j, key(name))``.
Building the node from its path (instead of calling ``spawn`` in order) gives random access: episode
1000 of environment 7 costs the same as episode 0, and it does not matter in which order environments
or subsystems ask for their generators. ``SeedSequence`` hashes the whole path into the generator state,
so sibling streams are statistically independent, and the result depends only on integers and on the
subsystem's name (hashed with SHA-256, never Python's salted ``hash``), so it is identical across
processes, machines and runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from clankers.errors import ConfigError

#: Subsystem names used by clankers itself; any other string works too.
START_STATE = "start_state"
NOISE = "noise"
RANDOMIZATION = "randomization"
PUSHES = "pushes"
ACTUATION = "actuation"
TASK = "task"


def subsystem_key(name: str) -> int:
    """A stable 32-bit integer for a subsystem name (the same in every process; Python's hash() is not)."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"subsystem name must be a non-empty string, got {name!r}")
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "little")


def _check_index(kind: str, index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise ConfigError(f"{kind} index must be an integer >= 0, got {index!r}")
    return int(index)


def _root_entropy(seed: int | None) -> int:
    if seed is None:
        # Fresh OS entropy; recorded in SeedHierarchy.root_seed so the run can be reproduced.
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0 or None, got {seed!r}")
    return int(seed)


@dataclass(frozen=True)
class EpisodeSeeds:
    """The seeds of one episode of one environment: a generator per subsystem."""

    root_seed: int
    env_index: int
    episode_index: int

    def seed_sequence(self, subsystem: str) -> np.random.SeedSequence:
        """The ``SeedSequence`` of ``subsystem`` in this episode."""
        key = (self.env_index, self.episode_index, subsystem_key(subsystem))
        return np.random.SeedSequence(self.root_seed, spawn_key=key)

    def generator(self, subsystem: str) -> np.random.Generator:
        """A fresh PCG64 generator for ``subsystem``: calling this twice gives two identical streams."""
        return np.random.Generator(np.random.PCG64(self.seed_sequence(subsystem)))

    def int_seed(self, subsystem: str) -> int:
        """A 63-bit integer seed for APIs that want an int (e.g. Gymnasium's ``reset(seed=...)``)."""
        return int(self.seed_sequence(subsystem).generate_state(1, dtype=np.uint64)[0]) >> 1


@dataclass(frozen=True)
class EnvSeeds:
    """The seeds of one environment: an :class:`EpisodeSeeds` per episode index."""

    root_seed: int
    env_index: int

    def episode(self, index: int) -> EpisodeSeeds:
        return EpisodeSeeds(self.root_seed, self.env_index, _check_index("episode", index))

    def seed_sequence(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.root_seed, spawn_key=(self.env_index,))


@dataclass(frozen=True)
class SeedHierarchy:
    """Root of the seed tree.

    Args:
        seed: the root seed (an integer >= 0). ``None`` draws fresh entropy from the OS; the drawn value is
            kept in :attr:`root_seed` so a run can be logged and replayed.

    Example:
        >>> seeds = SeedHierarchy(42)
        >>> rng = seeds.env(3).episode(0).generator("noise")
    """

    seed: int | None = None
    root_seed: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root_seed", _root_entropy(self.seed))

    def env(self, index: int) -> EnvSeeds:
        return EnvSeeds(self.root_seed, _check_index("environment", index))

    def episode(self, env_index: int, episode_index: int) -> EpisodeSeeds:
        return self.env(env_index).episode(episode_index)

    def generator(self, env_index: int, episode_index: int, subsystem: str) -> np.random.Generator:
        return self.episode(env_index, episode_index).generator(subsystem)


class EpisodeCounter:
    """Hands out the seeds of consecutive episodes of one environment (what an env's ``reset`` needs).

    ``reset(seed=s)`` in Gymnasium restarts the hierarchy at root ``s`` and episode 0; ``reset()`` without a
    seed moves on to the next episode. :meth:`next` implements exactly that, so an environment does::

        episode = self._seeds.next(seed)   # seed: the argument of reset, maybe None
        start_rng = episode.generator(START_STATE)

    Args:
        seed: initial root seed (None: OS entropy, recorded).
        env_index: this environment's index in its vector/batch.
    """

    def __init__(self, seed: int | None = None, env_index: int = 0) -> None:
        self._env_index = _check_index("environment", env_index)
        self._hierarchy = SeedHierarchy(seed)
        self._next_episode = 0

    @property
    def root_seed(self) -> int:
        return self._hierarchy.root_seed

    @property
    def env_index(self) -> int:
        return self._env_index

    def next(self, seed: int | None = None) -> EpisodeSeeds:
        """Seeds of the next episode; a non-None ``seed`` restarts the hierarchy at that root."""
        if seed is not None:
            self._hierarchy = SeedHierarchy(seed)
            self._next_episode = 0
        episode = self._hierarchy.episode(self._env_index, self._next_episode)
        self._next_episode += 1
        return episode
