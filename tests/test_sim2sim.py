"""Sim-to-sim: each setting really changes the physics it names, results are reproducible, the CLI reports."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from clankers.cli import app
from clankers.envs import find_task
from clankers.envs.sim2sim import DEFAULT_SETTINGS, Setting, _make_envs, run_setting, sim2sim
from clankers.errors import ConfigError
from clankers.sim.urdf import RobotImportWarning, example_robot_data

pytestmark = pytest.mark.skipif(
    example_robot_data() is None, reason="needs example-robot-data (pip install 'clankers[robots]')"
)
warnings.filterwarnings("ignore", category=RobotImportWarning)


def zero(obs: np.ndarray) -> np.ndarray:
    return np.zeros((len(obs), 12))


def test_each_setting_changes_what_it_names() -> None:
    task = find_task("go1_velocity")
    nominal = _make_envs(task, Setting("nominal"), 1, 10).envs[0]
    assert nominal._randomizer is None and nominal._command is not None  # nominal physics, eval command
    np.testing.assert_allclose(nominal._command, [0.5, 0.0, 0.0])
    step = _make_envs(task, Setting("s", physics_dt=0.002, integrator="rk4"), 1, 10).envs[0]
    assert step.sim.model.opt.timestep == 0.002 and step.sim.substeps == 10 and step.dt == 0.02
    assert step.sim.model.opt.integrator == 1  # mjINT_RK4
    slippery = _make_envs(task, Setting("f", friction_scale=0.5), 1, 10).envs[0]
    np.testing.assert_allclose(
        slippery.sim.model.geom_friction[:, 0], 0.5 * nominal.sim.model.geom_friction[:, 0]
    )
    loaded = _make_envs(task, Setting("p", payload_kg=2.0), 1, 10).envs[0]
    base = loaded.robot.base_body
    assert loaded.sim.model.body_mass[base] == pytest.approx(nominal.sim.model.body_mass[base] + 2.0)
    pushed = _make_envs(task, Setting("push", push_force=40.0, push_interval=0.02), 1, 10)
    env = pushed.envs[0]
    pushed.reset(seed=0)
    pushed.step(np.zeros((1, 12)))
    assert env._randomizer.pushes and np.linalg.norm(env._randomizer.pushes[0].force) == pytest.approx(40.0)


def test_a_standing_policy_does_not_walk_and_payload_sinks_it() -> None:
    task = find_task("go1_velocity")
    nominal = run_setting(zero, task, Setting("nominal"), episodes=2, duration=1.0)
    assert nominal.episodes == 2 and nominal.falls == 0
    assert abs(nominal.mean_speed) < 0.1  # holding the home pose: it stays where it is
    assert nominal.durations == [1.0, 1.0]
    again = run_setting(zero, task, Setting("nominal"), episodes=2, duration=1.0)
    assert again.speeds == nominal.speeds  # same seeds, same episodes


def test_a_fall_is_counted() -> None:
    task = find_task("go1_velocity")

    def flail(obs: np.ndarray) -> np.ndarray:  # full-range random joint targets: the Go1 collapses
        return np.random.default_rng(int(abs(obs[0, 3]) * 1e6)).uniform(-1, 1, (len(obs), 12)) * 3

    result = run_setting(flail, task, Setting("nominal"), episodes=2, duration=4.0)
    assert result.falls >= 1 and min(result.durations) < 4.0


def test_sim2sim_needs_a_locomotion_task() -> None:
    with pytest.raises(ConfigError, match="locomotion"):
        sim2sim(zero, "cartpole", [Setting("nominal")], episodes=1, duration=0.1)


def test_cli_prints_a_table_and_json() -> None:
    result = CliRunner().invoke(
        app,
        ["sim2sim", "zero", "--env", "go1_velocity", "--episodes", "1", "--duration", "0.2", "--json"]
        + [arg for name in ("nominal", "friction x0.5") for arg in ("--setting", name)],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [s["setting"] for s in payload["settings"]] == ["nominal", "friction x0.5"]
    assert all(s["falls"] == 0 and s["episodes"] == 1 for s in payload["settings"])
    assert {s.name for s in DEFAULT_SETTINGS} >= {
        "nominal",
        "friction x0.5",
        "friction x1.5",
        "payload +2 kg",
    }
    bad = CliRunner().invoke(app, ["sim2sim", "zero", "--setting", "moon gravity"])
    assert bad.exit_code == 2 and "unknown setting" in bad.output
