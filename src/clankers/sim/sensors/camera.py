"""An RGB and/or depth camera through MuJoCo's offscreen renderer.

Images are not part of the flat observation vector: :meth:`Camera.render` returns
``{"{name}.rgb": (H, W, 3) uint8, "{name}.depth": (H, W) float32 metres}``.

Rendering needs an OpenGL context. Without a display clankers selects EGL (``MUJOCO_GL=egl``) when the
package is imported before MuJoCo (see :mod:`clankers.sim._gl`); on Debian the libraries are ``libegl1``,
``libegl-mesa0`` and ``libgl1-mesa-dri`` (``.ci/install-gl`` installs them when missing). ``osmesa``
works too where ``libosmesa6`` and PyOpenGL's OSMesa support are installed.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from clankers.errors import ConfigError, RenderingError
from clankers.sim.sensors.base import object_id


class Camera:
    """A camera: a named MuJoCo camera, or a free camera orbiting ``lookat``.

    Args:
        name: key prefix of the returned images.
        width, height: image size in pixels.
        camera: name of a camera in the model; ``None`` uses a free camera at ``distance`` from ``lookat``
            seen from ``azimuth``/``elevation`` (degrees, MuJoCo's convention).
        rgb, depth: which images to produce. Depth is the metric distance along the optical axis.
    """

    def __init__(
        self,
        name: str,
        width: int = 64,
        height: int = 64,
        camera: str | None = None,
        lookat: Sequence[float] = (0.0, 0.0, 0.0),
        distance: float = 2.0,
        azimuth: float = 90.0,
        elevation: float = -30.0,
        rgb: bool = True,
        depth: bool = False,
    ) -> None:
        if not (rgb or depth):
            raise ConfigError(f"camera {name!r} must produce rgb, depth or both")
        if width <= 0 or height <= 0:
            raise ConfigError(f"camera {name!r}: width and height must be > 0, got {width}x{height}")
        self.name, self.width, self.height = name, int(width), int(height)
        self.camera, self.rgb, self.depth = camera, rgb, depth
        self._free = mujoco.MjvCamera()
        self._free.type = mujoco.mjtCamera.mjCAMERA_FREE
        self._free.lookat[:] = np.asarray(lookat, dtype=np.float64)
        self._free.distance, self._free.azimuth, self._free.elevation = distance, azimuth, elevation
        self._renderer: mujoco.Renderer | None = None

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        out: dict[str, tuple[int, ...]] = {}
        if self.rgb:
            out[f"{self.name}.rgb"] = (self.height, self.width, 3)
        if self.depth:
            out[f"{self.name}.depth"] = (self.height, self.width)
        return out

    def bind(self, model: mujoco.MjModel) -> None:
        """Create the renderer (raises :class:`RenderingError` when no OpenGL backend works)."""
        self._camera_id = -1
        if self.camera is not None:
            self._camera_id = object_id(
                model, mujoco.mjtObj.mjOBJ_CAMERA, self.camera, f"camera sensor {self.name!r}"
            )
        # The offscreen framebuffer must be at least as large as the image.
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        try:
            self._renderer = mujoco.Renderer(model, self.height, self.width)
        except Exception as exc:  # mujoco.FatalError, or PyOpenGL/EGL import failures
            raise RenderingError(
                f"cannot create an OpenGL context for camera {self.name!r} ({exc}); set MUJOCO_GL=egl (or "
                "osmesa) before mujoco is imported and install libegl1 libegl-mesa0 libgl1-mesa-dri"
            ) from exc

    def render(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        if self._renderer is None:
            raise RenderingError(f"camera {self.name!r} is not bound; call bind(model) first")
        renderer = self._renderer
        camera = self._camera_id if self._camera_id >= 0 else self._free
        images: dict[str, np.ndarray] = {}
        if self.rgb:
            renderer.disable_depth_rendering()
            renderer.update_scene(data, camera=camera)
            images[f"{self.name}.rgb"] = renderer.render().copy()
        if self.depth:
            renderer.enable_depth_rendering()
            renderer.update_scene(data, camera=camera)
            images[f"{self.name}.depth"] = renderer.render().astype(np.float32)
            renderer.disable_depth_rendering()
        return images

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def gl_available() -> str | None:
    """The reason rendering cannot work here, or ``None`` when an offscreen context can be created."""
    model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='0.1'/></worldbody></mujoco>")
    try:
        renderer = mujoco.Renderer(model, 8, 8)
    except Exception as exc:
        return f"no OpenGL backend for MuJoCo ({type(exc).__name__}: {exc})"
    renderer.close()
    return None
