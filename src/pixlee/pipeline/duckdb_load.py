"""Keep a local DuckDB database open for the whole of dlt's load step.

Why: dlt's DuckDB connection pool closes the database whenever its last borrowed connection is
returned, and DuckDB checkpoints on every close and reads its catalog back on every open. A
load of 100,000 media runs ~90 jobs; between job bursts the database closed and reopened up to
90 times, and the checkpoints also wrote the staging copies that the merge empties a moment
later. DuckDB's Python API shares one database instance between the connections of a process
to the same file, so one extra connection held here keeps that instance (and its buffers) alive
from the first job to the last: measured on 100,000 media, the load went from ~9.7 s to ~8.3 s
and on 200,000 from ~14.9 s to ~12.5 s, with a lower peak (500 → 450 MB).

Only while loading: extraction can take hours at the API's pace, and another process (a
notebook, `dlt pipeline show`) may open the file meanwhile. With nothing checkpointed between
jobs, parallel staging inserts share one instance and its memory cap, so the load runs
`LOAD_WORKERS` jobs at a time unless `load.workers` is configured (20 parallel inserts ran
DuckDB out of its 256 MB cap on a 250,000-media load; 3 did not at 200,000).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dlt
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline.memory import release_freed_memory

logger = logging.getLogger(__name__)

# jobs in parallel while the database stays open: on 2 cores 3-4 loaded fastest (1: +15%,
# 20: +15% and more memory)
LOAD_WORKERS = 3
# DuckDB's memory cap while loading (`pixlee.pipeline.THROUGHPUT_DEFAULTS`), and the lower one
# for the checkpoint when the database closes after the load: that checkpoint only writes what
# the load committed, and under the load's cap it grew the process by ~215 MB at 200,000 media
# (~150 MB under this one, measured; the peak of the run then lies in the load itself).
LOAD_MEMORY_LIMIT = "192MB"
CHECKPOINT_MEMORY_LIMIT = "128MB"


def local_duckdb_file(pipeline: Pipeline) -> tuple[str, dict[str, Any]] | None:
    """The database file of `pipeline`'s DuckDB destination and the config dlt's pool connects
    with, when dlt opens the file itself (not for a connection the user passed)."""
    location = _local_duckdb(pipeline)
    return None if location is None else (location[0], location[1])


def _local_duckdb(pipeline: Pipeline) -> tuple[str, dict[str, Any], Any] | None:
    """As `local_duckdb_file`, plus the configured `memory_limit` (None when not set)."""
    destination = pipeline.destination
    if destination is None or destination.destination_type != "dlt.destinations.duckdb":
        return None
    try:
        credentials = pipeline.destination_client().config.credentials
    except Exception:  # unresolvable config: dlt's own step reports it
        return None
    if not isinstance(credentials, DuckDbCredentials):
        return None
    if credentials.external_conn() is not None or credentials.read_only:
        return None
    database = credentials.database
    if not isinstance(database, str) or database.startswith(":"):
        return None
    # as DuckDbConnectionPool.borrow_conn: only these settings go to connect()
    global_config = credentials.global_config or {}
    connect_config = {k: v for k, v in global_config.items() if k == "custom_user_agent"}
    return database, connect_config, global_config.get("memory_limit")


@contextmanager
def duckdb_open_while_loading(pipeline: Pipeline) -> Iterator[None]:
    """Within the block, every `pipeline.load` (also the one `pipeline.run` makes) holds its
    DuckDB file open from its first job to its last; a no-op for any other destination."""
    location = _local_duckdb(pipeline)
    if location is None:
        yield
        return
    database, connect_config, memory_limit = location
    load: Callable[..., Any] = pipeline.load

    def load_with_database_open(*args: Any, **kwargs: Any) -> Any:
        import duckdb

        # what extraction freed after the source's own release (dlt's writers, the last
        # items): ~25 MB at 200,000 media that DuckDB can use instead
        release_freed_memory()
        if dlt.config.get("load.workers") is None:
            kwargs.setdefault("workers", LOAD_WORKERS)
        # the same connect arguments as dlt's pool: DuckDB refuses a second configuration
        held = duckdb.connect(database=database, read_only=False, config=connect_config)
        try:
            return load(*args, **kwargs)
        finally:
            if memory_limit == LOAD_MEMORY_LIMIT:  # ours, not one the user chose
                _lower_memory_limit(held, CHECKPOINT_MEMORY_LIMIT)
            held.close()  # the last connection: DuckDB checkpoints once, here

    pipeline.load = load_with_database_open  # type: ignore[method-assign]
    try:
        yield
    finally:
        del pipeline.load


def _lower_memory_limit(connection: Any, limit: str) -> None:
    """Best effort: a checkpoint under the load's cap is still correct, only larger."""
    try:
        connection.execute(f"SET memory_limit = '{limit}'")
    except Exception as exc:  # e.g. DuckDB could not evict enough at once
        logger.info("kept DuckDB's memory limit for the closing checkpoint: %s", exc)
