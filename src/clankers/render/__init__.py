"""Pictures of simulations: decorated scenes, offscreen frames, videos, the human viewer.

Depends on :mod:`clankers.sim` only (the environments in :mod:`clankers.envs` use it for Gymnasium's
``render``). Without a display, ``import clankers`` has already picked a headless OpenGL backend
(:mod:`clankers._gl`); a process that imports ``mujoco`` before ``clankers`` must set ``MUJOCO_GL``
itself.
"""

from __future__ import annotations

from clankers.render.renderer import DEFAULT_HEIGHT, DEFAULT_WIDTH, Marker, SceneRenderer, frame_robot
from clankers.render.scene import decorate_model, decorate_spec, place_floor

__all__ = [
    "DEFAULT_HEIGHT",
    "DEFAULT_WIDTH",
    "Marker",
    "SceneRenderer",
    "decorate_model",
    "decorate_spec",
    "frame_robot",
    "place_floor",
]
