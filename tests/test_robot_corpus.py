"""The corpus test: every URDF of the ``example-robot-data`` package (69 real robots) through the importer.

Loaded without visual geometry (``visual=False``): the collision geometry, inertias, joints and package
paths are what can fail, and skipping the visual COLLADA conversions keeps the whole corpus near 10 s.
Converted meshes are cached (``~/.cache/clankers``), so only the first run on a machine converts them.
The legged robots are also loaded with a floating base and held at home by a PD loop for half a second.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from clankers.errors import RobotDescriptionError
from clankers.sim import RobotImportWarning, SimConfig, Simulation, load_robot
from clankers.sim.inspect import describe_robot
from clankers.sim.urdf import example_robot_data

ROBOTS = example_robot_data()
pytestmark = pytest.mark.skipif(
    ROBOTS is None, reason="needs example-robot-data (pip install 'clankers[robots]')"
)
CORPUS = sorted(str(p.relative_to(ROBOTS)) for p in ROBOTS.rglob("*.urdf")) if ROBOTS else []

#: The files that do not load, each with the reason (also listed in docs/robots.md).
KNOWN_FAILURES = {
    "ur_description/urdf/ur3.urdf": "the file has no <link>",  # an empty, unexpanded xacro stub
}
LEGGED = [
    "a1_description/urdf/a1.urdf",
    "anymal_c_simple_description/urdf/anymal.urdf",
    "go1_description/urdf/go1.urdf",
    "go2_description/urdf/go2.urdf",
    "solo_description/robots/solo12.urdf",
]


@pytest.fixture(scope="module")
def loaded() -> dict[str, object]:
    """Every corpus URDF -> its Robot or the RobotDescriptionError it raised."""
    results: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RobotImportWarning)
        for name in CORPUS:
            try:
                results[name] = load_robot(ROBOTS / name, visual=False)  # type: ignore[operator]
            except RobotDescriptionError as exc:
                results[name] = exc
    return results


def test_at_least_95_percent_of_the_corpus_loads(loaded: dict[str, object]) -> None:
    assert len(CORPUS) >= 60  # example-robot-data 6.0 ships 69
    failed = {name: str(r) for name, r in loaded.items() if isinstance(r, Exception)}
    assert (len(CORPUS) - len(failed)) / len(CORPUS) >= 0.95
    assert sorted(failed) == sorted(KNOWN_FAILURES)  # a new failure, or a fixed one, updates docs/robots.md


@pytest.mark.parametrize("name", CORPUS)
def test_each_robot(loaded: dict[str, object], name: str) -> None:
    result = loaded[name]
    if name in KNOWN_FAILURES:
        assert isinstance(result, RobotDescriptionError)
        assert KNOWN_FAILURES[name] in str(result) and name.split("/")[-1] in str(result) and result.hint
        return
    assert not isinstance(result, Exception), result
    model, layout = result.model, result.layout  # type: ignore[attr-defined]
    assert model.nu == len(layout)
    assert np.all(model.body_mass >= 0)
    assert model.body_mass.sum() > 0 or len(layout) == 0  # a drone without joints is fused into the world
    assert all(j.effort_limit >= 0 and j.lower <= j.upper for j in layout)
    assert result.description.collision_geoms == int(np.sum(model.geom_contype > 0))  # type: ignore[attr-defined]
    info = json.loads(json.dumps(describe_robot(result)))  # what `clankers inspect --json` prints
    assert [j["name"] for j in info["joints"]] == list(layout.names)


@pytest.mark.parametrize("name", LEGGED)
def test_legged_robots_float_and_hold_home(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RobotImportWarning)
        robot = load_robot(
            ROBOTS / name,  # type: ignore[operator]
            SimConfig(physics_dt=0.002, control_dt=0.02, integrator="implicitfast"),
            base="floating",
            visual=False,
        )
    assert robot.base == "floating" and robot.base_position[2] > 0
    sim = Simulation(robot, action={"kind": "position", "kp": 50.0, "kd": 1.0})
    sim.reset()
    for _ in range(25):
        sim.step(np.zeros(len(robot.layout)))
    assert np.isfinite(sim.data.qpos).all()
    assert 0 < sim.base.height(sim.data) < robot.base_position[2] + 0.05  # on the ground, not launched
