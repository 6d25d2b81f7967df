"""Physics on MuJoCo: robots from URDF, joint layout, timing, simulation."""

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
