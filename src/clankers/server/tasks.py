"""Which environments ``clankers serve --task`` can serve: whatever :func:`clankers.envs.resolve_task` accepts.

A clankers task (short name, id, or task file) or any other id registered with Gymnasium (``CartPole-v1``,
...), which is how the benchmarks measure the protocol's own overhead against a near-free environment.
Clankers tasks serve batches through their registered vector entry point (the threaded ``ClankersVectorEnv``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import gymnasium as gym
from gymnasium.vector import AutoresetMode, VectorEnv

from clankers.server.session import EnvSource


def _clankers_version() -> str:
    try:
        return package_version("clankers")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0"


def env_source(task: str, **env_kwargs: object) -> EnvSource:
    """An :class:`EnvSource` for a task in any form :func:`clankers.envs.resolve_task` accepts;
    :class:`ConfigError` (naming the known tasks) otherwise."""
    from clankers.envs import find_task  # registers the clankers/ namespace

    entry = find_task(task)  # ConfigError naming the known tasks
    env_id = entry.env_id if entry is not None else task
    spec = gym.spec(env_id)
    version = _clankers_version() if entry is not None else str(spec.version or 0)

    def make() -> gym.Env:
        return gym.make(env_id, **env_kwargs)

    make_vector = None
    if entry is not None:  # ClankersVectorEnv

        def make_vector(num_envs: int) -> VectorEnv:
            # Disabled auto-reset: the protocol's client decides which envs to reset, and with which seed.
            return gym.make_vec(
                env_id,
                num_envs=num_envs,
                vectorization_mode="vector_entry_point",
                autoreset_mode=AutoresetMode.DISABLED,
                **env_kwargs,
            )

    return EnvSource(name=env_id, version=version, make=make, make_vector=make_vector)
