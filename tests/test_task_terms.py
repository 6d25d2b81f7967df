"""The reward, termination, condition and observation term libraries, on a hand-set state; terms of
one's own (registered functions and models, ``kind = "python"``) and the worked example of docs/tasks.md."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from clankers.envs import resolve_task
from clankers.envs.tasks import TaskEnv, register_term, unregister_task, unregister_term
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


# --- terms of one's own -------------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs" / "tasks.md"


def docs_example(folder: Path) -> Path:
    """Write the worked example's files (``<!-- file: NAME -->`` blocks of docs/tasks.md) into ``folder``."""
    text = DOCS.read_text(encoding="utf-8")
    files = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, re.S)
    assert {name for name, _ in files} == {"my_terms.py", "pendulum_spin.toml"}
    for name, body in files:
        (folder / name).write_text(body)
    return folder / "pendulum_spin.toml"


@pytest.fixture
def spin_task(tmp_path: Path) -> Path:
    path = docs_example(tmp_path)
    yield path
    sys.modules.pop("my_terms", None)
    unregister_task("pendulum_spin")


def test_the_documented_example_runs_from_a_task_file(spin_task: Path) -> None:
    env = TaskEnv(spin_task)
    assert env.observation_names[-2:] == ("energy.0", "energy.1")
    env.reset(seed=0)
    env.sim.reset(qpos=np.array([0.0]), qvel=np.array([3.2]))
    obs, reward, terminated, _, info = env.step(np.zeros(1, dtype=np.float32))
    rate, angle = obs[2], np.arctan2(obs[1], obs[0])
    assert info["reward_terms"]["speed_error"] == pytest.approx(-0.1 * (rate - 3.0) ** 2, rel=1e-5)
    assert reward == pytest.approx(info["reward_terms"]["speed_error"])
    np.testing.assert_allclose(obs[3:], [rate**2 / 6, 9.81 / 2 * np.cos(angle)], rtol=1e-5)
    assert info["is_success"] and not terminated
    env.sim.reset(qpos=np.array([0.0]), qvel=np.array([9.0]))
    _, _, terminated, truncated, info = env.step(np.zeros(1, dtype=np.float32))
    assert terminated and not truncated and info["termination"] == ["too_fast"]
    assert not info["is_success"]


def test_a_task_file_with_python_terms_works_through_the_registry_and_vector_env(spin_task: Path) -> None:
    env_id = resolve_task(str(spin_task))
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    single = gym.make(env_id)
    obs, _ = vec.reset(seed=[4, 5])
    np.testing.assert_array_equal(obs[0], single.reset(seed=4)[0])
    vec.close()


def test_registered_function_kinds_of_every_category(state: TaskState) -> None:
    calls: list[str] = []

    @register_term("reward")
    def shoulder_speed(state: TaskState, scale: float = 1.0) -> float:
        calls.append("reward")
        return scale * abs(state.qvel[0])

    @register_term("observation", "elbow_twice", size=1)
    def elbow(state: TaskState) -> list[float]:
        return [2 * state.qpos[1]]

    @register_term("termination", truncates=True)
    def late(state: TaskState, after: int = 3) -> bool:
        return state.step_count >= after

    @register_term("condition")
    def elbow_bent(state: TaskState, below: float = 0.0) -> bool:
        return state.qpos[1] < below

    try:
        (reward,) = rewards.validate_python([{"kind": "shoulder_speed", "scale": 3.0, "weight": -0.5}])
        assert CompositeReward([reward], state, None)() == (-3.0, {"shoulder_speed": -3.0})
        (obs,) = observations.validate_python([{"kind": "elbow_twice", "name": "twice"}])
        out = np.zeros(1)
        obs.bind(state)(out)
        assert obs.names(state) == ["twice.0"] and out[0] == -1.0
        ends = terminations.validate_python([{"kind": "late", "after": 2}])
        composite = CompositeTermination(ends, state, None)
        state.step_count = 2
        assert composite() == (False, True, ["late"])  # registered as a truncation
        (not_truncating,) = terminations.validate_python([{"kind": "late", "truncates": False}])
        assert not not_truncating.truncates
        check = condition.validate_python({"kind": "all_of", "conditions": [{"kind": "elbow_bent"}]})
        assert check.bind(state)()
        assert calls == ["reward"]
    finally:
        for category, kind in [
            ("reward", "shoulder_speed"),
            ("observation", "elbow_twice"),
            ("termination", "late"),
            ("condition", "elbow_bent"),
        ]:
            unregister_term(category, kind)
    with pytest.raises(ValidationError, match="unknown reward kind 'shoulder_speed'"):
        rewards.validate_python([{"kind": "shoulder_speed"}])


def test_a_registered_model_kind_binds_like_a_built_in(state: TaskState) -> None:
    from typing import Literal

    from clankers.envs.tasks.base import Term

    @register_term("reward")
    class ElbowAngle(Term):
        kind: Literal["elbow_angle"] = "elbow_angle"
        weight: float = 1.0

        @property
        def label(self) -> str:
            return self.kind

        def bind(self, state: TaskState, success: object) -> object:
            index = state.scene.robot.layout.names.index("j2_elbow")
            return lambda: float(state.qpos[index])

    try:
        terms = rewards.validate_python([{"kind": "elbow_angle", "weight": 2.0}])
        assert CompositeReward(terms, state, None)() == (-1.0, {"elbow_angle": -1.0})
        with pytest.raises(ValidationError, match="weigth"):
            rewards.validate_python([{"kind": "elbow_angle", "weigth": 2.0}])
    finally:
        unregister_term("reward", "elbow_angle")


def test_open_terms_report_mistakes_where_they_are(tmp_path: Path) -> None:
    def fails(term: dict, message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            rewards.validate_python([term], context={"base_dir": tmp_path})

    (tmp_path / "helpers.py").write_text("def bonus(state, size=1.0):\n    return size\nvalue = 3\n")
    fails({"kind": "bonus"}, r"known kinds: \[.*'python'")
    fails({"kind": "python"}, 'needs func = "module:function"')
    fails({"kind": "python", "func": "helpers.bonus"}, "must be 'module:function'")
    fails({"kind": "python", "func": "no_such_module_x:bonus"}, "cannot import 'no_such_module_x'")
    fails({"kind": "python", "func": "helpers:nope"}, "has no attribute 'nope'")
    fails({"kind": "python", "func": "helpers:value"}, "not callable")
    fails({"kind": "python", "func": "helpers:bonus", "sise": 2.0}, r"do not fit bonus\(state, size=1.0\)")
    fails({"kind": "constant", "func": "helpers:bonus"}, "Extra inputs")
    (term,) = rewards.validate_python(
        [{"kind": "python", "func": "helpers:bonus", "size": 2.0}], context={"base_dir": tmp_path}
    )
    assert term.label == "bonus" and term.params == {"size": 2.0}
    sys.modules.pop("helpers", None)
    with pytest.raises(ConfigError, match="exists already"):
        register_term("reward", "distance")(lambda state: 0.0)
    with pytest.raises(ConfigError, match="no option"):
        register_term("reward", "x", size=3)
    with pytest.raises(ConfigError, match="unknown term category"):
        register_term("rewards", "x")
    with pytest.raises(ConfigError, match="built in"):
        unregister_term("reward", "distance")


def test_an_observation_function_must_keep_its_size(state: TaskState) -> None:
    sizes = iter([2, 3])

    @register_term("observation")
    def wobbly(state: TaskState) -> np.ndarray:
        return np.zeros(next(sizes))

    try:
        (term,) = observations.validate_python([{"kind": "wobbly"}])
        assert term.names(state) == ["wobbly.0", "wobbly.1"]  # measured by one call
        with pytest.raises(ConfigError, match="returned 3 numbers, declared 2"):
            term.bind(state)(np.zeros(2))
    finally:
        unregister_term("observation", "wobbly")
