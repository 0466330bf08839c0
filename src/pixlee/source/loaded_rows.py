"""What the destination already holds, for marking media that left an album.

Pixlee says nothing about content that was unapproved or deleted: it just stops listing it. A
complete scan tells which loaded rows were not seen; those rows are read back from the
destination (with their nested child rows) and merged again with `removed_at` set, so the row
stays whole and `WHERE removed_at IS NULL` is the current content. Reading back is needed
because dlt's merge replaces a row together with its child rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from dlt.common.schema import Schema
from dlt.pipeline.pipeline import Pipeline

logger = logging.getLogger(__name__)

PATH_SEPARATOR = "__"
_DLT_COLUMNS = ("_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_root_id")
_CHUNK = 500


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _in_list(values: Iterable[Any]) -> str:
    return ", ".join(_sql_literal(v) for v in values)


def _unflatten(row: dict[str, Any], json_columns: set[str]) -> dict[str, Any]:
    """`a__b` columns back into `{"a": {"b": …}}`, JSON columns parsed, dlt columns dropped."""
    result: dict[str, Any] = {}
    for name, value in row.items():
        if name in _DLT_COLUMNS:
            continue
        if name in json_columns and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        parts = name.split(PATH_SEPARATOR)
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return result


class DestinationView:
    """Read access to the rows a pipeline already loaded for the `pixlee` schema."""

    def __init__(self, pipeline: Pipeline, schema_name: str) -> None:
        self._pipeline = pipeline
        self._schema_name = schema_name
        self._dataset_cache: Any = None

    def _schema(self) -> Schema | None:
        schemas = self._pipeline.schemas
        return schemas.get(self._schema_name)

    def _dataset(self) -> Any:
        if self._dataset_cache is None:
            self._dataset_cache = self._pipeline.dataset(schema=self._schema_name)
        return self._dataset_cache

    def _query(self, sql: str) -> list[dict[str, Any]]:
        client = self._dataset().sql_client
        with client, client.execute_query(sql) as cursor:
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _table(self, name: str) -> str:
        return str(self._dataset().sql_client.make_qualified_table_name(name))

    def has_table(self, table: str) -> bool:
        schema = self._schema()
        return bool(schema and table in schema.tables and "columns" in schema.tables[table])

    def is_empty(self, table: str) -> bool | None:
        """Whether `table` holds no rows at the destination (True when it or the dataset does
        not exist); None when it cannot tell, e.g. the destination is not SQL or unreachable."""
        try:
            # a pipeline's very first run has not stored the schema yet: the dataset is the same
            if self._schema_name in self._pipeline.schemas:
                client = self._pipeline.sql_client(self._schema_name)
            else:
                client = self._pipeline.sql_client()
            with client:
                name = client.make_qualified_table_name(table)
                with client.execute_query(f"SELECT 1 FROM {name} LIMIT 1") as cursor:
                    return cursor.fetchone() is None
        except Exception as exc:
            if _is_undefined_relation(exc):
                return True
            logger.info(
                "could not tell whether %s is empty at the destination (%s)",
                table,
                type(exc).__name__,
            )
            return None

    def present_keys(self, table: str, key: str, where: dict[str, Any]) -> set[Any] | None:
        """Keys of rows not marked removed that match `where`; None when it cannot tell."""
        schema = self._schema()
        if schema is None or table not in schema.tables:
            return set()
        conditions = [f"{column} = {_sql_literal(value)}" for column, value in where.items()]
        if "removed_at" in schema.get_table_columns(table):
            conditions.append("removed_at IS NULL")
        sql = f"SELECT {key} FROM {self._table(table)} WHERE " + " AND ".join(conditions)
        try:
            return {row[key] for row in self._query(sql)}
        except Exception as exc:  # the table may not exist yet at the destination
            if _is_missing_relation(exc):
                return set()
            logger.warning(
                "could not read %s from the destination (%s); removals are not marked this run",
                table,
                type(exc).__name__,
            )
            return None

    def rows_with_children(self, table: str, key: str, keys: Sequence[Any]) -> list[dict[str, Any]]:
        """Whole rows of `table` for `keys`, with their nested lists rebuilt from child tables."""
        schema = self._schema()
        if schema is None or not keys:
            return []
        rows: list[dict[str, Any]] = []
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            sql = f"SELECT * FROM {self._table(table)} WHERE {key} IN ({_in_list(chunk)})"
            roots = self._query(sql)
            rows.extend(self._nest(schema, table, roots))
        return rows

    def _nest(
        self, schema: Schema, table: str, parents: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        json_columns = {
            name
            for name, col in schema.get_table_columns(table).items()
            if col.get("data_type") == "json"
        }
        rebuilt = [_unflatten(row, json_columns) for row in parents]
        parent_ids = [row["_dlt_id"] for row in parents]
        for child in _child_tables(schema, table):
            field = child[len(table) + len(PATH_SEPARATOR) :]
            by_parent = self._children_of(schema, child, parent_ids)
            for row, parent_id in zip(rebuilt, parent_ids, strict=True):
                if parent_id in by_parent:
                    _set_path(row, field, by_parent[parent_id])
        return rebuilt

    def _children_of(
        self, schema: Schema, child: str, parent_ids: list[Any]
    ) -> dict[Any, list[Any]]:
        if not parent_ids:
            return {}
        sql = (
            f"SELECT * FROM {self._table(child)} WHERE _dlt_parent_id IN ({_in_list(parent_ids)}) "
            "ORDER BY _dlt_parent_id, _dlt_list_idx"
        )
        try:
            child_rows = self._query(sql)
        except Exception as exc:
            if _is_missing_relation(exc):
                return {}
            raise
        columns = schema.get_table_columns(child)
        is_value_list = set(columns) - set(_DLT_COLUMNS) == {"value"}
        nested = self._nest(schema, child, child_rows) if not is_value_list else []
        grouped: dict[Any, list[Any]] = defaultdict(list)
        for index, child_row in enumerate(child_rows):
            item = child_row["value"] if is_value_list else nested[index]
            grouped[child_row["_dlt_parent_id"]].append(item)
        return grouped


def _child_tables(schema: Schema, table: str) -> list[str]:
    return sorted(
        name for name, t in schema.tables.items() if t.get("parent") == table and "columns" in t
    )


def _set_path(row: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(PATH_SEPARATOR)
    node = row
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _is_undefined_relation(exc: BaseException) -> bool:
    """Strictly dlt's own "no such table or dataset" error, not a message that looks like it."""
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, DatabaseUndefinedRelation):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_missing_relation(exc: BaseException) -> bool:
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, DatabaseUndefinedRelation):
            return True
        text = str(current).lower()
        if "does not exist" in text or "not found" in text or "no such table" in text:
            return True
        current = current.__cause__ or current.__context__
    return False
