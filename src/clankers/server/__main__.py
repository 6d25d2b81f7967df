"""``python -m clankers.server [options]``: the same as ``clankers serve`` (same options, same errors)."""

import sys

from clankers.cli import app

if __name__ == "__main__":  # pragma: no cover
    app(["serve", *sys.argv[1:]], prog_name="python -m clankers.server")
