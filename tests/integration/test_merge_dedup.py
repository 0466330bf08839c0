"""`media` is declared deduplicated: the scan hands dlt each album_photo_id once per run.

dlt then skips the ROW_NUMBER pass of its delete-insert merge, so a repeat that reached dlt
would load twice. These tests pin both halves: the declaration, and that no repeat gets through
(a page repeating an item, paging drift across pages, an album configured twice).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dlt.pipeline.pipeline import Pipeline

from pixlee import PixleeClient, pixlee_source
from pixlee.pipeline import run_source
from pixlee.simulator import Simulator
from pixlee.source.metrics import RunMetrics
from pixlee.source.quarantine import ItemScreen
from pixlee.source.scanning import AlbumPage, AlbumScanner
from tests.support.canned_server import Canned, canned_server
from tests.support.dataset import assert_rows_match, rows

PAGE = {"status": 200, "per_page": 3, "total": 4}


def _item(album_photo_id: int, caption: str) -> dict[str, Any]:
    return {"album_photo_id": album_photo_id, "approved_time": 1_700_000_000_000, "title": caption}


def test_scan_passes_on_each_album_photo_id_once() -> None:
    pages = [
        # the API repeats an item within one page, then paging drift repeats one across pages
        Canned(
            body={
                **PAGE,
                "page": 1,
                "next": True,
                "data": [_item(1, "a"), _item(2, "b"), _item(1, "a again")],
            }
        ),
        Canned(body={**PAGE, "page": 2, "next": False, "data": [_item(2, "b"), _item(3, "c")]}),
    ]
    with canned_server(*pages) as server:
        client = PixleeClient(api_key="k", base_url=server.base_url, rate_limit_per_minute=0)
        scanner = AlbumScanner(
            client,
            cursors={},
            filters=None,
            sort=None,
            reconcile_seconds=None,
            overlap_minutes=60,
            now=datetime(2026, 11, 22, tzinfo=UTC),
            destination=None,
            metrics=RunMetrics(),
            screen=ItemScreen("media", "album_photo_id", None),
        )
        events = list(scanner.scan(7))
    handed = [
        (item["album_photo_id"], item["title"])
        for event in events
        if isinstance(event, AlbumPage)
        for item in event.items
    ]
    assert handed == [(1, "a"), (2, "b"), (3, "c")]
    assert len(server.paths) == 2


def test_media_is_declared_deduplicated_and_loads_once(
    shared_sim: Simulator, pipeline: Pipeline
) -> None:
    standard = [a["id"] for a in shared_sim.truth_albums() if a["album_type"] == "standard"]
    album_ids = [standard[0], standard[1], standard[0]]  # one album configured twice
    skus = shared_sim.skus()[:1]
    source = pixlee_source(
        api_key=shared_sim.config.api_key,
        base_url=shared_sim.base_url,
        album_ids=album_ids,
        skus=skus,
    )
    run_source(pipeline, source.with_resources("media", "product_media"))
    _assert_loaded_once(shared_sim, pipeline, standard[:2])

    run_source(pipeline, source.with_resources("media", "product_media"))  # the same object
    media = pipeline.default_schema.get_table("media")
    assert media["write_disposition"] == "merge"
    assert media.get("x-merge-strategy") == "delete-insert"
    assert media.get("x-stage-data-deduplicated") is True
    # product_media pages SKUs one page after another without a seen-set: dlt deduplicates it
    assert not pipeline.default_schema.get_table("product_media").get("x-stage-data-deduplicated")

    _assert_loaded_once(shared_sim, pipeline, standard[:2])


def _assert_loaded_once(sim: Simulator, pipeline: Pipeline, albums: list[int]) -> None:
    columns = set(pipeline.default_schema.get_table_columns("media"))
    truth = sim.truth_media(albums)
    assert_rows_match(truth, rows(pipeline, "media"), "album_photo_id", columns)
    tags = sum(len(item["products"]) for item in truth)
    assert len(rows(pipeline, "media__products")) == tags
