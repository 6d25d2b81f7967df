"""``clankers inspect ROBOT.urdf``: what a robot is, as clankers simulates it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clankers.cli import app
from clankers.sim.urdf import example_robot_data

ROBOTS = example_robot_data()
pytestmark = pytest.mark.skipif(
    ROBOTS is None, reason="needs example-robot-data (pip install 'clankers[robots]')"
)
runner = CliRunner()


def test_inspect_go1_as_json() -> None:
    urdf = ROBOTS / "go1_description/urdf/go1.urdf"  # type: ignore[operator]
    result = runner.invoke(app, ["inspect", str(urdf), "--base", "floating", "--no-visual", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["base"] == "floating" and info["dof"] == 12
    assert info["total_mass"] == pytest.approx(13.1, abs=0.05)
    assert [j["name"] for j in info["joints"]][:3] == ["FL_calf_joint", "FL_hip_joint", "FL_thigh_joint"]
    calf = info["joints"][0]
    assert (calf["effort_limit"], calf["velocity_limit"]) == (35.55, 20.06)
    assert info["geometry"]["collision"] > 0 and info["geometry"]["visual"] == 0
    assert info["ignored_elements"] == {"transmission": 12, "gazebo": 5}
    assert any("'base'" in w and "inertia" in w for w in info["warnings"])
    assert info["base_position"][2] > 0.3  # legs straight (home = 0): standing tall


def test_inspect_prints_the_layout_and_mimic_joints() -> None:
    urdf = ROBOTS / "panda_description/urdf/panda.urdf"  # type: ignore[operator]
    result = runner.invoke(app, ["inspect", str(urdf), "--no-visual"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert re.search(r"│ 7 │ panda_joint7 +│ revo │ -2.9..2.9 +│ +12 │", result.output)
    assert "mimic: panda_finger_joint2 = 1 * panda_finger_joint1 + 0" in result.output


def test_inspect_fails_with_the_error_path(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(ROBOTS / "ur_description/urdf/ur3.urdf"), "--json"])  # type: ignore[operator]
    assert result.exit_code == 2
    error = json.loads(result.output)
    assert error["error_type"] == "RobotDescriptionError" and "xacro" in error["hint"]
    bad = runner.invoke(app, ["inspect", str(tmp_path / "x.urdf"), "--package-dir", "nonsense"])
    assert bad.exit_code == 2 and "NAME=PATH" in bad.output
