"""Read a loaded DuckDB dataset back and compare it with the simulator's ground truth."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from dlt.pipeline.pipeline import Pipeline


def rows(pipeline: Pipeline, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
    with pipeline.sql_client() as client:
        qualified = client.make_qualified_table_name(table)
        sql = f"SELECT * FROM {qualified}" + (f" ORDER BY {order_by}" if order_by else "")
        with client.execute_query(sql) as cursor:
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def table_names(pipeline: Pipeline) -> set[str]:
    return set(pipeline.default_schema.data_table_names())


def flatten(item: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Scalars of an API object as dlt names them: nested dicts become `a__b` columns."""
    flat: dict[str, Any] = {}
    for key, value in item.items():
        name = prefix + key
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "__"))
        elif not isinstance(value, list):
            flat[name] = value
    return flat


def _same(expected: Any, actual: Any) -> bool:
    if expected is None:
        return actual is None
    if isinstance(expected, float) or isinstance(actual, float):
        return actual is not None and math.isclose(float(expected), float(actual), rel_tol=1e-9)
    return bool(expected == actual)


def assert_rows_match(
    expected_items: Iterable[Mapping[str, Any]],
    loaded: list[dict[str, Any]],
    key: str | tuple[str, ...],
    columns: set[str],
) -> None:
    """Every expected item is loaded exactly once, and every scalar field equals the API's."""
    keys = (key,) if isinstance(key, str) else key
    by_key = {tuple(row[k] for k in keys): row for row in loaded}
    assert len(by_key) == len(loaded), "duplicate keys loaded"
    expected = {tuple(item[k] for k in keys): item for item in expected_items}
    assert set(by_key) == set(expected)
    mismatches = []
    for k, item in expected.items():
        row = by_key[k]
        for name, value in flatten(item).items():
            if name not in columns:
                # dlt creates no column for a field that was null (or {}) in every row
                assert value is None or value == {}, f"{name} missing though {k} has {value!r}"
                continue
            if not _same(value, row[name]):
                mismatches.append((k, name, value, row[name]))
    assert not mismatches, mismatches[:5]


def ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)
