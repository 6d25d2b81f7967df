"""Run every ``benchmarks/bench_*.py`` (or the named ones) and update BENCHMARKS.md.

Each module has ``main() -> str`` returning a markdown section. Sections live in BENCHMARKS.md between
``<!-- section: NAME -->`` and ``<!-- /section: NAME -->`` markers (NAME = module name without
``bench_``), so rerunning one benchmark replaces only its own section.

    python -m benchmarks.run                 # all
    python -m benchmarks.run cartpole_path   # one
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\n"
    "Measured by `make bench` (`python -m benchmarks.run`) on the project's 2-core machine. Every table\n"
    "compares alternatives side by side in one process, interleaved round by round; figures are medians.\n"
    "Absolute times move with machine load; the ratios are what the targets are about.\n"
)


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in (ROOT / "benchmarks").glob("bench_*.py"))


def update_section(document: str, name: str, body: str) -> str:
    block = f"<!-- section: {name} -->\n{body.strip()}\n<!-- /section: {name} -->"
    pattern = re.compile(rf"<!-- section: {re.escape(name)} -->.*?<!-- /section: {re.escape(name)} -->", re.S)
    if pattern.search(document):
        return pattern.sub(lambda _: block, document)
    return document.rstrip() + "\n\n" + block + "\n"


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available()}", file=sys.stderr)
        return 2
    for name in names:
        print(f"== {name}", flush=True)
        body = importlib.import_module(f"benchmarks.bench_{name}").main()
        print(body, flush=True)
        # Read the file again just before writing (a benchmark runs for minutes; another run may have
        # written its own section meanwhile), replace this section only, write atomically. After each
        # benchmark: a crash later keeps what was measured.
        document = update_section(OUTPUT.read_text() if OUTPUT.exists() else HEADER, name, body)
        tmp = OUTPUT.with_name(f".{OUTPUT.name}.tmp")
        tmp.write_text(document)
        tmp.replace(OUTPUT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
