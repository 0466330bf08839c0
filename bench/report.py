"""Build time of the UGC report on a 200,000-media DuckDB dataset (target: <= 10 s).

The dataset is real: the simulator serves a 40-album account with products and categories
(tagged content also sits in product and category albums: 40 x 2,430 approved items make about
200,000 `media` rows) and the project's source loads it into DuckDB, so `media`,
`media__products` and the rest have the schema users get. Then the report is built three times
in this process (`collect_report` + `write_report`: every query, every chart, the HTML file)
and once through the command line (`pixlee report`, a new process: imports and connection
included). Prints a markdown table; asserts nothing.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dlt

from pixlee import pixlee_source
from pixlee.pipeline import run_source
from pixlee.report import collect_report, write_report
from pixlee.report.html import plotly_js
from pixlee.simulator import Simulator, SimulatorConfig

ALBUMS, MEDIA_PER_ALBUM = 40, 2430
ROUNDS = 3


def _load(folder: Path) -> tuple[dlt.Pipeline, int]:
    # The project's 192 MB DuckDB cap (pixlee.pipeline.THROUGHPUT_DEFAULTS) ran out of memory
    # loading this account with `products` on a loaded 2-core machine; the report is measured
    # here, not the load, so this script gives the load room (a setting for this process).
    dlt.config["destination.duckdb.credentials.global_config"] = {"memory_limit": "1GB"}
    config = SimulatorConfig(
        seed=19, albums=ALBUMS, media_per_album=MEDIA_PER_ALBUM, products=40, categories=5,
        rate_limit=10**9,
    )  # fmt: skip
    with Simulator(config) as sim:
        pipeline = dlt.pipeline(  # no progress display: the figures are the output
            pipeline_name="bench_report",
            destination=dlt.destinations.duckdb(str(folder / "bench.duckdb")),
            dataset_name="pixlee_data",
            pipelines_dir=str(folder / "pipelines"),
        )
        source = pixlee_source(api_key=sim.config.api_key, base_url=sim.base_url)
        run_source(pipeline, source.with_resources("albums", "media", "products"))
    with (
        pipeline.sql_client() as client,
        client.execute_query(
            f"SELECT count(*) FROM {client.make_qualified_table_name('media')}"
        ) as cursor,
    ):
        row = cursor.fetchone()
    return pipeline, int(row[0]) if row else 0


def _build(pipeline: dlt.Pipeline, output: Path) -> tuple[float, float, float]:
    """Seconds to collect (queries, charts), seconds to write, CPU seconds of both."""
    cpu, started = time.process_time(), time.perf_counter()
    report = collect_report(pipeline, since="90d")
    collected = time.perf_counter()
    write_report(report, output)
    return collected - started, time.perf_counter() - collected, time.process_time() - cpu


def _cli(folder: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `pixlee report` in a new process."""
    env = {
        **os.environ,
        "DESTINATION__DUCKDB__CREDENTIALS": str(folder / "bench.duckdb"),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    command = [
        str(Path(sys.executable).with_name("pixlee")), "report", "--pipeline", "bench_report",
        "--pipelines-dir", str(folder / "pipelines"), "--output", str(folder / "cli.html"),
    ]  # fmt: skip
    cpu_before = _children_cpu()
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=folder)
    return time.perf_counter() - started, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        load_started = time.perf_counter()
        pipeline, media = _load(folder)
        load_seconds = time.perf_counter() - load_started
        runs = [_build(pipeline, folder / f"report{i}.html") for i in range(ROUNDS)]
        cli_seconds, cli_cpu = _cli(folder)
        size = (folder / "report0.html").stat().st_size
    best = min(runs, key=lambda run: run[0] + run[1])
    total = best[0] + best[1]
    rows = [
        "| measure | value |",
        "|---|---:|",
        f"| media rows in the dataset | {media:,} |",
        f"| report, in process: queries and charts (best of {ROUNDS}) | {best[0]:.2f} s |",
        f"| report, in process: HTML written | {best[1]:.2f} s |",
        f"| report, in process: total (CPU) | **{total:.2f} s** ({best[2]:.2f} s CPU) |",
        f"| `pixlee report`, a new process (imports, connection) | {cli_seconds:.2f} s "
        f"({cli_cpu:.2f} s CPU) |",
        f"| HTML file | {size / 1e6:.1f} MB (plotly.js {len(plotly_js()) / 1e6:.1f} MB of it) |",
    ]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return "\n".join(
        [
            f"A {ALBUMS}-album account loaded by the source into DuckDB ({load_seconds:.0f} s to "
            "generate and load), then the report built (`--since 90d`). Target: the build "
            f"<= 10 s. Load average while measuring: {load} on {os.cpu_count()} cores; wall "
            "seconds depend on what else runs, CPU seconds (DuckDB's threads included) much less.",
            "",
            *rows,
            "",
            f"Build <= 10 s: {'yes' if total <= 10 else 'no'} ({total:.2f} s in process; the "
            f"command adds a new Python process and its imports: {cli_seconds:.2f} s wall, "
            f"{cli_cpu:.2f} s CPU).",
        ]
    )


if __name__ == "__main__":
    print(main())
