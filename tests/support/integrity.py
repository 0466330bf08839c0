"""Whole-dataset checks after a crash and a rerun: the truth, and no row twice anywhere."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline.exactly_once import JOBS_TABLE
from pixlee.simulator import Simulator
from tests.support.dataset import assert_rows_match

Reader = Callable[[str], list[dict[str, Any]]]

KEYS = {
    "albums": ("id",),
    "media": ("album_photo_id",),
    "products": ("id",),
    "categories": ("id",),
    "product_media": ("sku", "album_photo_id"),
    "statistics": ("album_id", "snapshot_at"),
}


class Tables:
    """Every table of a dataset, read once over one connection (each DuckDB connection that
    closes a database checkpoints it: one per query would dominate a small test)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._read: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, table: str) -> list[dict[str, Any]]:
        if table not in self._read:
            with self._pipeline.sql_client() as client:
                schema = self._pipeline.default_schema
                wanted = [*schema.data_table_names(), *schema.dlt_table_names(), JOBS_TABLE]
                for name in {*wanted, table}:
                    self._read[name] = _select_all(client, name, missing_ok=name == JOBS_TABLE)
        return self._read[table]


def _select_all(client: Any, table: str, missing_ok: bool = False) -> list[dict[str, Any]]:
    if missing_ok:  # dlt's own jobs never create it
        exists = client.execute_sql(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            client.dataset_name,
            table,
        )
        if not exists:
            return []
    with client.execute_query(f"SELECT * FROM {client.make_qualified_table_name(table)}") as cur:
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def assert_no_row_twice(
    pipeline: Pipeline, rows: Reader | None = None, dropped_loads: Collection[str] = ()
) -> None:
    """Every table: no `_dlt_id` twice, no key twice; child rows hang off existing parents and
    roots, one row per (parent, list index); one `_dlt_loads` row per load; no job records
    but those of `dropped_loads` (packages dropped before they completed)."""
    rows = rows or Tables(pipeline)
    schema = pipeline.default_schema
    ids: dict[str, set[str]] = {}
    for table in [*schema.data_table_names(), schema.state_table_name]:
        loaded = rows(table)
        row_ids = Counter(r["_dlt_id"] for r in loaded)
        assert not [i for i, n in row_ids.items() if n > 1], f"{table}: a row twice"
        ids[table] = set(row_ids)
        if table in KEYS:
            keys = Counter(tuple(r[k] for k in KEYS[table]) for r in loaded)
            assert not [k for k, n in keys.items() if n > 1], f"{table}: a key twice"
    for table in schema.data_table_names():
        parent = schema.tables[table].get("parent")
        if not parent:
            continue
        root = table.split("__")[0]
        loaded = rows(table)
        assert {r["_dlt_parent_id"] for r in loaded} <= ids[parent], f"{table}: orphans"
        assert {r["_dlt_root_id"] for r in loaded} <= ids[root], f"{table}: rootless rows"
        slots = Counter((r["_dlt_parent_id"], r["_dlt_list_idx"]) for r in loaded)
        assert not [s for s, n in slots.items() if n > 1], f"{table}: a list item twice"
    loads = Counter(r["load_id"] for r in rows("_dlt_loads"))
    assert set(loads.values()) == {1}, "_dlt_loads: a load twice"
    left = [r for r in rows(JOBS_TABLE) if r["load_id"] not in dropped_loads]
    assert left == []  # every completed load cleared its records


def assert_truth(
    pipeline: Pipeline, sim: Simulator, skus: list[str], dropped_loads: Collection[str] = ()
) -> None:
    """Albums, media, product tags, products and SKU media equal the simulator's truth, and no
    row is there twice."""
    rows = Tables(pipeline)
    columns = {t: set(pipeline.default_schema.get_table_columns(t)) for t in KEYS}
    assert_rows_match(sim.truth_albums(), rows("albums"), "id", columns["albums"])
    media = rows("media")
    truth = sim.truth_media()
    assert_rows_match(truth, media, "album_photo_id", columns["media"])
    media_of = {r["_dlt_id"]: r["album_photo_id"] for r in media}
    tags = Counter((media_of[r["_dlt_parent_id"]], r["id"]) for r in rows("media__products"))
    assert tags == Counter((i["album_photo_id"], p["id"]) for i in truth for p in i["products"])
    assert {r["id"] for r in rows("products")} == {p["id"] for i in truth for p in i["products"]}
    sku_truth = [{**item, "sku": sku} for sku in skus for item in sim.truth_sku_media(sku)]
    assert_rows_match(
        sku_truth, rows("product_media"), ("sku", "album_photo_id"),
        columns["product_media"],
    )  # fmt: skip
    assert_no_row_twice(pipeline, rows, dropped_loads)
