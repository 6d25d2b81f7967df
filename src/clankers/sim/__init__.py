"""Physics on MuJoCo: robots from URDF, joint layout, timing, simulation."""

# First: picks a headless MUJOCO_GL before the imports below load mujoco (MuJoCo reads it once).
from clankers.sim import _gl  # noqa: F401  (isort: keep first)
from clankers.sim.config import SimConfig
from clankers.sim.robot import JointInfo, JointLayout, Robot, asset_path, load_robot
from clankers.sim.simulation import Simulation, validate_command

__all__ = [
    "JointInfo",
    "JointLayout",
    "Robot",
    "SimConfig",
    "Simulation",
    "asset_path",
    "load_robot",
    "validate_command",
]
