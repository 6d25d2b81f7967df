"""Pick a headless OpenGL backend for MuJoCo's renderer before MuJoCo is first imported.

MuJoCo reads ``MUJOCO_GL`` once, at import. Its default (GLFW) needs a display and fails on servers and
CI machines, where EGL (Mesa's surfaceless platform, or a GPU driver) works. So when nothing chose a
backend, Linux has no ``DISPLAY``, and MuJoCo is not imported yet, this selects ``egl``. A user's own
``MUJOCO_GL`` always wins. Importing this module (``clankers.sim`` does, first) applies it.
"""

from __future__ import annotations

import os
import sys


def choose_headless_backend() -> None:
    if (
        "MUJOCO_GL" not in os.environ
        and sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
        and "mujoco" not in sys.modules
    ):
        os.environ["MUJOCO_GL"] = "egl"


choose_headless_backend()
