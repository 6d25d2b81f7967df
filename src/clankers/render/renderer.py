"""Offscreen rendering of a simulation: RGB and depth frames from a camera that frames the robot.

:class:`SceneRenderer` wraps :class:`mujoco.Renderer` with what every clankers picture needs:

- **a default camera that frames the robot**: MuJoCo's free camera aimed at the robot's bounding box
  at the start pose, widened to everything a hinge can swing through (an arm hanging down stays in the
  picture), looking along +y at the x-z plane where the shipped robots move. A robot with a floating base
  is *tracked*: the camera keeps its distance and angles and follows the base's position.
- **task markers** (targets, goal points): small spheres added to the rendered scene each frame as
  decoration geoms, so they are drawn but take no part in the physics (no contacts, no mass, nothing
  in the model).
- **a typed error** (:class:`clankers.errors.RenderingError`) naming the fix when no OpenGL backend
  works, raised at the first frame: creating a renderer costs nothing until it is used.

``camera`` may also name a camera of the model (or give its id) to render from it instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from clankers.errors import ConfigError, RenderingError
from clankers.render.scene import robot_geoms, swept_spheres

DEFAULT_WIDTH, DEFAULT_HEIGHT = 640, 480


@dataclass(frozen=True)
class Marker:
    """A visual-only sphere: a task target or goal point. ``position`` may be a live array."""

    position: np.ndarray
    rgba: tuple[float, float, float, float] = (0.9, 0.2, 0.2, 0.8)
    radius: float = 0.03


MarkerSource = Callable[[], Sequence[Marker]]


def _floating_body(model: mujoco.MjModel) -> int:
    """The body carrying the first free joint (a floating base), or -1."""
    for j in range(model.njnt):
        if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
            return int(model.jnt_bodyid[j])
    return -1


def frame_robot(model: mujoco.MjModel, data: mujoco.MjData | None = None) -> tuple[np.ndarray, float]:
    """``(lookat, distance)`` of a free camera that shows the whole robot in MuJoCo's field of view.

    The box covers every robot geom at the state in ``data`` (``qpos0`` when omitted) plus the spheres
    that hinges on the world sweep (:func:`~clankers.render.scene.swept_spheres`), so a swinging arm
    stays in view.
    """
    if data is None:
        data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    geoms = robot_geoms(model)
    if len(geoms) == 0:
        return np.zeros(3), 2.0
    radius = model.geom_rbound[geoms][:, None]
    low = (data.geom_xpos[geoms] - radius).min(axis=0)
    high = (data.geom_xpos[geoms] + radius).max(axis=0)
    if _floating_body(model) < 0:  # a tracked base moves anyway: frame the body, not its sweep
        for anchor, reach in swept_spheres(model, data):
            low = np.minimum(low, anchor - reach)
            high = np.maximum(high, anchor + reach)
    center = (low + high) / 2
    # The x-z extent is what a camera looking along +y sees; depth (y) matters less.
    half = max(float(high[0] - low[0]), float(high[2] - low[2]), 0.2) / 2
    fovy = np.deg2rad(model.vis.global_.fovy)
    distance = 1.15 * half / np.tan(fovy / 2) + float(high[1] - low[1]) / 2
    return center, float(distance)


def add_markers(scene: mujoco.MjvScene, markers: Sequence[Marker]) -> None:
    """Append ``markers`` to an updated scene as decoration spheres (drawn, never simulated)."""
    for marker in markers:
        if scene.ngeom >= scene.maxgeom:
            return
        geom = scene.geoms[scene.ngeom]
        mujoco.mjv_initGeom(
            geom,
            mujoco.mjtGeom.mjGEOM_SPHERE,
            np.array([marker.radius, 0.0, 0.0]),
            np.asarray(marker.position, dtype=np.float64),
            np.eye(3).ravel(),
            np.asarray(marker.rgba, dtype=np.float32),
        )
        geom.category = mujoco.mjtCatBit.mjCAT_DECOR
        geom.segid = -1  # not an object of the model: segmentation leaves it out
        scene.ngeom += 1


class SceneRenderer:
    """Render frames of ``model`` in the state held by an ``MjData``.

    Args:
        model: the compiled scene (the simulation's own model, randomized or not).
        width, height: frame size in pixels.
        camera: ``None`` for the default framing camera (tracking a floating base), or the name or id of a
            camera in the model.
        markers: a function returning the markers to draw this frame (read live at every frame).
        azimuth, elevation: angles of the default camera (degrees, MuJoCo's convention).
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        camera: str | int | None = None,
        markers: MarkerSource | None = None,
        azimuth: float | None = None,
        elevation: float | None = None,
    ) -> None:
        if int(width) <= 0 or int(height) <= 0:
            raise ConfigError(f"render width and height must be > 0, got {width}x{height}")
        self.model = model
        self.width, self.height = int(width), int(height)
        self.markers = markers
        self._renderer: mujoco.Renderer | None = None
        self._fixed: int | None = None
        if camera is not None:
            cam_id = (
                camera
                if isinstance(camera, int)
                else mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
            )
            if not 0 <= cam_id < model.ncam:
                names = [model.camera(i).name for i in range(model.ncam)]
                raise ConfigError(
                    f"no camera {camera!r} in the model; use camera=None (the default framing camera) or "
                    f"one of {names}"
                )
            self._fixed = int(cam_id)
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        lookat, distance = frame_robot(model)
        self.camera.lookat[:] = lookat
        self.camera.distance = distance
        self.camera.azimuth = model.vis.global_.azimuth if azimuth is None else azimuth
        self.camera.elevation = model.vis.global_.elevation if elevation is None else elevation
        self._tracked = _floating_body(model)
        self._track_offset = np.zeros(3)
        if self._tracked >= 0:
            data = mujoco.MjData(model)
            mujoco.mj_kinematics(model, data)
            self._track_offset = lookat - data.xpos[self._tracked]

    def _context(self) -> mujoco.Renderer:
        if self._renderer is None:
            # The offscreen framebuffer must be at least as large as the frame (a visual field only).
            vis = self.model.vis.global_
            vis.offwidth, vis.offheight = max(vis.offwidth, self.width), max(vis.offheight, self.height)
            try:
                self._renderer = mujoco.Renderer(self.model, self.height, self.width)
            except Exception as exc:  # mujoco.FatalError, or EGL/OSMesa import failures
                from clankers._gl import backend_hint

                raise RenderingError(
                    f"cannot create an OpenGL context for offscreen rendering ({type(exc).__name__}: {exc}); "
                    + backend_hint()
                ) from exc
        return self._renderer

    def _update(self, data: mujoco.MjData) -> mujoco.Renderer:
        renderer = self._context()
        # Poses from qpos as it is now: after mj_step they lag one substep behind it, and a replay, which
        # sets qpos and nothing else, must draw the same picture as the run did.
        mujoco.mj_kinematics(self.model, data)
        if self._fixed is not None:
            renderer.update_scene(data, camera=self._fixed)
        else:
            if self._tracked >= 0:
                self.camera.lookat[:] = data.xpos[self._tracked] + self._track_offset
            renderer.update_scene(data, camera=self.camera)
        if self.markers is not None:
            add_markers(renderer.scene, self.markers())
        return renderer

    def rgb(self, data: mujoco.MjData, out: np.ndarray | None = None) -> np.ndarray:
        """An ``(height, width, 3)`` uint8 frame."""
        renderer = self._update(data)
        return renderer.render(out=out)

    def depth(self, data: mujoco.MjData) -> np.ndarray:
        """An ``(height, width)`` float32 frame of metric depth along the optical axis."""
        renderer = self._context()
        renderer.enable_depth_rendering()
        try:
            self._update(data)
            return renderer.render().astype(np.float32, copy=False)
        finally:
            renderer.disable_depth_rendering()

    def segmentation(self, data: mujoco.MjData) -> np.ndarray:
        """An ``(height, width)`` int32 frame of geom ids (-1 where no geom is drawn; markers are -1 too)."""
        renderer = self._context()
        renderer.enable_segmentation_rendering()
        try:
            self._update(data)
            ids = renderer.render()
        finally:
            renderer.disable_segmentation_rendering()
        geom = ids[..., 1] == mujoco.mjtObj.mjOBJ_GEOM
        return np.where(geom, ids[..., 0], -1).astype(np.int32)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> SceneRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
