"""The reward, termination, condition and observation term libraries, on a hand-set state."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter

from clankers.envs.tasks.conditions import Condition
from clankers.envs.tasks.observations import Observation
from clankers.envs.tasks.rewards import CompositeReward, RewardTerm
from clankers.envs.tasks.scene import PlacedRobot, build_scene
from clankers.envs.tasks.state import TaskState
from clankers.envs.tasks.terminations import CompositeTermination, TerminationTerm
from clankers.errors import ConfigError
from clankers.sim import SimConfig, asset_path

rewards = TypeAdapter(list[RewardTerm])
terminations = TypeAdapter(list[TerminationTerm])
condition = TypeAdapter(Condition)
observations = TypeAdapter(list[Observation])


@pytest.fixture
def state() -> TaskState:
    """Two-link arm (layout: j1_shoulder, j2_elbow) with a point ``ee`` and a target ``goal``."""
    scene = build_scene([PlacedRobot("arm", asset_path("urdf/two_link_arm.urdf"))], SimConfig())
    state = TaskState.for_scene(scene)
    state.points["ee"] = np.array([0.3, 0.0, 0.4])
    state.targets["goal"] = np.array([0.3, 0.0, 0.0])  # 0.4 m below the point
    state.point_robots["ee"] = "arm"
    state.qpos[:] = [3.0, -0.5]
    state.qvel[:] = [2.0, -1.0]
    state.action[:] = [0.5, -1.0]
    return state


def test_reward_terms_raw_values_weights_and_breakdown(state: TaskState) -> None:
    terms = rewards.validate_python(
        [
            {"kind": "constant", "weight": 0.5},
            {"kind": "distance", "a": "ee", "b": "goal", "weight": -1.0},
            {
                "name": "squared",
                "kind": "distance",
                "a": "ee",
                "b": "goal",
                "kernel": "squared",
                "weight": -1.0,
            },
            {"name": "near", "kind": "distance", "a": "ee", "b": "goal", "kernel": "tanh", "scale": 0.4},
            {"kind": "action_penalty", "weight": -0.1},
            {
                "kind": "joint_position",
                "joints": ["j1_shoulder"],
                "target": -3.0,
                "wrap": True,
                "weight": -1.0,
            },
            {"kind": "joint_velocity", "weight": -0.01},
            {"kind": "success", "weight": 10.0},
        ]
    )
    success = condition.validate_python({"kind": "distance_below", "a": "ee", "b": "goal", "threshold": 0.5})
    reward = CompositeReward(terms, state, success.bind(state))
    total, parts = reward()
    wrapped = 6.0 - 2 * np.pi  # 3 - (-3) = 6 rad is -0.283 rad the short way round
    expected = {
        "constant": 0.5,
        "distance": -0.4,
        "squared": -0.16,
        "near": 1 - np.tanh(1.0),
        "action_penalty": -0.1 * (0.25 + 1.0),
        "joint_position": -(wrapped**2),
        "joint_velocity": -0.01 * 5.0,
        "success": 10.0,
    }
    assert parts == pytest.approx(expected)
    assert total == pytest.approx(sum(expected.values()))
    state.targets["goal"][:] = [0.3, 0.0, -0.5]  # now 0.9 m away: no success, live arrays are read
    total, parts = reward()
    assert parts["success"] == 0.0 and parts["distance"] == pytest.approx(-0.9)


def test_reward_names_must_be_unique(state: TaskState) -> None:
    terms = rewards.validate_python([{"kind": "constant"}, {"kind": "constant"}])
    with pytest.raises(ConfigError, match="distinct `name`"):
        CompositeReward(terms, state, None)


def test_termination_kinds_and_truncation(state: TaskState) -> None:
    terms = terminations.validate_python(
        [
            {"kind": "joint_bounds", "joints": ["j2_elbow"], "position": [-1.0, 1.0]},
            {"name": "too_fast", "kind": "joint_bounds", "velocity": [-5.0, 5.0]},
            {"kind": "point_bounds", "point": "ee", "low": [-1, -1, 0.0], "high": [1, 1, 1]},
            {"kind": "timeout", "steps": 3},
        ]
    )
    done = CompositeTermination(terms, state, None)
    state.step_count = 1
    assert done() == (False, False, [])
    state.qvel[1] = 6.0
    state.points["ee"][2] = -0.1
    assert done() == (True, False, ["too_fast", "point_bounds"])
    state.qvel[1] = 0.0
    state.points["ee"][2] = 0.4
    state.step_count = 3
    assert done() == (False, True, ["timeout"])  # a timeout truncates, it does not terminate
    state.qpos[1] = 1.5
    assert done() == (True, True, ["joint_bounds", "timeout"])


def test_success_termination_holds_and_forgets_between_episodes(state: TaskState) -> None:
    (term,) = terminations.validate_python([{"kind": "success", "hold_steps": 3}])
    near = condition.validate_python(
        {"kind": "joint_near", "joints": ["j2_elbow"], "target": -0.5, "tolerance": 0.1}
    )
    done = CompositeTermination([term], state, near.bind(state))
    fired = []
    for step in range(1, 5):
        state.step_count = step
        fired.append(done()[0])
    assert fired == [False, False, True, True]
    state.step_count = 1  # a new episode
    assert done()[0] is False


def test_conditions(state: TaskState) -> None:
    joint = condition.validate_python(
        {"kind": "joint_near", "target": [3.0 - 2 * np.pi, -0.5], "tolerance": 0.01, "wrap": True}
    ).bind(state)
    assert joint()
    slow = condition.validate_python(
        {"kind": "joint_near", "target": [3.0, -0.5], "tolerance": 0.01, "velocity_tolerance": 1.5}
    ).bind(state)
    assert not slow()  # the shoulder moves at 2 rad/s
    both = condition.validate_python(
        {
            "kind": "all_of",
            "conditions": [
                {"kind": "distance_below", "a": "ee", "b": "goal", "threshold": 0.41},
                {"kind": "distance_below", "a": "ee", "b": "goal", "threshold": 0.39},
            ],
        }
    ).bind(state)
    assert not both()
    state.targets["goal"][2] = 0.05
    assert both()


def test_observation_terms_write_named_entries(state: TaskState) -> None:
    terms = observations.validate_python(
        [
            {"kind": "joint_state"},
            {"kind": "joint_sincos", "joints": ["j1_shoulder"]},
            {"kind": "point_to_target", "point": "ee", "target": "goal"},
            {"kind": "last_action"},
        ]
    )
    out = []
    for term in terms:
        names = term.names(state)
        buffer = np.zeros(len(names))
        term.bind(state)(buffer)
        out.extend(zip(names, buffer, strict=True))
    assert dict(out) == pytest.approx(
        {
            "j1_shoulder.position": 3.0,
            "j1_shoulder.velocity": 2.0,
            "j2_elbow.position": -0.5,
            "j2_elbow.velocity": -1.0,
            "j1_shoulder.cos": np.cos(3.0),
            "j1_shoulder.sin": np.sin(3.0),
            "ee_to_goal.x": 0.0,
            "ee_to_goal.y": 0.0,
            "ee_to_goal.z": -0.4,
            "j1_shoulder.command": 0.5,
            "j2_elbow.command": -1.0,
        }
    )


def test_unknown_names_are_config_errors(state: TaskState) -> None:
    with pytest.raises(ConfigError, match="elbo"):
        observations.validate_python([{"kind": "joint_position", "joints": ["elbo"]}])[0].names(state)
    with pytest.raises(ConfigError, match="goals"):
        rewards.validate_python([{"kind": "distance", "a": "ee", "b": "goals"}])[0].bind(state, None)
