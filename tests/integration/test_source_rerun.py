"""A source object run a second time reads its account afresh.

dlt lets one source object be run again (`pipeline.run(source)` twice). What a run gathers as it
reads (products already seen, category counts, the statistics snapshot, the album list, the
scan report) belongs to that run: carried over, the second run skipped every product the first
one saw (a renamed product kept its old title) and counted photos that had left a category.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dlt.pipeline.pipeline import Pipeline

from pixlee import pixlee_source
from pixlee.pipeline import run_source
from pixlee.simulator import Simulator
from pixlee.source import last_run_metrics
from tests.support.dataset import rows


def _category_counts(sim: Simulator) -> dict[int, int]:
    categories = [a["id"] for a in sim.truth_albums() if a["album_type"] == "category"]
    media = sim.truth_media()
    return {c: len({i["id"] for i in media if c in i["tag_album_ids"]}) for c in categories}


def test_a_source_object_run_twice_reads_everything_afresh(
    sim: Simulator, pipeline: Pipeline
) -> None:
    source = pixlee_source(api_key=sim.config.api_key, base_url=sim.base_url, reconcile="always")
    run_source(pipeline, source)
    first_unique_ids = {r.query.get("unique_id") for r in sim.stats.requests}
    first_report = last_run_metrics(pipeline)
    assert first_report is not None and first_report["items_read"] == len(sim.truth_media())

    media = sim.truth_media()
    tagged = next(i for i in media if i["products"])
    product_id = tagged["products"][0]["id"]
    sim.world.update_product(product_id, title="Renamed between runs")
    in_category = next(i for i in media if i["tag_album_ids"])
    sim.world.remove_media(in_category["album_photo_id"], how="delete")
    assert _category_counts(sim) != {
        row["id"]: row["media_count"] for row in rows(pipeline, "categories")
    }

    sim.stats.reset()
    run_source(pipeline, source)  # the same object again

    products = {row["id"]: row for row in rows(pipeline, "products")}
    assert products[product_id]["title"] == "Renamed between runs"
    loaded = {row["id"]: row["media_count"] for row in rows(pipeline, "categories")}
    assert loaded == _category_counts(sim)
    # a new snapshot per run: two statistics rows per album, the latest counting its media now
    stats = rows(pipeline, "statistics")
    assert set(Counter(row["album_id"] for row in stats).values()) == {2}
    latest: dict[int, dict[str, Any]] = {}
    for row in sorted(stats, key=lambda row: row["snapshot_at"]):
        latest[row["album_id"]] = row
    now = Counter(i["album_id"] for i in sim.truth_media())
    assert {album: row["media_count"] for album, row in latest.items()} == {
        album["id"]: now[album["id"]] for album in sim.truth_albums()
    }
    second_report = last_run_metrics(pipeline)
    assert second_report is not None and second_report["items_read"] == len(sim.truth_media())
    # this run's requests only, under a new unique_id (the CDN would serve the last run's pages)
    assert second_report["requests"] == len(sim.stats.requests)
    assert [r["requests"] for r in rows(pipeline, "_pixlee_runs", "started_at")] == [
        first_report["requests"],
        second_report["requests"],
    ]
    second_unique_ids = {r.query.get("unique_id") for r in sim.stats.requests} - {None}
    assert second_unique_ids and not second_unique_ids & first_unique_ids
    assert [r.path for r in sim.stats.requests if r.cache == "hit"] == []
