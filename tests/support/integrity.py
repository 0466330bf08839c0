"""Whole-dataset checks after a crash and a rerun: the truth, and no row twice anywhere."""

from __future__ import annotations

from collections import Counter

from dlt.pipeline.pipeline import Pipeline

from pixlee.simulator import Simulator
from tests.support.dataset import assert_rows_match, rows

KEYS = {
    "albums": ("id",),
    "media": ("album_photo_id",),
    "products": ("id",),
    "categories": ("id",),
    "product_media": ("sku", "album_photo_id"),
    "statistics": ("album_id", "snapshot_at"),
}


def assert_no_row_twice(pipeline: Pipeline) -> None:
    """Every table: no `_dlt_id` twice, no key twice; child rows hang off existing parents and
    roots, one row per (parent, list index); one `_dlt_loads` row per load."""
    schema = pipeline.default_schema
    ids: dict[str, set[str]] = {}
    for table in [*schema.data_table_names(), schema.state_table_name]:
        loaded = rows(pipeline, table)
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
        loaded = rows(pipeline, table)
        assert {r["_dlt_parent_id"] for r in loaded} <= ids[parent], f"{table}: orphans"
        assert {r["_dlt_root_id"] for r in loaded} <= ids[root], f"{table}: rootless rows"
        slots = Counter((r["_dlt_parent_id"], r["_dlt_list_idx"]) for r in loaded)
        assert not [s for s, n in slots.items() if n > 1], f"{table}: a list item twice"
    loads = Counter(r["load_id"] for r in rows(pipeline, "_dlt_loads"))
    assert set(loads.values()) == {1}
    assert rows(pipeline, "_pixlee_load_jobs") == []  # every completed load cleared its records


def assert_truth(pipeline: Pipeline, sim: Simulator, skus: list[str]) -> None:
    """Albums, media, product tags, products and SKU media equal the simulator's truth."""
    columns = {t: set(pipeline.default_schema.get_table_columns(t)) for t in KEYS}
    assert_rows_match(sim.truth_albums(), rows(pipeline, "albums"), "id", columns["albums"])
    media = rows(pipeline, "media")
    truth = sim.truth_media()
    assert_rows_match(truth, media, "album_photo_id", columns["media"])
    media_of = {r["_dlt_id"]: r["album_photo_id"] for r in media}
    tags = Counter(
        (media_of[r["_dlt_parent_id"]], r["id"]) for r in rows(pipeline, "media__products")
    )
    assert tags == Counter((i["album_photo_id"], p["id"]) for i in truth for p in i["products"])
    assert {r["id"] for r in rows(pipeline, "products")} == {
        p["id"] for i in truth for p in i["products"]
    }
    sku_truth = [{**item, "sku": sku} for sku in skus for item in sim.truth_sku_media(sku)]
    assert_rows_match(
        sku_truth, rows(pipeline, "product_media"), ("sku", "album_photo_id"),
        columns["product_media"],
    )  # fmt: skip
    assert_no_row_twice(pipeline)
