"""Pick a headless OpenGL backend for MuJoCo's renderer before MuJoCo is first imported.

MuJoCo reads ``MUJOCO_GL`` once, at import. Its default (GLFW) needs a display and fails on servers and
CI machines, where EGL (Mesa's surfaceless platform, or a GPU driver) works. So when nothing chose a
backend, Linux has no ``DISPLAY``/``WAYLAND_DISPLAY``, and MuJoCo is not imported yet, this selects
``egl`` when the system has the EGL library, else ``osmesa`` when it has Mesa's software OSMesa library
(``egl`` again when neither: the first frame then raises an error naming the packages to install). A
user's own ``MUJOCO_GL`` always wins.

``import clankers`` runs this first, so any clankers module may import ``mujoco`` afterwards. It only
reads the dynamic linker's cache (no library is loaded), so the torch-free deploy path pays ~0.1 ms.
"""

from __future__ import annotations

import os
import sys

_LD_CACHE = "/etc/ld.so.cache"


def _has_library(*names: str) -> bool:
    try:
        with open(_LD_CACHE, "rb") as cache:
            content = cache.read()
    except OSError:  # no cache (an unusual Linux): load it to find out
        import ctypes

        for name in names:
            try:
                ctypes.CDLL(name)
            except OSError:
                continue
            return True
        return False
    return any(name.encode() + b"\0" in content for name in names)


def _available_backend() -> str:
    if _has_library("libEGL.so.1", "libEGL.so"):
        return "egl"
    if _has_library("libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so"):
        return "osmesa"
    return "egl"


def choose_headless_backend() -> None:
    """Set ``MUJOCO_GL`` as the module docstring says (a no-op once MuJoCo is imported)."""
    if (
        "MUJOCO_GL" not in os.environ
        and sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
        and "mujoco" not in sys.modules
    ):
        os.environ["MUJOCO_GL"] = _available_backend()


def backend_hint() -> str:
    """What to do when no OpenGL context can be created (for error messages)."""
    chosen = os.environ.get("MUJOCO_GL", "glfw (MuJoCo's default, needs a display)")
    return (
        f"MUJOCO_GL is {chosen}; without a display set MUJOCO_GL=egl (or osmesa) before mujoco is imported "
        "(`import clankers` first does it) and install EGL (Debian: libegl1 libegl-mesa0 libgl1-mesa-dri; "
        "`.ci/install-gl` does it) or OSMesa (libosmesa6 plus PyOpenGL)"
    )


choose_headless_backend()
