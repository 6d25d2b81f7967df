"""Which environments ``clankers serve --task`` can serve.

Short clankers task names (``cartpole``) and their Gymnasium ids come from :mod:`clankers.envs`; any other
id registered with Gymnasium (``CartPole-v1``, ...) is served too, which is how the benchmarks measure the
protocol's own overhead against a near-free environment. Tasks with a registered vector entry point (every
clankers task: the threaded ``ClankersVectorEnv``) serve batches through it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import gymnasium as gym
from gymnasium.vector import AutoresetMode, VectorEnv

from clankers.errors import ConfigError
from clankers.server.session import EnvSource


def _clankers_version() -> str:
    try:
        return package_version("clankers")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0"


def env_source(task: str, **env_kwargs: object) -> EnvSource:
    """An :class:`EnvSource` for a task name or Gymnasium id; :class:`ConfigError` if neither exists."""
    from clankers.envs import TASKS, resolve_task  # registers the clankers/ namespace

    try:
        env_id = resolve_task(task)
    except ConfigError:
        if task not in gym.registry:
            known = ", ".join(sorted(TASKS))
            raise ConfigError(
                f"unknown task {task!r}: use a clankers task ({known}) or a registered Gymnasium id "
                "such as CartPole-v1"
            ) from None
        env_id = task
    spec = gym.spec(env_id)
    version = _clankers_version() if env_id.startswith("clankers/") else str(spec.version or 0)

    def make() -> gym.Env:
        return gym.make(env_id, **env_kwargs)

    make_vector = None
    if env_id.startswith("clankers/") and spec.vector_entry_point is not None:  # ClankersVectorEnv

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
