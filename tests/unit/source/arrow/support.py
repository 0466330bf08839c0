"""The differential check: `JsonPages` builds exactly what `MediaTables` builds, or falls back.

Root ids are random per build (`<16 hex prefix><row index in hex>`), child ids derive from them
(`<parent id>.<position>`): linkage is compared with the prefix cut off, which keeps every
position and parent-child link in the comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dlt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import requests

from pixlee.simulator import Simulator
from pixlee.source.arrow.json_pages import JsonPages, ParsedPage
from pixlee.source.arrow.tables import MediaTables, NotArrowable, TableSpec
from pixlee.source.columns import MEDIA_COLUMNS, PRODUCT_COLUMNS, Columns

NAMING = dlt.Schema("json_pages_units").naming
ID_COLUMNS = ("_dlt_id", "_dlt_parent_id", "_dlt_root_id")
PREFIX = 16  # hex characters of a build's random root-id prefix

Known = Callable[[str], Mapping[str, str]]


def hinted(table: str) -> dict[str, str]:
    """The types the source's resource hints pin (what a first load knows)."""
    hints: Columns = {"media": MEDIA_COLUMNS, "media__products": PRODUCT_COLUMNS}.get(table, {})
    return {name: str(hint["data_type"]) for name, hint in hints.items()}


def live(specs: Sequence[TableSpec]) -> Known:
    """The hints plus every column an earlier build loaded (what a later batch knows)."""
    seen: dict[str, dict[str, str]] = {}
    for spec in specs:
        types = seen.setdefault(spec.name, {})
        for column in spec.table.schema:
            if not column.name.startswith("_dlt_"):
                kind = "json" if column.name in spec.json_columns else _DLT.get(column.type)
                if kind is not None:
                    types[column.name] = kind
    return lambda table: {**seen.get(table, {}), **hinted(table)}


_DLT = {
    pa.int64(): "bigint",
    pa.float64(): "double",
    pa.bool_(): "bool",
    pa.string(): "text",
    pa.timestamp("us", tz="UTC"): "timestamp",
}


def reader(known: Known = hinted) -> JsonPages:
    return JsonPages("media", NAMING, 2, known, required=["album_photo_id"])


def reference(
    pages: Sequence[tuple[Sequence[Mapping[str, Any]], Mapping[str, Any] | None]], known: Known
) -> list[TableSpec] | type[Exception]:
    """What today's path builds (a fresh builder), or the exception it raises."""
    builder = MediaTables("media", NAMING, 2, known, required=["album_photo_id"])
    try:
        return builder.build(pages, "load-1")
    except (NotArrowable, pa.ArrowException) as exc:
        return type(exc)


def structure(specs: Sequence[TableSpec], ordered: bool = True) -> list[Any]:
    """Everything about the tables but the random root-id prefix, and but the order of
    columns unless `ordered` (`MediaTables` orders them as the first item's keys, or by first
    appearance when items differ, and child tables in the order their columns come; Arrow
    keeps no key order, so a page whose items order their keys differently builds the same
    tables and columns in the learned order)."""
    out = []
    for spec in specs:
        table = spec.table if ordered else spec.table.select(sorted(spec.table.column_names))
        for name in ID_COLUMNS:
            if name in table.column_names:
                index = table.column_names.index(name)
                cut = pc.utf8_slice_codeunits(table.column(name), PREFIX)
                table = table.set_column(index, table.schema.field(index), cut)
        out.append((spec.name, spec.parent, sorted(spec.json_columns), table.schema, table))
    return out if ordered else sorted(out, key=lambda table: str(table[0]))


def assert_same(
    mine: Sequence[TableSpec], expected: Sequence[TableSpec], ordered: bool = True
) -> None:
    left, right = structure(mine, ordered), structure(expected, ordered)
    assert [t[:4] for t in left] == [t[:4] for t in right]
    for (name, *_, a), (*_, b) in zip(left, right, strict=True):
        assert a.equals(b), f"{name}: values differ\n{a.to_pylist()[:3]}\n{b.to_pylist()[:3]}"


def check_body(
    pages: JsonPages,
    body: bytes,
    known: Known,
    extra: Mapping[str, Any] | None = None,
    ordered: bool = True,
) -> bool:
    """One body through both paths: equal tables, or a fall-back. True when it took Arrow.

    Also: a body the fast path takes is one orjson reads, with the same `next`.
    """
    parsed = pages.parse(body)
    if parsed.items is None:
        return False
    envelope = orjson.loads(body)  # raises if the fast path took a body orjson refuses
    assert parsed.has_next is envelope["next"]
    try:
        mine = pages.build([(parsed, extra)], "load-1")
    except NotArrowable:
        return False
    expected = reference([(envelope["data"], extra)], known)
    assert not isinstance(expected, type), f"today's path raises {expected.__name__}"
    assert_same(mine, expected, ordered)
    return True


def learned(pages: JsonPages, body: bytes) -> ParsedPage:
    """Learn from a body as the dict path would, then read it."""
    pages.learn(orjson.loads(body))
    return pages.parse(body)


def listing_bodies(sim: Simulator, path: str, params: Mapping[str, Any]) -> list[bytes]:
    """Every page of one listing as the simulator sends it."""
    bodies = []
    page = 1
    while True:
        query = {**params, "api_key": sim.config.api_key, "per_page": 100, "page": page}
        response = requests.get(f"{sim.base_url}{path}", params=query, timeout=30)
        response.raise_for_status()
        bodies.append(response.content)
        if not orjson.loads(response.content)["next"]:
            return bodies
        page += 1
