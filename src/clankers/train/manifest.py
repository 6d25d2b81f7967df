"""``runs/<name>/manifest.json``: everything needed to trust, compare or repeat a run later.

A curve and a model file say what came out; the manifest says what went in and under which software:
the clankers version and git commit (when running from a checkout), the versions of every package that
shapes the numbers, the seeds, the task file and its SHA-256, the full config, the command line, the wall
time of every session (a resumed run has several) and the results. It is written when a run starts
(``"status": "running"``), so an interrupted or crashed run still says what it was, and rewritten
(atomically) when it ends.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import time
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from clankers.train.common import write_json_atomic

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1

#: Distributions whose versions can change a run's numbers.
PACKAGES = (
    "clankers",
    "numpy",
    "mujoco",
    "gymnasium",
    "torch",
    "stable-baselines3",
    "sb3-contrib",
    "onnx",
    "onnxruntime",
    "pydantic",
)


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`PACKAGES` (absent ones are left out) and of Python."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def git_state(path: Path | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout clankers runs from, or ``None`` (an installed wheel)."""
    where = path or Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def task_identity(task: str) -> dict[str, Any]:
    """The task as given, its Gymnasium id, its task file with the file's SHA-256, the SHA-256 of the
    task's validated configuration (defaults included: it changes when a default does, even if the file
    does not) and of its robots' URDF files. A Gymnasium id registered outside clankers has none of them."""
    from clankers.envs import find_task, resolve_task

    info: dict[str, Any] = {"name": task, "env_id": resolve_task(task)}
    entry = find_task(task)
    if entry is None:
        return info
    info["registered_name"] = entry.name
    if entry.source is not None and Path(entry.source).is_file():
        info["file"] = str(entry.source)
        info["sha256"] = sha256_file(Path(entry.source))
    info["config_sha256"] = hashlib.sha256(entry.config.model_dump_json().encode()).hexdigest()
    urdfs = {str(r.urdf) for r in getattr(entry.config, "robots", []) if Path(str(r.urdf)).is_file()}
    if urdfs:  # the robot is part of the task: a changed URDF is a changed task
        info["urdf_sha256"] = {path: sha256_file(Path(path)) for path in sorted(urdfs)}
    return info


class RunManifest:
    """The manifest of one run folder, kept up to date as the run goes.

    A run is one or more *sessions* (the first ``train`` and every ``train --resume``); each session
    records its command line, start time, wall time and the env steps it covered.
    """

    def __init__(self, folder: Path, data: dict[str, Any]) -> None:
        self.path = Path(folder) / MANIFEST
        self.data = data

    @classmethod
    def begin(
        cls,
        folder: Path,
        *,
        kind: str,
        task: str,
        config: dict[str, Any],
        seeds: dict[str, Any],
        resume: bool = False,
        from_steps: int = 0,
        invocation: dict[str, Any] | None = None,
    ) -> RunManifest:
        """Start (or, when resuming, continue) the manifest of ``folder`` and write it."""
        path = Path(folder) / MANIFEST
        data: dict[str, Any] = {}
        if resume and path.is_file():
            data = json.loads(path.read_text())
        data.pop("error", None)  # of an earlier, failed session
        if not data:
            data = {"manifest_version": MANIFEST_VERSION, "kind": kind, "sessions": []}
        data.update(
            {
                "status": "running",
                "clankers_version": _version("clankers"),
                "git": git_state(),
                "platform": platform.platform(),
                "packages": package_versions(),
                "task": task_identity(task),
                "seeds": seeds,
                "config": config,
            }
        )
        data["sessions"].append(
            {
                "command": list(sys.argv),
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "resumed": resume,
                "from_steps": from_steps,
                **({"invocation": invocation} if invocation else {}),
            }
        )
        manifest = cls(folder, data)
        manifest.write()
        return manifest

    @classmethod
    def read(cls, folder: Path) -> RunManifest:
        return cls(folder, json.loads((Path(folder) / MANIFEST).read_text()))

    def end(self, status: str, *, wall_time_s: float, to_steps: int | None = None, **extra: Any) -> None:
        """Close the current session with ``status`` ("finished", "interrupted", "failed") and write;
        ``extra`` keys (``results``, ``error``, ...) go to the top level."""
        session = self.data["sessions"][-1]
        session["wall_time_s"] = round(wall_time_s, 3)
        if to_steps is not None:
            session["to_steps"] = to_steps
        self.data["status"] = status
        self.data["wall_time_s"] = round(sum(s.get("wall_time_s", 0.0) for s in self.data["sessions"]), 3)
        self.data.update(extra)
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in self.data.items() if k != "sessions"}
        write_json_atomic(self.path, {**data, "sessions": self.data.get("sessions", [])})


def _version(name: str) -> str | None:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return None
