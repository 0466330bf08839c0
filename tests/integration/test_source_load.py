"""End to end: the real pipeline against the simulator over loopback, into DuckDB."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from dlt.pipeline.pipeline import Pipeline

from pixlee import pixlee_source
from pixlee.pipeline import run_source
from pixlee.simulator import Simulator
from tests.support.dataset import assert_rows_match, ms, rows, table_names

PHOTOS_ROUTE = "/api/v2/albums/{album_id}/photos"


def _source(sim: Simulator, **kwargs: Any) -> Any:
    return pixlee_source(api_key=sim.config.api_key, base_url=sim.base_url, **kwargs)


def _columns(pipeline: Pipeline, table: str) -> set[str]:
    return set(pipeline.default_schema.get_table_columns(table))


def _expected_products(media: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    products: dict[int, dict[str, Any]] = {}
    for item in media:
        for product in item["products"]:
            row = {
                k: v
                for k, v in product.items()
                if k not in ("product_album_photo_id", "photo_id", "product_tagged_at")
            }
            products.setdefault(product["id"], row)
    return products


def test_full_load_equals_ground_truth(shared_sim: Simulator, pipeline: Pipeline) -> None:
    skus = shared_sim.skus()[:2]
    info = run_source(pipeline, _source(shared_sim, skus=skus))
    assert not info.has_failed_jobs

    truth_albums = shared_sim.truth_albums()
    truth_media = shared_sim.truth_media()
    assert {a["album_type"] for a in truth_albums} == {"standard", "product", "category"}

    assert_rows_match(truth_albums, rows(pipeline, "albums"), "id", _columns(pipeline, "albums"))
    loaded_media = rows(pipeline, "media")
    assert_rows_match(truth_media, loaded_media, "album_photo_id", _columns(pipeline, "media"))

    # epoch-ms kept raw, with a typed timestamp column beside it
    by_id = {row["album_photo_id"]: row for row in loaded_media}
    for item in truth_media:
        row = by_id[item["album_photo_id"]]
        assert row["updated_at"] == item["updated_at"]
        assert row["updated_at_ts"] == ms(item["updated_at"])
        assert row["approved_on_date_ts"] == ms(item["approved_on_date"])
    media_schema = pipeline.default_schema.get_table_columns("media")
    assert media_schema["updated_at_ts"]["data_type"] == "timestamp"
    assert media_schema["album_photo_id"]["primary_key"] is True

    # videos: cdn photos flatten to columns and are empty strings
    videos = [i for i in truth_media if i["content_type"] == "video"]
    assert videos
    for item in videos:
        assert by_id[item["album_photo_id"]]["pixlee_cdn_photos__medium_url"] == ""

    # nested lists became child tables, linked to their parent rows
    assert {"media__products", "media__tag_album_ids", "media__products__product_region_links"} <= (
        table_names(pipeline)
    )
    dlt_id_to_media = {row["_dlt_id"]: row["album_photo_id"] for row in loaded_media}
    loaded_tags = Counter(
        (dlt_id_to_media[r["_dlt_parent_id"]], r["id"]) for r in rows(pipeline, "media__products")
    )
    expected_tags = Counter(
        (i["album_photo_id"], p["id"]) for i in truth_media for p in i["products"]
    )
    assert loaded_tags == expected_tags
    loaded_categories = Counter(
        (dlt_id_to_media[r["_dlt_parent_id"]], r["value"])
        for r in rows(pipeline, "media__tag_album_ids")
    )
    expected_categories = Counter(
        (i["album_photo_id"], c) for i in truth_media for c in i["tag_album_ids"]
    )
    assert loaded_categories == expected_categories

    # products: one row per product, without the per-media tag fields
    expected_products = _expected_products(truth_media)
    loaded_products = rows(pipeline, "products")
    assert_rows_match(
        expected_products.values(), loaded_products, "id", _columns(pipeline, "products")
    )
    assert "product_album_photo_id" not in _columns(pipeline, "products")

    # product_media: each SKU's content, keyed by (sku, album_photo_id)
    expected_sku_rows = [
        {**item, "sku": sku} for sku in skus for item in shared_sim.truth_sku_media(sku)
    ]
    assert expected_sku_rows
    assert_rows_match(
        expected_sku_rows,
        rows(pipeline, "product_media"),
        ("sku", "album_photo_id"),
        _columns(pipeline, "product_media"),
    )

    # statistics: one derived row per scanned album, counting exactly its media
    stats = {row["album_id"]: row for row in rows(pipeline, "statistics")}
    assert set(stats) == {a["id"] for a in truth_albums}
    for album in truth_albums:
        album_media = [i for i in truth_media if i["album_id"] == album["id"]]
        row = stats[album["id"]]
        assert row["media_count"] == len(album_media)
        assert row["video_count"] == sum(i["content_type"] == "video" for i in album_media)
        assert row["permissioned_count"] == sum(i["has_permission"] is True for i in album_media)
        assert row["native_likes_total"] == sum(i["native_likes"] or 0 for i in album_media)
        assert row["derived"] is True

    # categories: every category album, with the distinct photos that carry it
    loaded_cats = {row["id"]: row for row in rows(pipeline, "categories")}
    category_albums = {a["id"]: a for a in truth_albums if a["album_type"] == "category"}
    assert set(category_albums) <= set(loaded_cats)
    for category_id, album in category_albums.items():
        photos = {i["id"] for i in truth_media if category_id in i["tag_album_ids"]}
        assert loaded_cats[category_id]["media_count"] == len(photos)
        assert loaded_cats[category_id]["title"] == album["title"]


def test_rerun_merges_without_duplicates(shared_sim: Simulator, pipeline: Pipeline) -> None:
    run_source(pipeline, _source(shared_sim))
    first = sorted(r["album_photo_id"] for r in rows(pipeline, "media"))
    first_tags = len(rows(pipeline, "media__products"))
    for reconcile in ("1d", "always"):  # an incremental rerun, then a complete one
        run_source(pipeline, _source(shared_sim, reconcile=reconcile))
        assert sorted(r["album_photo_id"] for r in rows(pipeline, "media")) == first
        assert len(rows(pipeline, "media__products")) == first_tags
    assert len(first) == len(shared_sim.truth_media())
    # statistics: one snapshot per complete scan (the first run and the reconciling one)
    snapshots = Counter(r["album_id"] for r in rows(pipeline, "statistics"))
    assert set(snapshots.values()) == {2}


def test_album_ids_and_with_resources_narrow_the_load(
    shared_sim: Simulator, pipeline: Pipeline
) -> None:
    album_ids = [a["id"] for a in shared_sim.truth_albums() if a["album_type"] == "standard"][:2]
    shared_sim.stats.reset()
    source = _source(shared_sim, album_ids=album_ids).with_resources("media")
    run_source(pipeline, source)
    assert table_names(pipeline) >= {"media"}
    assert "albums" not in table_names(pipeline)
    assert_rows_match(
        shared_sim.truth_media(album_ids),
        rows(pipeline, "media"),
        "album_photo_id",
        _columns(pipeline, "media"),
    )
    # only the configured albums were read, and GET /albums was not needed
    photo_paths = {r.path for r in shared_sim.stats.requests if r.route == PHOTOS_ROUTE}
    assert photo_paths == {f"/api/v2/albums/{i}/photos" for i in album_ids}
    assert shared_sim.stats.count(route="/api/v2/albums") == 0


def test_one_unique_id_per_run_on_every_request(shared_sim: Simulator, pipeline: Pipeline) -> None:
    ids_per_run = []
    for _ in range(2):
        shared_sim.stats.reset()
        run_source(pipeline, _source(shared_sim, skus=shared_sim.skus()[:1]))
        records = shared_sim.stats.requests
        assert records and all("unique_id" in r.query for r in records)
        ids = {r.query["unique_id"] for r in records}
        assert len(ids) == 1
        ids_per_run.append(ids.pop())
        assert all(r.query["per_page"] == "100" for r in records)
        assert all(r.query["api_key"] == "***" for r in records)
    assert ids_per_run[0] != ids_per_run[1]


def test_filters_and_sort_pass_through(shared_sim: Simulator, pipeline: Pipeline) -> None:
    album_id = next(a["id"] for a in shared_sim.truth_albums() if a["album_type"] == "standard")
    shared_sim.stats.reset()
    source = _source(
        shared_sim,
        album_ids=[album_id],
        filters={"content_type": ["video"]},
        sort={"approved_time": True, "asc": True},
    ).with_resources("media")
    run_source(pipeline, source)
    loaded = rows(pipeline, "media")
    expected = [i for i in shared_sim.truth_media([album_id]) if i["content_type"] == "video"]
    assert sorted(r["album_photo_id"] for r in loaded) == sorted(
        i["album_photo_id"] for i in expected
    )
    queries = [r.query for r in shared_sim.stats.requests if r.route == PHOTOS_ROUTE]
    assert {q["filters"] for q in queries} == {'{"content_type":["video"]}'}
    assert {q["sort"] for q in queries} == {'{"approved_time":true,"asc":true}'}


def test_missing_album_and_sku_warn_and_the_rest_loads(
    shared_sim: Simulator, pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    good = next(a["id"] for a in shared_sim.truth_albums() if a["album_type"] == "standard")
    source = _source(shared_sim, album_ids=[999999999, good], skus=["NO-SUCH-SKU"])
    with caplog.at_level("WARNING", logger="pixlee"):
        info = run_source(pipeline, source.with_resources("media", "product_media"))
    assert not info.has_failed_jobs
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("album 999999999 was not found (404)" in m for m in messages)
    assert any("SKU 'NO-SUCH-SKU' was not found (404)" in m for m in messages)
    assert {r["album_id"] for r in rows(pipeline, "media")} == {good}
    assert len(rows(pipeline, "media")) == len(shared_sim.truth_media([good]))


def test_extra_endpoints_load_and_404_warns(
    shared_sim: Simulator, pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    album_id = next(a["id"] for a in shared_sim.truth_albums() if a["album_type"] == "standard")
    extra = [
        {
            "name": "album_photos_raw",
            "path": f"/albums/{album_id}/photos",
            "primary_key": "album_photo_id",
        },
        {"name": "tags", "path": "/tags"},
        {"name": "statistics_api", "path": "/statistics"},
    ]
    source = _source(shared_sim, extra_endpoints=extra).with_resources(
        "album_photos_raw", "tags", "statistics_api"
    )
    with caplog.at_level("WARNING", logger="pixlee"):
        run_source(pipeline, source)
    loaded = rows(pipeline, "album_photos_raw")
    assert sorted(r["album_photo_id"] for r in loaded) == sorted(
        i["album_photo_id"] for i in shared_sim.truth_media([album_id])
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("'tags' (GET /tags) answered 404" in m for m in warnings)
    assert any("'statistics_api' (GET /statistics) answered 404" in m for m in warnings)
    assert "tags" not in table_names(pipeline)


def _media_build_paths(pipeline: Pipeline) -> dict[str, Any]:
    """How the last run built `media`'s pages (the `media` resource's custom metrics)."""
    info = pipeline.last_trace.last_extract_info
    for load_metrics in info.metrics.values():
        for step in load_metrics:
            media = step.get("resource_metrics", {}).get("media")
            if media is not None and media.custom_metrics:
                return dict(media.custom_metrics)
    return {}


def test_full_scan_pages_are_read_as_arrow(shared_sim: Simulator, pipeline: Pipeline) -> None:
    """The fast path runs in a standard full load (a silent fall-back to dicts would pass
    every equality test), and its tables equal the ground truth."""
    run_source(pipeline, _source(shared_sim, per_page=7))
    truth_media = shared_sim.truth_media()
    assert_rows_match(
        truth_media, rows(pipeline, "media"), "album_photo_id", _columns(pipeline, "media")
    )
    paths = _media_build_paths(pipeline)
    assert paths.get("pages_rows", 0) == 0
    # the first pages teach the reader its schema (and a page with a new kind of value);
    # most pages are then read by pyarrow in the page threads and built without dicts
    assert paths["pages_arrow_read"] > paths.get("pages_dicts", 0) > 0
