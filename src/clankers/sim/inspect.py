"""What ``clankers inspect`` reports about a robot: the facts a user checks before training on it.

:func:`describe_robot` turns a loaded :class:`~clankers.sim.Robot` into plain data (JSON-ready): joint
layout in action order with limits and dynamics, masses (total and per body), base, geometry counts,
mimic joints, the URDF elements that were ignored, and every warning of the import.
"""

from __future__ import annotations

import math
from typing import Any

import mujoco
import numpy as np

from clankers.sim.robot import Robot
from clankers.sim.urdf import cache_dir


def _number(value: float) -> float | None:
    """JSON has no infinity: unlimited becomes ``None``."""
    return float(value) if math.isfinite(value) else None


def describe_robot(robot: Robot) -> dict[str, Any]:
    """Plain-data description of ``robot`` (see the module docstring)."""
    model, layout, description = robot.model, robot.layout, robot.description
    urdf_joints = description.joints if description is not None else {}
    joints = []
    for i, joint in enumerate(layout):
        dof = joint.qvel_index
        declared = urdf_joints.get(joint.name)
        joints.append(
            {
                "name": joint.name,
                "kind": joint.kind,
                "lower": _number(joint.lower),
                "upper": _number(joint.upper),
                "effort_limit": joint.effort_limit,
                "velocity_limit": _number(joint.velocity_limit),
                "damping": float(model.dof_damping[dof]),
                "friction": float(model.dof_frictionloss[dof]),
                "armature": float(model.dof_armature[dof]),
                "home": float(robot.home_pose[i]),
                "urdf_type": declared.type if declared is not None else None,
            }
        )
    bodies = [
        {"name": model.body(b).name, "mass": float(model.body_mass[b])}
        for b in range(1, model.nbody)
        if model.body_mass[b] > 0 or model.body_jntnum[b] > 0
    ]
    collision = int(np.sum((model.geom_contype > 0) | (model.geom_conaffinity > 0)))
    ground = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "ground")
    if ground >= 0:
        collision -= 1
    mimic = {
        name: {"joint": j.mimic[0], "multiplier": j.mimic[1], "offset": j.mimic[2]}
        for name, j in urdf_joints.items()
        if j.mimic is not None
    }
    return {
        "name": robot.name,
        "source": str(robot.source),
        "base": robot.base,
        "base_position": list(robot.base_position) if robot.base == "floating" else None,
        "dof": len(layout),
        "total_mass": float(np.sum(model.body_mass[1:])),
        "joints": joints,
        "bodies": bodies,
        "geometry": {
            "collision": collision,
            "visual": int(description.visual_geoms) if description is not None else 0,
            "meshes": int(model.nmesh),
            "converted_meshes": sum(1 for m in description.meshes if cache_dir() in m.parents)
            if description
            else 0,
        },
        "mimic_joints": mimic,
        "ignored_elements": dict(description.ignored) if description is not None else {},
        "warnings": list(robot.warnings),
    }
