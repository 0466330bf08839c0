"""The exactly-once Postgres client (see `pixlee.pipeline.exactly_once`).

A module of its own because dlt's Postgres client imports psycopg2 (the `postgres` extra):
`pixlee.pipeline` must import without it.
"""

from __future__ import annotations

from dlt.destinations.impl.postgres.postgres import PostgresClient, PostgresCsvCopyJob
from dlt.destinations.insert_job_client import InsertValuesLoadJob

from pixlee.pipeline.exactly_once import ExactlyOnceClient, InsertValuesOnce, _ExactlyOnceJob


class PostgresCsvCopyOnce(_ExactlyOnceJob, PostgresCsvCopyJob):
    """Postgres' COPY FROM STDIN of a CSV file, exactly once."""


class PostgresExactlyOnceClient(ExactlyOnceClient, PostgresClient):
    ONCE = {InsertValuesLoadJob: InsertValuesOnce, PostgresCsvCopyJob: PostgresCsvCopyOnce}
