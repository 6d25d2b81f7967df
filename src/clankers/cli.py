"""The ``clankers`` command: wiring only.

Each subcommand parses its arguments, calls into the package, and renders the result with rich. Logic
lives in the subpackages so it is importable, testable and reusable without the CLI. Heavy imports
(torch, SB3) happen inside the commands that need them, so ``clankers check`` and ``clankers run`` stay
torch-free and start fast.
"""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="clankers",
    help="Robot learning from a URDF to a deployed ONNX policy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
