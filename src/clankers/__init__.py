"""clankers: robot learning from a URDF to a deployed ONNX policy."""

from clankers import _gl  # noqa: F401 - picks MUJOCO_GL before any clankers module imports mujoco
