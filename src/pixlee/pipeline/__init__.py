"""Build and run the pipeline the way the project's users expect by default.

Pipeline `pixlee_pipeline`, dataset `pixlee_data`, DuckDB file `pixlee.duckdb`; parquet files
wherever the destination accepts them (DuckDB's INSERT path is ~10x slower here).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.pipeline.pipeline import Pipeline

from pixlee.defaults import DATASET_NAME, DUCKDB_FILE, PIPELINE_NAME, PROGRESS_CHOICES
from pixlee.pipeline.duckdb_load import LOAD_MEMORY_LIMIT, duckdb_open_while_loading
from pixlee.pipeline.local_files import absolute_database, claim_for_this_folder
from pixlee.pipeline.memory import limit_malloc_arenas

__all__ = ["DATASET_NAME", "DUCKDB_FILE", "PIPELINE_NAME", "make_pipeline", "run_source"]

# Measured on 41,000 media (2 cores): zlib on dlt's intermediate files was ~20% of extract
# CPU, and one extracted file per table left the second normalize worker idle. 10,000 rows a
# file, not 5,000: dlt resolves its writer config for every file (~6 ms) and the load runs a
# job per file; at 100,000 media ~0.8 s less end to end, at 200,000 ~4 s (measured; DuckDB's
# 3 parallel staging inserts stay within the cap below, also at 400,000 media).
THROUGHPUT_DEFAULTS: dict[str, Any] = {
    "data_writer.disable_compression": True,
    "data_writer.file_max_items": 10_000,
    "normalize.workers": max(1, min(4, os.cpu_count() or 1)),
    # DuckDB's merge would otherwise take up to 80% of RAM; with a cap it spills to disk.
    # Measured at 200,000 media with `media` declared deduplicated (no ROW_NUMBER window in
    # the merge): 256 MB and 192 MB load equally fast (9.6-9.7 s), 192 MB peaks 60 MB lower;
    # 160 MB ran out of memory in the media merge (10,000-row files), 128 MB in the staging
    # inserts. Checked at 192 MB: a 400,000-media load, a 252,500-media full reload.
    "destination.duckdb.credentials.global_config": {"memory_limit": LOAD_MEMORY_LIMIT},
    # staging tables hold a full copy of the last load until the next one: empty them after
    # each load (a DuckDB file half the size, and less for its checkpoint to write)
    "load.truncate_staging_dataset": True,
}


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
    and reads its settings from `[destination.<destination_name>]`."""
    apply_throughput_defaults()
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
        destination=destination,
        dataset_name=dataset_name,
        **options,
    )
    return claim_for_this_folder(pipeline) if local_duckdb else pipeline


def apply_throughput_defaults() -> dict[str, Any]:
    """Set dlt's writer and worker settings for throughput, where the user has not set them.

    Intermediate files are read back once on the same machine, so they are not compressed;
    they rotate every `file_max_items` rows so normalize can spread them over `workers`
    processes (one per core, up to 4). Anything set in config.toml, secrets.toml or the
    environment wins. Returns what was set.
    """
    import dlt

    limit_malloc_arenas()
    applied: dict[str, Any] = {}
    for key, value in THROUGHPUT_DEFAULTS.items():
        if dlt.config.get(key) is None:
            dlt.config[key] = value
            applied[key] = value
    return applied


def preferred_file_format(pipeline: Pipeline) -> str | None:
    """`parquet` when the destination loads it, else the destination's own default."""
    capabilities = pipeline.destination.capabilities()
    if "parquet" in (capabilities.supported_loader_file_formats or ()):
        return "parquet"
    return None


def run_source(
    pipeline: Pipeline, source: Any, *, full_refresh: bool = False, **run_kwargs: Any
) -> LoadInfo:
    """Run `source` into `pipeline`, through parquet where possible.

    A local DuckDB file stays open for each whole load step (`pixlee.pipeline.duckdb_load`).
    A run killed after extract leaves packages pending; dlt's `run` would load only those and
    drop the new extraction with a warning. Finishing them first makes one rerun enough.
    """
    apply_throughput_defaults()
    with duckdb_open_while_loading(pipeline):
        if pipeline.has_pending_data and not full_refresh:
            pipeline.normalize()
            pipeline.load()
        file_format = preferred_file_format(pipeline)
        if file_format:
            run_kwargs.setdefault("loader_file_format", file_format)
        if full_refresh:
            run_kwargs.setdefault("refresh", "drop_sources")
        return pipeline.run(source, **run_kwargs)
