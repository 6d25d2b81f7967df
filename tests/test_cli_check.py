"""`clankers check`: a thin wrapper over check_policy whose exit code says whether the file conforms."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from _policy_graphs import identity_first, linear_model, save, standard_props
from clankers.cli import app

runner = CliRunner()


def test_conforming_file_exits_zero(tmp_path: Path) -> None:
    path = save(linear_model(identity_first(), props=standard_props()), tmp_path / "p.onnx")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "conforms to clanker policy format" in result.output
    assert "action_space" in result.output and "batch_inference" in result.output
    assert "[batch, 4]" in result.output
    flat = " ".join(result.output.split())
    assert "level standard" in flat and "missing for verified: parity" in flat


def test_non_conforming_file_exits_one_and_says_why(tmp_path: Path) -> None:
    path = save(linear_model(identity_first()), tmp_path / "p.onnx")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "does NOT conform" in result.output and "required key is absent" in result.output


def test_json_output(tmp_path: Path) -> None:
    path = save(linear_model(identity_first(), props=standard_props()), tmp_path / "p.onnx")
    result = runner.invoke(app, ["check", str(path), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["conforms"] is True and data["level"] == "standard"
    assert data["metadata"]["clanker_policy_version"] == data["checked_against"]


def test_garbage_file_exits_one(tmp_path: Path) -> None:
    path = tmp_path / "p.onnx"
    path.write_bytes(b"\x00garbage")
    result = runner.invoke(app, ["check", str(path), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["level"] == "none"


def test_missing_file_exits_two(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "nope.onnx")])
    assert result.exit_code == 2
    assert "does not exist" in " ".join(result.output.split())


def test_json_out_writes_the_same_object_and_keeps_the_text(tmp_path: Path) -> None:
    path = save(linear_model(identity_first(), props=standard_props()), tmp_path / "p.onnx")
    out = tmp_path / "reports" / "check.json"
    result = runner.invoke(app, ["check", str(path), "--json-out", str(out)])
    assert result.exit_code == 0
    assert "conforms to clanker policy format" in result.output
    printed = runner.invoke(app, ["check", str(path), "--json"])
    assert json.loads(out.read_text()) == json.loads(printed.stdout)
