"""The per-environment state that observation, reward and termination terms read.

Terms are *bound* once, when the environment is built: binding resolves names (joints, points, targets)
to indices and array references and returns a small closure. Each step the environment refreshes the
arrays of :class:`TaskState` **in place** (never rebinding them), so a bound term reads current values
through the references it captured and does no name lookups on the hot path. One ``TaskState`` belongs
to one environment: nothing here is shared between instances, which keeps environments independent
(and safe to step from different threads).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from clankers.envs.tasks.scene import Scene
from clankers.errors import ConfigError


@dataclass
class TaskState:
    """Current values, in scene joint-layout order, plus named points and targets (world frame, m).

    Attributes:
        qpos, qvel: joint positions and velocities.
        action: the last command (normalized, before clamping), zeros after reset.
        points: named points on robots (end effectors), refreshed every step.
        targets: named goal positions, drawn at reset.
        step_count: control steps since reset.
    """

    scene: Scene
    qpos: np.ndarray
    qvel: np.ndarray
    action: np.ndarray
    points: dict[str, np.ndarray] = field(default_factory=dict)
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    point_robots: dict[str, str] = field(default_factory=dict)
    target_robots: dict[str, str | None] = field(default_factory=dict)
    step_count: int = 0
    sim: Any = None  # the environment's Simulation, for terms that read MuJoCo directly (sensors)
    sensors: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_scene(cls, scene: Scene) -> TaskState:
        n = len(scene.robot.layout)
        return cls(scene, np.zeros(n), np.zeros(n), np.zeros(n))

    def joint_indices(self, robot: str | None, joints: Sequence[str] | None) -> np.ndarray:
        return self.scene.joint_indices(robot, joints)

    def position(self, name: str) -> np.ndarray:
        """The live array of a point or target by name (a point wins if both exist)."""
        if name in self.points:
            return self.points[name]
        if name in self.targets:
            return self.targets[name]
        raise ConfigError(
            f"no point or target named {name!r}; points: {sorted(self.points)}, targets: {sorted(self.targets)}"
        )

    def robot_of(self, name: str) -> str | None:
        """The robot a point or target belongs to (None for a target shared by the scene)."""
        if name in self.point_robots:
            return self.point_robots[name]
        return self.target_robots.get(name)


class PointTracker:
    """Computes named points (``body`` origin plus an offset in the body frame) from MuJoCo's kinematics."""

    def __init__(self, state: TaskState, specs: Sequence[tuple[str, str, int, np.ndarray]]) -> None:
        self._state = state
        self._entries = [(state.points[name], body_id, offset) for name, _robot, body_id, offset in specs]
        self.active = bool(self._entries)

    def update(self, data: mujoco.MjData) -> None:
        for out, body_id, offset in self._entries:
            np.matmul(data.xmat[body_id].reshape(3, 3), offset, out=out)
            out += data.xpos[body_id]
