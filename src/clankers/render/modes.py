"""Gymnasium's ``render`` for clankers environments: ``rgb_array``, ``depth_array`` and ``human``.

An environment holds one :class:`EnvRendering`, built from the ``render_mode``, ``width``, ``height`` and
``camera`` arguments of ``gymnasium.make``. It checks the mode at construction (an unknown mode, or
``human`` where no window can open, fails at once, with the reason and what to use instead) and creates
the OpenGL context only at the first frame, so an environment that never renders pays nothing.

``human`` opens MuJoCo's own viewer (``mujoco.viewer.launch_passive``), synchronised at every step. It
needs a display: on a server use ``rgb_array`` (``clankers run --video``) or the browser viewer
(``clankers view``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from clankers.errors import RenderingError
from clankers.render.renderer import DEFAULT_HEIGHT, DEFAULT_WIDTH, MarkerSource, SceneRenderer, add_markers

RENDER_MODES = ("human", "rgb_array", "depth_array")


def display_problem() -> str | None:
    """Why MuJoCo's viewer window cannot open here, or ``None`` when it can."""
    if sys.platform.startswith("linux"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return "there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
        if os.environ.get("MUJOCO_GL", "glfw") not in ("glfw", ""):
            return f"MUJOCO_GL={os.environ['MUJOCO_GL']} selects headless OpenGL, which cannot open windows"
    return None


class EnvRendering:
    """The rendering state of one environment (see the module docstring).

    Args:
        render_mode: ``None``, ``"rgb_array"``, ``"depth_array"`` or ``"human"``.
        width, height: frame size of ``rgb_array``/``depth_array``.
        camera: ``None`` (the default camera framing the robot) or a camera of the model, by name or id.
        markers: task markers to draw (targets, goal points).
    """

    def __init__(
        self,
        render_mode: str | None,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        camera: str | int | None = None,
        markers: MarkerSource | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise gym.error.Error(
                f"render_mode {render_mode!r} is not supported; use one of {list(RENDER_MODES)} or None"
            )
        if render_mode == "human" and (problem := display_problem()) is not None:
            raise RenderingError(
                f"render_mode='human' opens MuJoCo's viewer window, but {problem}; on a machine without a "
                "display use render_mode='rgb_array' (`clankers run POLICY --video out.mp4`) or the browser "
                "viewer (`clankers view POLICY --env TASK`)"
            )
        self.mode = render_mode
        self.width, self.height, self.camera, self.markers = width, height, camera, markers
        self._renderer: SceneRenderer | None = None
        self._viewer: Any = None

    def renderer(self, model: mujoco.MjModel) -> SceneRenderer:
        if self._renderer is None or self._renderer.model is not model:
            if self._renderer is not None:
                self._renderer.close()
            self._renderer = SceneRenderer(model, self.width, self.height, self.camera, self.markers)
        return self._renderer

    def render(self, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray | None:
        if self.mode is None:
            gym.logger.warn("render() called with render_mode=None; pass render_mode='rgb_array' to gym.make")
            return None
        if self.mode == "rgb_array":
            return self.renderer(model).rgb(data)
        if self.mode == "depth_array":
            return self.renderer(model).depth(data)
        self._sync_viewer(model, data)
        return None

    def _sync_viewer(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        if self._viewer is None:
            import mujoco.viewer

            self._viewer = mujoco.viewer.launch_passive(model, data, show_left_ui=False, show_right_ui=False)
        if not self._viewer.is_running():
            return
        with self._viewer.lock():
            if self.markers is not None:
                self._viewer.user_scn.ngeom = 0
                add_markers(self._viewer.user_scn, self.markers())
        self._viewer.sync()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None
