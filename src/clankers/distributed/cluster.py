"""Connecting to Ray: a private local instance or an existing cluster, and where a worker runs.

Everything in :mod:`clankers.distributed` expects Ray to be connected (``ray.is_initialized()``) and never
connects on its own: Ray would otherwise start a local instance implicitly at the first remote call, on
the machine's network address, which is not what a user who meant a cluster wants. The CLI connects with
:func:`ray_session`; Python users call ``ray.init(...)`` themselves or use the same context manager.

Ray's usage statistics are switched off (``RAY_USAGE_STATS_ENABLED=0``) unless the user set the variable:
a training run should not talk to the internet on its own.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from clankers.errors import ConfigError

RAY_HINT = "install the ray extra: pip install 'clankers[ray]' (every node of the cluster needs it too)"


def require_ray() -> ModuleType:
    """The ``ray`` module, or :class:`ConfigError` saying how to install it."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as err:
        raise ConfigError("Ray is not installed", hint=RAY_HINT) from err
    return ray


def require_connected() -> ModuleType:
    """The ``ray`` module once connected; :class:`ConfigError` naming how to connect otherwise."""
    ray = require_ray()
    if not ray.is_initialized():
        raise ConfigError(
            "Ray is not connected",
            hint="connect first: `with clankers.distributed.ray_session(address): ...` or ray.init(address)",
        )
    return ray


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[ModuleType]:
    """Ray, connected for the duration of the ``with`` block.

    Args:
        address: an existing cluster: ``HOST:PORT`` of its head (``ray start --head`` prints it),
            ``"auto"`` (the cluster this machine is part of) or ``ray://HOST:10001`` (Ray Client). ``None``
            uses ``RAY_ADDRESS`` when set (as under ``ray job submit``), else starts a private local
            instance with ``num_cpus`` CPUs, shut down again at the end.
        num_cpus: CPUs of a local instance (default: all); ignored when connecting to a cluster.

    Shuts down only a connection it made: inside an already connected process it changes nothing.
    """
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING}
    if address is None and not os.environ.get("RAY_ADDRESS"):
        kwargs.update(num_cpus=num_cpus, include_dashboard=False)
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise ConfigError(
            f"cannot connect to the Ray cluster at {address or os.environ.get('RAY_ADDRESS')!r}: {err}",
            hint="start it with `ray start --head` and pass the address it prints (HOST:PORT)",
        ) from err
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus() -> float:
    """CPUs the connected cluster has in total (all nodes)."""
    return float(require_connected().cluster_resources().get("CPU", 0.0))


def alive_nodes() -> list[dict[str, Any]]:
    """The connected cluster's live nodes (``NodeID``, ``NodeManagerAddress``, ``Resources``)."""
    return [node for node in require_connected().nodes() if node.get("Alive")]


def where() -> dict[str, Any]:
    """Where the calling code runs: process id, host name and (inside Ray) node id. Workers report it."""
    node = None
    try:
        import ray

        if ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
    except ImportError:  # pragma: no cover - only called where Ray runs
        pass
    return {"pid": os.getpid(), "host": socket.gethostname(), "node": node}


__all__ = [
    "RAY_HINT",
    "alive_nodes",
    "cluster_cpus",
    "ray_session",
    "require_connected",
    "require_ray",
    "where",
]
