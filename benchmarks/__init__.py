"""clankers benchmarks: side-by-side measurements in one process, collected into BENCHMARKS.md."""
