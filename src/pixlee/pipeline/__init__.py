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
from pathlib import Path
from typing import Any

import dlt
from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline.exactly_once import exactly_once_variant
from pixlee.pipeline.steps import PendingPackageError, preferred_file_format, run_source
from pixlee.pipeline.tuning import tune_process

__all__ = [
    "DATASET_NAME",
    "DUCKDB_FILE",
    "PIPELINE_NAME",
    "PROGRESS_CHOICES",
    "PendingPackageError",
    "default_progress",
    "ensure_duckdb_config",
    "exactly_once_variant",
    "make_pipeline",
    "preferred_file_format",
    "run_source",
    "tune_process",
]

PIPELINE_NAME = "pixlee_pipeline"
DATASET_NAME = "pixlee_data"
DUCKDB_FILE = "pixlee.duckdb"
PROGRESS_CHOICES = ("log", "tqdm")


def default_progress() -> str:
    """dlt's progress display: a bar on a terminal, log lines otherwise (CI, cron, files)."""
    return "tqdm" if sys.stderr.isatty() else "log"


def ensure_duckdb_config(duckdb_file: str = DUCKDB_FILE, settings_dir: str = ".dlt") -> bool:
    """Record the DuckDB file in `.dlt/secrets.toml` so dlt's tools find the same database.

    dlt does not keep credentials in pipeline state: a later `dlt pipeline pixlee_pipeline show`
    or `dlt.pipeline("pixlee_pipeline").dataset()` resolves the DuckDB path from config and would
    otherwise open an empty `pixlee_pipeline.duckdb`. dlt types DuckDB credentials as a secret,
    so the path can only live in secrets.toml (or the environment), not config.toml.
    Returns True when it wrote the setting.
    """
    config = Path(settings_dir) / "secrets.toml"
    text = config.read_text(encoding="utf-8") if config.exists() else ""
    if "[destination.duckdb]" in text:
        return False
    config.parent.mkdir(parents=True, exist_ok=True)
    block = (
        "\n# written by dlt-pixlee: where pipeline pixlee_pipeline keeps its DuckDB database\n"
        f'[destination.duckdb]\ncredentials = "{duckdb_file}"\n'
    )
    config.write_text(text + block, encoding="utf-8")
    return True


def make_pipeline(
    destination: Any = "duckdb",
    dataset_name: str = DATASET_NAME,
    pipeline_name: str = PIPELINE_NAME,
    progress: str | None = None,
    pipelines_dir: str | None = None,
    duckdb_file: str = DUCKDB_FILE,
) -> Pipeline:
    """A dlt pipeline; "duckdb" writes `duckdb_file` in the working directory.

    DuckDB and Postgres (by name or as dlt's factories, with their arguments) become their
    exactly-once variants; other destinations are used as given.
    """
    if destination == "duckdb":
        destination = dlt.destinations.duckdb(duckdb_file)
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
    return pipeline
