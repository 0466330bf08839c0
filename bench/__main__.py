"""Run every benchmark in one go and write the figures to BENCHMARKS.md.

Benchmarks print numbers; they never assert timings (tests do not either).
"""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import incremental_cost, report, simulator_throughput, throughput

OUTPUT = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def _machine() -> str:
    try:
        cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    except OSError:
        cores = "?"
    return f"{platform.machine()}, {cores} cores, Python {platform.python_version()}"


def main() -> None:
    sections = [
        "# Benchmarks",
        "",
        f"Measured {datetime.now(tz=UTC):%Y-%m-%d} on {_machine()} with `make bench`.",
        "",
        "## Simulator throughput",
        "",
        simulator_throughput.main(),
        "",
        "## Incremental request cost",
        "",
        incremental_cost.main(),
        "",
        "## Extraction and loading throughput (ours vs. the dlt `rest_api` recipe)",
        "",
        throughput.main(),
        "",
        "## Paced against each server window kind",
        "",
        throughput.windows(),
        "",
        "## UGC report build time",
        "",
        report.main(),
    ]
    text = "\n".join(sections) + "\n"
    OUTPUT.write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
