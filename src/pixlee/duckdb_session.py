"""One DuckDB connection for a whole run, instead of one database open per load job.

Why: dlt's DuckDB destination closes the database whenever its last borrowed connection is
returned, and DuckDB checkpoints (compresses and writes everything since the last checkpoint)
on every close. During a load, jobs borrow and return connections one after another, so the
database was closed and reopened about a dozen times per 100,000 media, each close
checkpointing the staging rows that the merge deletes moments later: ~4 s of a ~9.5 s load
(measured with `bench/throughput.py`). Holding one connection for the run lets DuckDB
checkpoint on its own schedule and once at the end.

dlt keeps a connection open when it is handed one (it never closes a caller's connection), so
the run gets credentials wrapping a connection this module opens with the configured settings,
and closes after the run. The pipeline's own destination settings are restored afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dlt
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.pipeline import Pipeline

logger = logging.getLogger(__name__)

_UNSET = object()
_IN_PROCESS = (":memory:", ":pipeline:", ":external:")


def _resolved_credentials(pipeline: Pipeline) -> DuckDbCredentials | None:
    """The run's DuckDB credentials, when the destination is a DuckDB file dlt would open."""
    if not isinstance(pipeline.destination, dlt.destinations.duckdb):
        return None
    credentials = pipeline.destination_client().config.credentials
    if not isinstance(credentials, DuckDbCredentials) or credentials.external_conn():
        return None  # the caller passed their own connection: it is theirs to manage
    database = credentials.database
    if not isinstance(database, str) or database in _IN_PROCESS:
        return None
    return credentials


@contextmanager
def one_duckdb_connection(pipeline: Pipeline) -> Iterator[DuckDbCredentials | None]:
    """Credentials holding one open connection for `pipeline`'s DuckDB file (else None).

    Use them as the run's `credentials`. The connection closes (and checkpoints) on exit.
    """
    configured = _resolved_credentials(pipeline)
    if configured is None:
        yield None
        return
    import duckdb

    connection = duckdb.connect(configured.database, read_only=configured.read_only)
    params: dict[str, Any] = pipeline.destination.config_params
    previous = params.get("credentials", _UNSET)
    try:
        yield DuckDbCredentials(
            connection,
            read_only=configured.read_only,
            extensions=configured.extensions,
            global_config=configured.global_config,
            pragmas=configured.pragmas,
            statements=configured.statements,
            local_config=configured.local_config,
            session_timezone=configured.session_timezone,
        )
    finally:
        # dlt keeps run credentials on the destination; later steps open the file themselves
        if previous is _UNSET:
            params.pop("credentials", None)
        else:
            params["credentials"] = previous
        connection.close()
