"""Loads into one Postgres dataset take turns; their extractions still run side by side.

dlt merges a table by deleting the rows with the package's keys and inserting the new ones, in
one transaction. Album shards write disjoint `media` rows, but the same `products`: a product
tagged in albums of two shards. Two shards merging `products` at once on Postgres (READ
COMMITTED, no unique constraint) each delete what was committed before either began, and each
insert: the product is there twice (seen in `tests/integration/test_dagster.py`). Two shards
creating one table at once fail the same way (dlt creates data tables without `IF NOT EXISTS`).

So on Postgres every load step of these pipelines (`load_in_turn`, an `around_load` of
`pixlee.pipeline.run_source`) holds a session advisory lock named after the
dataset: loads into one dataset run one after another, across processes and hosts, while
extraction (the long part, paced by the API) still runs in parallel. The lock belongs to its
connection: a process killed mid-load never leaves it held.

Other destinations: DuckDB has one writer per file (the Dagster code location runs its steps in
one process there); warehouses such as BigQuery and Snowflake serialize concurrent changes to a
table or abort one of them, and an aborted load is loaded again in place (`load_retry`). Not
verified here: there is no such warehouse in the tests.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.pipeline.pipeline import Pipeline

logger = logging.getLogger(__name__)


def lock_key(dataset_name: str) -> int:
    """The advisory lock's key: a signed 64-bit number named after the dataset."""
    digest = hashlib.sha256(f"pixlee-load:{dataset_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def is_postgres(destination: Any) -> bool:
    """dlt's Postgres factory or a subclass of it (`make_pipeline` loads Postgres through
    `pixlee.pipeline.exactly_once.postgres`, whose destination type is its own)."""
    return isinstance(destination, dlt.destinations.postgres)


def load_in_turn(pipeline: Pipeline, load_step: Callable[[], LoadInfo]) -> LoadInfo:
    """Run `load_step` (a load of `pipeline`) once the dataset's lock is taken, waiting for
    another load to finish; on other destinations, just run it. An `around_load` of
    `pixlee.pipeline.run_source`."""
    if not is_postgres(pipeline.destination):
        return load_step()
    key = lock_key(pipeline.dataset_name)
    with pipeline.sql_client() as client:
        taken = client.execute_sql("SELECT pg_try_advisory_lock(%s)", key) or [[False]]
        if not taken[0][0]:
            logger.info("waiting for another load into %s to finish", pipeline.dataset_name)
            client.execute_sql("SELECT pg_advisory_lock(%s)", key)
        try:
            return load_step()
        finally:
            client.execute_sql("SELECT pg_advisory_unlock(%s)", key)
