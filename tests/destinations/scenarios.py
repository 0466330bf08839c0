"""End-to-end scenarios any destination must pass, read back through a `Reader`.

The same checks as tests/integration/test_source_load.py (DuckDB), written against a function
that returns a table's rows, so Postgres (SQL), plain parquet files and delta tables are held
to one truth: the simulator's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from dlt.pipeline.pipeline import Pipeline

from pixlee import pixlee_source
from pixlee.simulator import Simulator
from tests.support.dataset import assert_rows_match, ms

Reader = Callable[[str], list[dict[str, Any]]]
# Tables whose row count must not change when the same world is loaded again.
STABLE_TABLES = (
    "albums",
    "media",
    "media__products",
    "media__products__product_region_links",
    "media__tag_album_ids",
    "products",
    "product_media",
    "product_media__products",
    "categories",
)


def source(sim: Simulator, **kwargs: Any) -> Any:
    return pixlee_source(api_key=sim.config.api_key, base_url=sim.base_url, **kwargs)


def columns(pipeline: Pipeline, table: str) -> set[str]:
    return set(pipeline.default_schema.get_table_columns(table))


def assert_full_load(sim: Simulator, pipeline: Pipeline, read: Reader, skus: list[str]) -> None:
    """Albums, media (with typed timestamps), product tags, products and SKU media equal truth."""
    truth_albums = sim.truth_albums()
    truth_media = sim.truth_media()
    assert_rows_match(truth_albums, read("albums"), "id", columns(pipeline, "albums"))
    loaded_media = read("media")
    assert_rows_match(truth_media, loaded_media, "album_photo_id", columns(pipeline, "media"))

    by_id = {row["album_photo_id"]: row for row in loaded_media}
    for item in truth_media:
        row = by_id[item["album_photo_id"]]
        assert row["updated_at_ts"] == ms(item["updated_at"])
        assert row["approved_on_date_ts"] == ms(item["approved_on_date"])

    dlt_id_to_media = {row["_dlt_id"]: row["album_photo_id"] for row in loaded_media}
    loaded_tags = Counter(
        (dlt_id_to_media[r["_dlt_parent_id"]], r["id"]) for r in read("media__products")
    )
    expected_tags = Counter(
        (i["album_photo_id"], p["id"]) for i in truth_media for p in i["products"]
    )
    assert loaded_tags == expected_tags

    expected_product_ids = {p["id"] for i in truth_media for p in i["products"]}
    assert sorted(r["id"] for r in read("products")) == sorted(expected_product_ids)

    expected_sku_rows = [{**item, "sku": sku} for sku in skus for item in sim.truth_sku_media(sku)]
    assert expected_sku_rows
    assert_rows_match(
        expected_sku_rows,
        read("product_media"),
        ("sku", "album_photo_id"),
        columns(pipeline, "product_media"),
    )

    stats = Counter(row["album_id"] for row in read("statistics"))
    assert stats == Counter(a["id"] for a in truth_albums)


def row_counts(read: Reader, tables: tuple[str, ...] = STABLE_TABLES) -> dict[str, int]:
    return {table: len(read(table)) for table in tables}


def assert_edit_merged(sim: Simulator, read: Reader, album_photo_id: int, title: str) -> None:
    """The edited media is one row carrying the new title, and `media` still equals truth."""
    rows = [r for r in read("media") if r["album_photo_id"] == album_photo_id]
    assert len(rows) == 1
    assert rows[0]["title"] == title
    truth = {i["album_photo_id"]: i for i in sim.truth_media()}
    assert truth[album_photo_id]["title"] == title
    assert sorted(r["album_photo_id"] for r in read("media")) == sorted(truth)
