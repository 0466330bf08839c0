"""Build and run the pipeline the way the project's users expect by default.

Pipeline `pixlee_pipeline`, dataset `pixlee_data`, DuckDB file `pixlee.duckdb`; parquet files
wherever the destination accepts them (DuckDB's INSERT path is ~10x slower here); DuckDB and
Postgres through their exactly-once variants (`pixlee.pipeline.exactly_once`). Nothing here
writes dlt's global config or changes the process: the settings travel as arguments of dlt's
own steps and destination factories, and the process-wide tunings are opt-in
(`pixlee.pipeline.tuning`).
"""

from __future__ import annotations

import sys
from typing import Any

import dlt
from dlt.pipeline.pipeline import Pipeline

from pixlee.defaults import DATASET_NAME, DUCKDB_FILE, PIPELINE_NAME, PROGRESS_CHOICES
from pixlee.pipeline.exactly_once import exactly_once_variant
from pixlee.pipeline.local_files import absolute_database, claim_for_this_folder
from pixlee.pipeline.steps import (
    AroundLoad,
    PendingPackageError,
    preferred_file_format,
    run_source,
)
from pixlee.pipeline.tuning import tune_process, tuned

__all__ = [
    "AroundLoad",
    "DATASET_NAME",
    "DUCKDB_FILE",
    "PIPELINE_NAME",
    "PROGRESS_CHOICES",
    "PendingPackageError",
    "default_progress",
    "exactly_once_variant",
    "make_pipeline",
    "preferred_file_format",
    "run_source",
    "tune_process",
    "tuned",
]


def default_progress() -> str:
    """dlt's progress display: a bar on a terminal, log lines otherwise (CI, cron, files)."""
    return "tqdm" if sys.stderr.isatty() else "log"


def make_pipeline(
    destination: Any = "duckdb",
    dataset_name: str = DATASET_NAME,
    pipeline_name: str = PIPELINE_NAME,
    progress: str | None = None,
    pipelines_dir: str | None = None,
    duckdb_file: str = DUCKDB_FILE,
    destination_name: str = "duckdb",
) -> Pipeline:
    """A dlt pipeline; the DuckDB destination writes `duckdb_file` in the working directory
    (see `pixlee.pipeline.local_files`: the file and the pipeline's state belong to this folder)
    and reads its settings from `[destination.<destination_name>]`.

    DuckDB and Postgres (by name or as dlt's factories, with their arguments) become their
    exactly-once variants; other destinations are used as given.
    """
    local_duckdb = destination == "duckdb"
    if local_duckdb:
        destination = dlt.destinations.duckdb(
            absolute_database(duckdb_file), destination_name=destination_name
        )
    progress = progress or default_progress()
    if progress not in PROGRESS_CHOICES:
        raise ValueError(f"progress must be one of {', '.join(PROGRESS_CHOICES)}, got {progress!r}")
    options: dict[str, Any] = {"progress": progress}
    if pipelines_dir:
        options["pipelines_dir"] = pipelines_dir
    pipeline: Pipeline = dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=exactly_once_variant(destination),
        dataset_name=dataset_name,
        **options,
    )
    return claim_for_this_folder(pipeline) if local_duckdb else pipeline
