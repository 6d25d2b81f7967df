"""The package works installed: build the wheel, install it into a fresh venv, train from another folder.

What this guards: every file the package reads at run time (URDFs, task files) is package data inside
``clankers/``, and nothing resolves paths against the source tree. Offline and fast: the wheel is built
without build isolation (the project venv's setuptools), and the fresh venv borrows the project venv's
installed dependencies through a ``.pth`` line (a plain path: the project venv's own ``.pth`` files,
among them the editable install of this checkout, are not processed), so only the wheel provides
``clankers``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_the_wheel_installs_and_trains_outside_the_repository(tmp_path: Path) -> None:
    # Build from a copy of the sources, so the checkout gets no build/ or egg-info of this test's.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path / "dist"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        source,
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-q",
        "-w",
        dist,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("clankers-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("clankers/assets/urdf/cartpole.urdf", "clankers/assets/tasks/cartpole.toml"):
        assert required in names, f"{required} is not in the wheel"

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path)
    Path(purelib.strip(), "project_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        "-q",
        wheel,
        cwd=tmp_path,
    )

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = run(python, "-c", "import clankers; print(clankers.__file__)", cwd=elsewhere, env=env)
    assert Path(where.strip()).is_relative_to(venv), f"clankers imported from {where}, not the wheel"
    run(
        venv / "bin" / "clankers",
        "train",
        "cartpole",
        "--timesteps",
        "2000",
        "--out",
        "run",
        cwd=elsewhere,
        env=env,
    )
    assert (elsewhere / "run" / "model.zip").is_file()
