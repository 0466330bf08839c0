"""DuckDB and Postgres destinations whose load jobs take effect once, however often dlt runs them.

Why: dlt resumes a load package at-least-once. A job whose rows the database has committed but
whose completion dlt has not recorded yet (a kill -9, an OOM kill or a power cut in between)
runs again on the next run and inserts its rows a second time: into the staging tables, from
there into the final child tables (the merge deduplicates root rows by key, not child rows),
or straight into an append table. Measured on plain dlt 1.31 with the kill in that window:
child rows twice in 3 of 5 trials.

How: each job here runs dlt's own job for its file inside one transaction that also records
the job (`load_id`, `job_id`) in `_pixlee_load_jobs` in the dataset. A job that finds itself
recorded has taken effect already and does nothing: the rows and the record commit together or
not at all. `complete_load` clears the package's records in the same transaction in which it
writes the package's `_dlt_loads` row (once: it replaces a row an interrupted completion left),
so the table is empty between loads.

This is dlt's extension point for it: a destination factory whose job client creates the jobs
(`create_load_job`), registered under its own name; no dlt class is changed. Use it as
`destination=pixlee.pipeline.exactly_once.duckdb("pixlee.duckdb")` (or the reference
`"pixlee.pipeline.exactly_once.duckdb"`), or let `make_pipeline` choose it. Config sections
are the usual ones (`[destination.duckdb]`, `[destination.postgres]`).

A merge into an empty table loads straight into it: when a package's merge table (with its
child tables) has no rows yet at the destination, deduplicated by its source (dlt's
`deduplicated` delete-insert, no hard-delete or dedup-sort column), dlt's merge would only copy
the staging tables into the final ones. Its jobs then copy their files into the final tables
(exactly once, as above) and no merge job follows: a first load of 200,000 media took 8-9 s
instead of 16-19 s. The choice is made once per package, before its first job, and kept in the
package's state, so a package resumed after a crash keeps it (one begun before the choice
existed keeps dlt's staging). Unlike a staged merge, such a package is not all or nothing per
table: one dropped after some jobs (`drop-pending-packages`) leaves their rows, of a load never
completed, until the next run merges those keys again (the source moves no cursor past
unloaded data). It assumes the table's keys have one writer: another pipeline loading the same
keys into the same tables between a crash and the package's resume would leave them twice
(the project's album shards write disjoint `media`; `products` always merges).

Exactly once: DuckDB's parquet, jsonl and insert_values jobs; Postgres' insert_values and csv
jobs. Other jobs run as dlt runs them: dlt's SQL jobs (merges, replaces), which read the
staging tables and delete before they insert in one transaction, so a rerun gives the same
tables; and Postgres' ADBC parquet job, which loads on a connection of its own (a warning says
so once).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, cast

from dlt.common.destination.capabilities import DestinationCapabilitiesContext
from dlt.common.destination.client import FollowupJobRequest, LoadJob, RunnableLoadJob
from dlt.common.destination.typing import PreparedTableSchema
from dlt.common.schema.typing import MERGE_DISPOSITION_HINTS, TTableSchema
from dlt.common.schema.utils import (
    get_dedup_sort_tuple,
    get_first_column_name_with_prop,
    get_root_table,
)
from dlt.common.storages.exceptions import CurrentLoadPackageStateNotAvailable
from dlt.common.storages.load_package import (
    commit_load_package_state,
    destination_state,
    load_package_state,
)
from dlt.destinations.exceptions import DatabaseException, DatabaseUndefinedRelation
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.destinations.impl.duckdb.duck import DuckDbClient, DuckDbCopyJob
from dlt.destinations.impl.duckdb.factory import duckdb as dlt_duckdb
from dlt.destinations.impl.postgres.factory import postgres as dlt_postgres
from dlt.destinations.insert_job_client import InsertValuesLoadJob
from dlt.destinations.job_client_impl import SqlJobClientWithStagingDataset
from dlt.destinations.sql_client import SqlClientBase

logger = logging.getLogger(__name__)

JOBS_TABLE = "_pixlee_load_jobs"
# DuckDB settings for the database the exactly-once factory opens, unless configured
# (`[destination.duckdb.credentials] global_config = {memory_limit = "2GB"}` wins). DuckDB's
# default (80% of RAM) took the load step to ~1.2 GB at 100,000 media. Measured at 200,000
# media (plain `pipeline.run`, 2 cores): peak 790 MB under 256 MB with dlt's 20 parallel jobs,
# ~535 MB under 128 MB with 2 at a time, for the same load time (11.6-15.6 s, both); 96 MB
# ran out of memory in parallel staging copies. One thread fewer than the cores leaves one to
# the Python process: on 2 cores the load took ~25-45% less CPU with 1 thread than with 2.
DUCKDB_DEFAULTS: dict[str, Any] = {
    "memory_limit": "128MB",
    "threads": max(1, (os.cpu_count() or 2) - 1),
}
# Load jobs at a time under that cap, unless the factory is given `max_parallel_load_jobs`
# (dlt's own default, `load.workers` = 20, ran them all at once: +60-80 MB each, no faster).
PARALLEL_LOAD_JOBS = 2
# the package state's record of which merge tables load straight into their final tables
DIRECT_MERGES = "pixlee_direct_merges"
_CREATE_LOCK = threading.Lock()
_DECIDE_LOCK = threading.Lock()


class _JoinedTransaction:
    """A job's SQL client whose `begin_transaction` joins the transaction already open.

    dlt's insert and CSV jobs open a transaction of their own; inside the exactly-once
    transaction that one must not commit early (Postgres) or fail as nested (DuckDB).
    Everything else goes to the real client.
    """

    def __init__(self, client: SqlClientBase[Any]) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    @contextmanager
    def begin_transaction(self) -> Iterator[SqlClientBase[Any]]:
        yield self._client


class _ExactlyOnceJob(RunnableLoadJob):
    """Runs the dlt job class that follows it in the MRO once per `(load_id, job_id)`."""

    def run(self) -> None:
        client = cast(ExactlyOnceClient, self._job_client)
        sql = client.sql_client
        client.ensure_jobs_table()
        with sql.begin_transaction():
            if client.job_recorded(self._load_id, self.job_id()):
                logger.info("job %s of load %s was loaded before", self.job_id(), self._load_id)
                return
            client.sql_client = cast(Any, _JoinedTransaction(sql))
            try:
                super().run()  # type: ignore[safe-super]  # the dlt job class after this one
            finally:
                client.sql_client = sql
            client.record_job(self._load_id, self.job_id())


class DuckDbCopyOnce(_ExactlyOnceJob, DuckDbCopyJob):
    """DuckDB's parquet / jsonl copy, exactly once."""


class InsertValuesOnce(_ExactlyOnceJob, InsertValuesLoadJob):
    """dlt's INSERT ... VALUES job (DuckDB, Postgres), exactly once."""


class ExactlyOnceClient(SqlJobClientWithStagingDataset):
    """Creates exactly-once jobs for the job classes in `ONCE` and keeps their records.

    A mixin: it precedes the destination's own client class (see `DuckDbExactlyOnceClient`).
    """

    ONCE: ClassVar[dict[type[LoadJob], type[LoadJob]]] = {}
    _warned: ClassVar[set[type[LoadJob]]] = set()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the final dataset (a job may run while the staging one is active)
        self._jobs_dataset = self.sql_client.dataset_name

    @property
    def jobs_table(self) -> str:
        return self._final_table(JOBS_TABLE)

    def _final_table(self, table_name: str) -> str:
        """`table_name` qualified with the final dataset, whichever dataset is active."""
        path = self.sql_client.make_qualified_table_name_path(
            table_name, dataset_name=self._jobs_dataset
        )
        return ".".join(path)

    def create_load_job(
        self, table: PreparedTableSchema, file_path: str, load_id: str, restore: bool = False
    ) -> LoadJob:
        job = super().create_load_job(table, file_path, load_id, restore)
        once = self.ONCE.get(type(job)) if job is not None else None
        if once is not None:
            return once(file_path)
        if isinstance(job, RunnableLoadJob) and not _idempotent_by_itself(job):
            self._warn_at_least_once(type(job))
        return job

    def should_load_data_to_staging_dataset(self, table_name: str) -> bool:
        staged = super().should_load_data_to_staging_dataset(table_name)
        return staged and not self.merges_into_empty(table_name)

    def _create_merge_followup_jobs(
        self, table_chain: Sequence[PreparedTableSchema]
    ) -> list[FollowupJobRequest]:
        if self.merges_into_empty(str(table_chain[0]["name"])):
            return []  # its jobs loaded the final tables: there is nothing to merge
        return super()._create_merge_followup_jobs(table_chain)

    def merges_into_empty(self, table_name: str) -> bool:
        """Whether the merge table chain of `table_name` loads straight into its final tables
        in this package (see the module docstring): decided at its first question, kept in
        the package state. Outside a load package: no (dlt's staging)."""
        root = str(get_root_table(self.schema.tables, table_name)["name"])
        try:
            load_id = load_package_state()["load_id"]
        except CurrentLoadPackageStateNotAvailable:
            return False
        with _DECIDE_LOCK:
            decided = destination_state().setdefault(DIRECT_MERGES, {})
            if root not in decided:
                decided[root] = self._may_load_direct(root, load_id)
                commit_load_package_state()
            return bool(decided[root])

    def _may_load_direct(self, root: str, load_id: str) -> bool:
        if not _merge_is_a_copy_into_empty(cast(TTableSchema, self.prepare_load_table(root))):
            return False
        with self._open():
            if self._load_has_jobs(load_id):
                return False  # begun before this choice was made: it finishes as it began
            return self._final_table_empty(root)

    @contextmanager
    def _open(self) -> Iterator[None]:
        """The SQL client's connection, opened for the question if dlt has not (a package
        resumed past its initialization asks first when it creates a job)."""
        if getattr(self.sql_client, "native_connection", None) is not None:
            yield
            return
        with self.sql_client:
            yield

    def _load_has_jobs(self, load_id: str) -> bool:
        self.ensure_jobs_table()
        rows = self.sql_client.execute_sql(
            f"SELECT 1 FROM {self.jobs_table} WHERE load_id = %s LIMIT 1", load_id
        )
        return bool(rows)

    def _final_table_empty(self, table_name: str) -> bool:
        try:
            return not self.sql_client.execute_sql(
                f"SELECT 1 FROM {self._final_table(table_name)} LIMIT 1"
            )
        except DatabaseUndefinedRelation:
            return True

    def initialize_storage(self, truncate_tables: Any = None) -> None:
        super().initialize_storage(truncate_tables)
        if not self.sql_client.is_staging_dataset_active:
            self.ensure_jobs_table()

    def ensure_jobs_table(self) -> None:
        """Create the records' table if missing, outside any transaction and one job at a time:
        parallel `CREATE TABLE IF NOT EXISTS` race in Postgres' catalog. Needed beyond
        `initialize_storage` for a package begun before the table existed."""
        with _CREATE_LOCK:
            self._create_jobs_table()

    def job_recorded(self, load_id: str, job_id: str) -> bool:
        """Whether the job committed its rows before (inside the job's transaction)."""
        rows = self.sql_client.execute_sql(
            f"SELECT 1 FROM {self.jobs_table} WHERE load_id = %s AND job_id = %s",
            load_id,
            job_id,
        )
        return bool(rows)

    def record_job(self, load_id: str, job_id: str) -> None:
        self.sql_client.execute_sql(
            f"INSERT INTO {self.jobs_table} (load_id, job_id) VALUES (%s, %s)", load_id, job_id
        )

    def complete_load(self, load_id: str) -> None:
        """dlt's `_dlt_loads` row, once, and the package's job records gone, in one transaction."""
        loads = self.sql_client.make_qualified_table_name(self.schema.loads_table_name)
        self.ensure_jobs_table()
        with self.sql_client.begin_transaction():
            self.sql_client.execute_sql(f"DELETE FROM {loads} WHERE load_id = %s", load_id)
            super().complete_load(load_id)
            self.sql_client.execute_sql(
                f"DELETE FROM {self.jobs_table} WHERE load_id = %s", load_id
            )

    def _create_jobs_table(self) -> None:
        try:
            self.sql_client.execute_sql(
                f"CREATE TABLE IF NOT EXISTS {self.jobs_table} "
                "(load_id TEXT NOT NULL, job_id TEXT NOT NULL)"
            )
        except DatabaseException:
            # another process created it at the same moment (sharded pipelines sharing a
            # Postgres dataset): fine if it is there now
            self.sql_client.execute_sql(f"SELECT 1 FROM {self.jobs_table} WHERE 1 = 0")

    def _warn_at_least_once(self, job_class: type[LoadJob]) -> None:
        if job_class not in self._warned:
            self._warned.add(job_class)
            logger.warning(
                "%s jobs are loaded at-least-once: after a crash inside such a job a rerun may "
                "insert its rows twice (a full reconcile removes them)",
                job_class.__name__,
            )


def _merge_is_a_copy_into_empty(table: TTableSchema) -> bool:
    """Whether dlt's merge of `table` into empty final tables inserts every staged row as it
    is: a delete-insert of rows deduplicated by the source, with no merge option beyond those
    two (a `source_filter` drops rows) and no column that deletes or sorts rows."""
    options = {
        hint
        for name, hint in MERGE_DISPOSITION_HINTS.items()
        if name not in ("strategy", "deduplicated") and table.get(hint) is not None
    }
    return (
        table.get("write_disposition") == "merge"
        and table.get("x-merge-strategy", "delete-insert") == "delete-insert"
        and table.get("x-stage-data-deduplicated") is True
        and not options
        and get_first_column_name_with_prop(table, "hard_delete") is None
        and get_dedup_sort_tuple(table) is None
    )


def _idempotent_by_itself(job: LoadJob) -> bool:
    """dlt's SQL jobs (merge, replace followups): they rebuild from staging in one transaction."""
    from dlt.destinations.job_client_impl import SqlLoadJob

    return isinstance(job, SqlLoadJob)


class DuckDbExactlyOnceClient(ExactlyOnceClient, DuckDbClient):
    ONCE = {DuckDbCopyJob: DuckDbCopyOnce, InsertValuesLoadJob: InsertValuesOnce}


class duckdb(dlt_duckdb):  # noqa: N801 (dlt names factories by destination)
    """dlt's DuckDB destination with exactly-once load jobs (see the module docstring),
    `DUCKDB_DEFAULTS` for the settings the user has not chosen, and `PARALLEL_LOAD_JOBS` jobs
    at a time unless given `max_parallel_load_jobs=`."""

    @property
    def client_class(self) -> type[DuckDbClient]:
        return DuckDbExactlyOnceClient

    def _raw_capabilities(self) -> DestinationCapabilitiesContext:
        caps = super()._raw_capabilities()
        caps.max_parallel_load_jobs = caps.max_parallel_load_jobs or PARALLEL_LOAD_JOBS
        return caps

    def configuration(self, initial_config: Any, accept_partial: bool = False) -> Any:
        config = super().configuration(initial_config, accept_partial)
        credentials = getattr(config, "credentials", None)
        if isinstance(credentials, DuckDbCredentials):
            credentials.global_config = {**DUCKDB_DEFAULTS, **(credentials.global_config or {})}
        return config


class postgres(dlt_postgres):  # noqa: N801
    """dlt's Postgres destination with exactly-once load jobs (see the module docstring).

    Its client lives in `exactly_once_postgres`, imported when dlt asks for it: dlt's Postgres
    client needs psycopg2, which only the `postgres` extra installs.
    """

    @property
    def client_class(self) -> type[Any]:
        from pixlee.pipeline.exactly_once_postgres import PostgresExactlyOnceClient

        return PostgresExactlyOnceClient


_UPGRADES: dict[type[Any], type[Any]] = {dlt_duckdb: duckdb, dlt_postgres: postgres}


def exactly_once_variant(destination: Any) -> Any:
    """`destination` with exactly-once jobs where there is such a variant of it: the names
    "duckdb" and "postgres", or dlt's own factories of those (with their arguments). Anything
    else is returned as it is."""
    if isinstance(destination, str) and destination in ("duckdb", "postgres"):
        return {"duckdb": duckdb, "postgres": postgres}[destination]()
    upgrade = _UPGRADES.get(type(destination))
    if upgrade is None:
        return destination
    return upgrade(**destination.config_params, **destination.caps_params)
