"""The pipeline that is running the source now, and what it knows about its destination.

The source reads the destination in two places: whether it loads parquet (the Arrow fast path)
and which media it already holds (new/updated counts, removal marking). Both ask dlt for the
running pipeline.
"""

from __future__ import annotations

from typing import Any

import dlt
from dlt.pipeline.pipeline import Pipeline


def running_pipeline_with_destination() -> Pipeline | None:
    """The pipeline now running this code (inside a source), if it has a destination."""
    try:
        pipeline = dlt.current.pipeline()
    except Exception:
        return None
    if pipeline is None or pipeline.destination is None:
        return None
    return pipeline


def current_load_id() -> str | None:
    """The load package being extracted now (None outside a pipeline run)."""
    try:
        return str(dlt.current.load_package_state()["load_id"])
    except Exception:
        return None


def dropped_tables() -> set[str]:
    """Tables this run's package drops before it loads (`refresh="drop_sources"` and the like):
    what they hold now is not what the run will leave, so nothing is read from them."""
    try:
        package: Any = dlt.current.load_package_state()
    except Exception:
        return set()
    state = package.get("state") or {}
    return {table["name"] for table in state.get("dropped_tables") or ()}


def local_duckdb_file(pipeline: Pipeline) -> str | None:
    """The database file of a DuckDB destination that dlt opens itself (not a connection the
    user passed in, not an in-memory database). dlt's DuckDB factory or a subclass of it
    (`pixlee.pipeline.exactly_once.duckdb`)."""
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
    from dlt.destinations.impl.duckdb.factory import duckdb as dlt_duckdb

    destination = pipeline.destination
    if not isinstance(destination, dlt_duckdb):
        return None

    try:
        credentials = pipeline.destination_client().config.credentials
    except Exception:  # unresolvable config: dlt's own steps report it
        return None
    if not isinstance(credentials, DuckDbCredentials) or credentials.external_conn() is not None:
        return None
    database = credentials.database
    if not isinstance(database, str) or database.startswith(":"):
        return None
    return database
