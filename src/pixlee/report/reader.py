"""Run the report's queries on any dlt destination through the pipeline's dataset.

Queries are written once, in DuckDB's dialect, with unqualified table names; dlt's dataset
(`pipeline.dataset().query(sql, query_dialect=...)`) qualifies them with the dataset and
transpiles them (sqlglot) into the destination's dialect: Postgres, BigQuery, Snowflake… The
SQL the report shows is the SQL that ran, so an analyst can paste it into their warehouse.

A query that cannot run (a table the source never loaded, a column that never had a value)
becomes a result with an `error` line: its section says "no data" and the rest goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlglot
from dlt.common.exceptions import DltException
from dlt.pipeline.pipeline import Pipeline
from sqlglot import exp

from pixlee.report.errors import ReportError
from pixlee.report.model import Query, QueryResult

QUERY_DIALECT = "duckdb"


def one_line(exc: BaseException) -> str:
    """An error as one short line (database errors carry the SQL and a caret on more)."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


class DatasetReader:
    """The loaded dataset of one pipeline, read through dlt (never a driver of our own)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        try:
            self.dataset: Any = pipeline.dataset()
            self.tables = set(self.dataset.tables)
            self.dialect = str(self.dataset.destination_dialect)
            self.location = str(self.dataset.destination_client.config)
        except (DltException, OSError) as exc:
            raise ReportError(
                f"cannot read the dataset of pipeline {pipeline.pipeline_name!r}: {one_line(exc)}"
            ) from exc
        self._refuse_missing_duckdb_file()

    def _refuse_missing_duckdb_file(self) -> None:
        """Opening a DuckDB path that does not exist would create an empty database there."""
        credentials = getattr(self.dataset.destination_client.config, "credentials", None)
        database = getattr(credentials, "database", None)
        if type(credentials).__name__ != "DuckDbCredentials" or not isinstance(database, str):
            return
        if database != ":memory:" and not Path(database).exists():
            raise ReportError(f"no DuckDB database at {database}: {self._where_hint()}")

    def _where_hint(self) -> str:
        name = self.pipeline.pipeline_name
        # the destination's config section: `duckdb`, or a named one such as `pixlee_demo`
        kind = self.pipeline.destination.destination_name
        return (
            f"dlt does not keep credentials with pipeline {name!r}, so say where it loaded: "
            f"[destination.{kind}] credentials in .dlt/secrets.toml, or the environment "
            f"variable DESTINATION__{kind.upper()}__CREDENTIALS"
        )

    def ensure_dataset(self) -> None:
        """One clear error when the destination has no such dataset (wrong credentials)."""
        probe = self.run(Query("probe", "dlt's load table", "SELECT COUNT(*) FROM _dlt_loads", ()))
        if probe.error:
            raise ReportError(
                f"dataset {self.pipeline.dataset_name!r} is not at {self.location} "
                f"({probe.error}): {self._where_hint()}"
            )

    @contextmanager
    def connected(self) -> Iterator[DatasetReader]:
        """One connection for all the report's queries (opening one per query is slow)."""
        try:
            with self.dataset:
                yield self
        except ReportError:
            raise
        except (DltException, OSError) as exc:
            raise ReportError(
                f"cannot connect to the destination of pipeline "
                f"{self.pipeline.pipeline_name!r}: {one_line(exc)}"
            ) from exc

    def has(self, *tables: str) -> bool:
        return all(table in self.tables for table in tables)

    def run(self, query: Query) -> QueryResult:
        """Rows of `query`, or a result whose `error` says which table or column is missing."""
        result = QueryResult(query)
        missing = [table for table in query.tables if table not in self.tables]
        if missing:
            result.error = (
                f"table {', '.join(missing)} is not in dataset {self.pipeline.dataset_name}"
            )
            return result
        result.executed_sql = self.destination_sql(query.sql)
        try:
            client = self.dataset.sql_client
            with client.execute_query(result.executed_sql) as cursor:
                result.columns = [column[0] for column in cursor.description]
                result.rows = [tuple(row) for row in cursor.fetchall()]
        except DltException as exc:
            result.error = one_line(exc)
        return result

    def destination_sql(self, sql: str) -> str:
        """`sql` with each table qualified as the destination names it (dlt's
        `make_qualified_table_name`: dataset, project, quoting) in the destination's dialect
        (sqlglot), laid out on lines for the reader.

        dlt's `dataset.query(sql, query_dialect=...)` does the same and also infers the output
        columns of the query from the schema's lineage: ~0.3 s a query on this schema, half of
        the report's time, for column types the report does not use.
        """
        tree = sqlglot.parse_one(sql, read=QUERY_DIALECT)
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        client = self.dataset.sql_client
        for table in tree.find_all(exp.Table):
            if table.args.get("db") or table.name in ctes:
                continue
            qualified = sqlglot.parse_one(
                client.make_qualified_table_name(table.name), read=self.dialect, into=exp.Table
            )
            for part in ("this", "db", "catalog"):
                table.set(part, qualified.args.get(part))
        return str(tree.sql(dialect=self.dialect, pretty=True))
