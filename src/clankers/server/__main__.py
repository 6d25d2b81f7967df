"""``python -m clankers.server [options]``: the same as ``clankers serve``."""

from clankers.cli import serve

if __name__ == "__main__":  # pragma: no cover
    import typer

    typer.run(serve)
