"""The one CLI error path: every command reports a ClankersError the same way, with the same exit code."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from clankers.cli import EXIT_BAD_INPUT, _App, app
from clankers.errors import ConfigError

runner = CliRunner()


def _toy_app() -> typer.Typer:
    toy = _App()

    @toy.command()
    def boom(json_output: bool = typer.Option(False, "--json")) -> None:
        raise ConfigError("the widget is broken", hint="replace the widget")

    @toy.command()
    def fine() -> None:
        typer.echo("ok")

    return toy


def test_a_clankers_error_prints_type_message_and_hint_on_stderr() -> None:
    result = runner.invoke(_toy_app(), ["boom"])
    assert result.exit_code == EXIT_BAD_INPUT == 2
    assert result.stdout == ""  # errors never mix into stdout (tools read it)
    assert "error: ConfigError: the widget is broken" in result.stderr
    assert "hint: replace the widget" in result.stderr


def test_with_json_the_error_is_one_json_object_on_stdout() -> None:
    result = runner.invoke(_toy_app(), ["boom", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "error": "the widget is broken",
        "error_type": "ConfigError",
        "hint": "replace the widget",
    }


def test_wrapping_keeps_the_command_signature() -> None:
    result = runner.invoke(_toy_app(), ["fine"])
    assert result.exit_code == 0 and result.stdout == "ok\n"


def test_check_missing_file_json_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.onnx")
    result = runner.invoke(app, ["check", missing, "--json"])
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["path"] == missing and data["conforms"] is False and data["level"] == "none"
    assert data["error_type"] == "PolicyFileNotFoundError" and "does not exist" in data["error"]


def test_train_unknown_task_goes_through_the_same_path() -> None:
    result = runner.invoke(app, ["train", "no_such_task"])
    assert result.exit_code == 2
    flat = " ".join(result.stderr.split())
    assert flat.startswith("error: ") and "no_such_task" in flat


def test_an_unwritable_output_path_is_one_error_line_not_a_traceback(tmp_path: Path) -> None:
    """Any OSError a command meets (here: --json-out into a folder that is a file) takes the one path."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    result = runner.invoke(
        app, ["run", "zero", "--env", "cartpole", "--episodes", "1", "--json-out", str(blocker / "r.json")]
    )
    assert result.exit_code == 2
    flat = " ".join(result.stderr.split())
    assert "error: FileAccessError:" in flat and "not_a_folder" in flat and "hint:" in flat
    assert "Traceback" not in result.stderr + result.stdout
