"""A throwaway Ray cluster on this machine whose traffic cannot leave it (tests, benchmarks, trying).

Why a sandbox: Ray replaces ``127.0.0.1`` by the machine's outward address (``--node-ip-address
127.0.0.1`` is rewritten too), so a cluster started plainly talks over the network interface. Inside a
private network namespace (``unshare --net``, then ``ip link set lo up``) loopback is the only interface
and Ray falls back to ``127.0.0.1``: every byte stays on the machine. The sandbox also gets a private PID
namespace: when its first process exits (or is killed on a timeout), the kernel kills every process left
in it, so no Ray process can outlive the tests or benchmarks that started it, even after a crash.

Two pieces:

- :func:`run_in_sandbox` runs a command (a pytest session, a benchmark) inside such namespaces;
- :class:`LocalCluster` (used *inside* the sandbox) starts a real multi-node cluster with ``ray start``:
  a head and extra nodes joining it, each with its own raylet and object store, like separate machines.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from clankers.errors import ConfigError

#: Set to "1" in the environment of commands run by :func:`run_in_sandbox`.
SANDBOX_ENV = "CLANKERS_RAY_SANDBOX"

_NAMESPACES = ["--net", "--pid", "--fork", "--mount-proc", "--kill-child"]


def in_sandbox() -> bool:
    """True inside :func:`run_in_sandbox`: the marker is set and loopback is the only network interface."""
    if os.environ.get(SANDBOX_ENV) != "1":
        return False
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def sandbox_command() -> list[str] | None:
    """The ``unshare`` prefix that works here (as root, or with a user namespace), or ``None``."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("ip") is None:
        return None
    for extra in ([], ["--map-root-user"]):
        prefix = [unshare, *extra, *_NAMESPACES]
        probe = subprocess.run(
            [*prefix, "sh", "-c", "ip link set lo up"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return prefix
    return None


def run_in_sandbox(
    argv: Sequence[str],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in private network and PID namespaces with loopback up; every process it leaves dies.

    Raises :class:`ConfigError` when namespaces are not available here (not root and no user namespaces).
    ``subprocess.TimeoutExpired`` after ``timeout`` seconds (the namespace is torn down with ``unshare``).
    """
    prefix = sandbox_command()
    if prefix is None:
        raise ConfigError(
            "cannot create a private network namespace here (unshare --net failed)",
            hint="run as root, or enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)",
        )
    full_env = {
        **os.environ,
        **(env or {}),
        SANDBOX_ENV: "1",
        "RAY_USAGE_STATS_ENABLED": "0",
        # Token authentication with a fresh token for this sandbox, given to every process through the
        # environment: nothing is read from or written to ~/.ray (Ray's default token file).
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    script = 'ip link set lo up && exec "$@"'
    return subprocess.run(
        [*prefix, "sh", "-c", script, "sandbox", *argv],
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        capture_output=capture,
        text=True,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalCluster:
    """A Ray cluster of ``nodes`` nodes on this machine, started with ``ray start`` (inside the sandbox).

    ``with LocalCluster(nodes=2) as address: ray.init(address=address)``; leaving the block runs
    ``ray stop --force``. Each node reserves ``cpus_per_node`` CPUs (keep it small on a shared machine).
    """

    def __init__(
        self, nodes: int = 2, cpus_per_node: int = 1, object_store_mb: int = 100, start_timeout: float = 120
    ) -> None:
        if nodes < 1 or cpus_per_node < 1:
            raise ConfigError("a local cluster needs at least 1 node and 1 CPU per node")
        if not in_sandbox():
            raise ConfigError(
                "LocalCluster runs only inside the network sandbox (Ray would talk on the network interface)",
                hint="run the code through clankers.distributed.sandbox.run_in_sandbox",
            )
        self.nodes = nodes
        self.cpus_per_node = cpus_per_node
        self.object_store_bytes = object_store_mb * 1024 * 1024
        self.start_timeout = start_timeout
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp_dir = tempfile.mkdtemp(prefix="clankers-ray-")
        self._ray = str(Path(sys.executable).with_name("ray"))

    def _start(self, args: list[str]) -> None:
        common = [
            f"--num-cpus={self.cpus_per_node}",
            f"--object-store-memory={self.object_store_bytes}",
            "--disable-usage-stats",
        ]
        # Output to a file, never a pipe: the daemons `ray start` leaves behind inherit its stdout and
        # would die of SIGPIPE once a pipe's reader is gone.
        log_path = Path(self.temp_dir) / "ray-start.log"
        with open(log_path, "a") as log:
            result = subprocess.run(
                [self._ray, "start", *args, *common],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=self.start_timeout,
                check=False,
            )
        if result.returncode != 0:
            tail = log_path.read_text()[-4000:]
            raise RuntimeError(f"`ray start {' '.join(args)}` failed (exit {result.returncode}):\n{tail}")

    def __enter__(self) -> str:
        self._start(
            ["--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.temp_dir}"]
        )
        for _ in range(self.nodes - 1):
            self._start([f"--address={self.address}"])
        return self.address

    def wait_for_nodes(self, timeout: float = 60) -> None:
        """Block until every node is registered with the (connected) driver."""
        import ray

        deadline = time.monotonic() + timeout
        while sum(1 for n in ray.nodes() if n.get("Alive")) < self.nodes:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(ray.nodes())} of {self.nodes} Ray nodes came up")
            time.sleep(0.2)

    def stop(self) -> None:
        """Disconnect this process (else its Ray client waits a minute for the lost cluster), then stop."""
        if "ray" in sys.modules:
            import ray

            if ray.is_initialized():
                ray.shutdown()
        subprocess.run([self._ray, "stop", "--force"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["SANDBOX_ENV", "LocalCluster", "in_sandbox", "run_in_sandbox", "sandbox_command"]
