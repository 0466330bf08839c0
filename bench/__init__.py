"""Benchmarks: `make bench` (python -m bench). They print figures and write BENCHMARKS.md."""
