"""Side-by-side timing: alternatives are interleaved round by round, so load on the machine hits all alike.

Each alternative is a zero-argument callable. Per round, every alternative runs ``number`` calls; the
reported figure is the median over rounds of the per-call time. Ratios computed from the same rounds are
what the benchmarks compare against targets.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable


def compare(
    alternatives: dict[str, Callable[[], object]], number: int, rounds: int = 15, warmup: int = 50
) -> dict[str, float]:
    """Median seconds per call of each alternative, measured interleaved."""
    for fn in alternatives.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in alternatives}
    for _ in range(rounds):
        for name, fn in alternatives.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(values) for name, values in samples.items()}


def machine_line() -> str:
    """One line naming the machine, for the header of a results section."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load:.1f} at start"
    )


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def ratio_table(title: str, times: dict[str, float], baseline: str, what: str = "per call") -> list[str]:
    """Markdown rows: a heading, then each alternative's time and its ratio to ``baseline``."""
    base = times[baseline]
    rows = [f"### {title}", "", f"| call | {what} | vs {baseline} |", "|---|---|---|"]
    return rows + [f"| {name} | {us(t)} | {t / base:.2f}x |" for name, t in times.items()]
