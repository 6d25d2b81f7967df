"""Physics on MuJoCo: robots from URDF, joint layout, timing, simulation."""

# First: picks a headless MUJOCO_GL before the imports below load mujoco (MuJoCo reads it once).
from clankers.sim import _gl  # noqa: F401  (isort: keep first)
from clankers.sim.actions import ActionConfig
from clankers.sim.config import SimConfig
from clankers.sim.robot import Ground, JointInfo, JointLayout, Robot, asset_path, load_robot
from clankers.sim.simulation import Simulation, validate_command
from clankers.sim.urdf import RobotImportWarning

__all__ = [
    "ActionConfig",
    "Ground",
    "JointInfo",
    "JointLayout",
    "Robot",
    "RobotImportWarning",
    "SimConfig",
    "Simulation",
    "asset_path",
    "load_robot",
    "validate_command",
]
