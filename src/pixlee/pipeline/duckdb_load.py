"""Keep a local DuckDB database open for the whole of dlt's load step.

Why: dlt's DuckDB connection pool closes the database whenever its last borrowed connection is
returned, and DuckDB checkpoints on every close and reads its catalog back on every open. A
load of 100,000 media runs ~90 jobs; between job bursts the database closed and reopened up to
90 times, and the checkpoints also wrote the staging copies that the merge empties a moment
later. DuckDB's Python API shares one database instance between the connections of a process
to the same file, so one extra connection held around `pipeline.load()` keeps that instance
(and its buffers) alive from the first job to the last.

Only around the load step (`run_source` calls it there): extraction can take hours at the API's
pace, and another process (a notebook, `dlt pipeline show`) may open the file meanwhile. With
nothing checkpointed between jobs, parallel staging inserts share one instance and its memory
cap, so the load runs `LOAD_WORKERS` jobs at a time unless `load.workers` is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.destinations.impl.duckdb.factory import duckdb as dlt_duckdb
from dlt.pipeline.pipeline import Pipeline

logger = logging.getLogger(__name__)

# jobs in parallel while the database stays open: on 2 cores 3-4 loaded fastest under a 256 MB
# cap (1: +15%, 20: +15% and more memory); the exactly-once factory allows 2 under its 128 MB
# (`exactly_once.PARALLEL_LOAD_JOBS`), as fast at 200,000 media
LOAD_WORKERS = 3


def local_duckdb_file(pipeline: Pipeline) -> tuple[str, dict[str, Any]] | None:
    """The database file of `pipeline`'s DuckDB destination and the config dlt's pool connects
    with, when dlt opens the file itself (not for a connection the user passed)."""
    if not isinstance(pipeline.destination, dlt_duckdb):
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
    return database, connect_config


@contextmanager
def duckdb_held_open(pipeline: Pipeline) -> Iterator[bool]:
    """Within the block, `pipeline`'s DuckDB file stays open (one checkpoint, at the end).

    Yields whether it holds a database (False for any other destination, or a DuckDB
    connection the user passed: then nothing changes).
    """
    location = local_duckdb_file(pipeline)
    if location is None:
        yield False
        return
    import duckdb

    database, connect_config = location
    # the same connect arguments as dlt's pool: DuckDB refuses a second configuration
    held = duckdb.connect(database=database, read_only=False, config=connect_config)
    try:
        yield True
    finally:
        held.close()  # the last connection: DuckDB checkpoints once, here
