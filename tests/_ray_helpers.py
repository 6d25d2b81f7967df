"""Shared by the distributed tests: the sandbox guard, one Ray per test process, a balancing policy file,
and finding Ray worker processes to kill."""

from __future__ import annotations

import atexit
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from clankers.distributed.sandbox import in_sandbox

#: Module mark: these tests run only inside the network sandbox (tests/test_distributed_sandbox.py).
SANDBOXED = pytest.mark.skipif(
    not in_sandbox(),
    reason="runs inside the private network namespace started by test_distributed_sandbox.py",
)

#: Slower tests: only in ``make test-cluster`` (``make test`` keeps the fast, essential subset under a minute).
CLUSTER_SUITE = os.environ.get("CLANKERS_TEST_CLUSTER") == "1"
FULL_SUITE_ONLY = pytest.mark.skipif(not CLUSTER_SUITE, reason="slower: runs in make test-cluster")

#: Gains of a linear cart-pole controller (found by a cross-entropy search): 500/500 on every seed tried,
#: so its episodes are long (500 steps), which the worker-killing tests need.
CARTPOLE_GAINS = [-0.005, 0.189, 2.708, 1.137]


def shared_ray(num_cpus: int = 2) -> None:
    """Connect this process to a private local Ray once (the sandbox's PID namespace reaps it at the end)."""
    import ray

    if not ray.is_initialized():
        import logging

        ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING)
        atexit.register(ray.shutdown)


def linear_cartpole_policy(path: Path) -> Path:
    """A clanker policy file (no torch needed) that balances the cart-pole: action 0 = gains . obs."""
    from _policy_graphs import linear_model, save, standard_props

    weights = np.zeros((4, 2), dtype=np.float32)
    weights[:, 0] = CARTPOLE_GAINS
    return save(linear_model(weights, props=standard_props(2, action_transform="clip")), path)


def processes_titled(prefix: str) -> list[int]:
    """Pids whose command line starts with ``prefix`` (Ray titles a worker ``ray::<function>`` while it
    runs a task, ``ray::<Class>`` for an actor)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith(prefix):
            pids.append(int(entry.name))
    return pids


def kill_first_titled(prefix: str, timeout: float = 60.0) -> int:
    """SIGKILL the first process titled ``prefix`` as soon as one appears; its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = processes_titled(prefix)
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            return pids[0]
        time.sleep(0.005)
    raise AssertionError(f"no process titled {prefix!r} appeared within {timeout} s")
