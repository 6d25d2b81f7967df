"""Entry point of the distributed tests: runs them inside a private network namespace, then checks that
no Ray process is left.

Ray binds to the machine's network address even when told 127.0.0.1, so its tests run where loopback is
the only interface (``unshare --net``), in a private PID namespace that the kernel empties when the
session ends (:mod:`clankers.distributed.sandbox`). Outside the sandbox this module runs the other
``test_distributed_*.py`` modules there, in one pytest session sharing one Ray; they skip themselves when
collected outside it. ``make test`` runs the fast ones; ``make test-cluster`` (``CLANKERS_TEST_CLUSTER=1``)
adds the real two-node cluster tests (``test_distributed_cluster.py``).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")

from clankers.distributed.sandbox import in_sandbox, run_in_sandbox, sandbox_command

HERE = Path(__file__).parent
CLUSTER = os.environ.get("CLANKERS_TEST_CLUSTER") == "1"
#: Tests the fast session passes (units, rollouts, evaluation); the cluster session adds 7. Fewer means
#: some skipped silently (e.g. the sandbox check failed inside), which must fail here.
MIN_FAST_TESTS = 27


def _ray_processes() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            name = (entry / "comm").read_text().strip() if entry.name.isdigit() else ""
        except OSError:
            continue
        if name in ("raylet", "gcs_server", "plasma_store"):
            found.append(f"{entry.name} {name}")
    return found


@pytest.mark.skipif(in_sandbox(), reason="this is the sandbox's entry point, not a sandboxed test")
def test_distributed_suite_in_a_private_network(tmp_path: Path) -> None:
    if sandbox_command() is None:
        pytest.skip("no private network namespace here (needs root or unprivileged user namespaces)")
    modules = sorted(
        str(p)
        for p in HERE.glob("test_distributed_*.py")
        if p.name != Path(__file__).name and (CLUSTER or p.name != "test_distributed_cluster.py")
    )
    before = _ray_processes()
    basetemp = tmp_path / "sandboxed"  # the inner session's own temp folders
    result = run_in_sandbox(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            f"--basetemp={basetemp}",
            *modules,
        ],
        timeout=1800 if CLUSTER else 600,
        cwd=HERE.parent,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    summary = re.search(r"(\d+) passed", result.stdout)
    assert summary is not None, result.stdout[-3000:]
    assert int(summary.group(1)) >= MIN_FAST_TESTS + (7 if CLUSTER else 0), result.stdout[-3000:]
    assert _ray_processes() == before, "Ray processes outlived the sandbox"
