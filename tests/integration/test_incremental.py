"""Incremental loads that stay exactly equal to the simulator's truth, run after run.

Each scenario asserts the DuckDB dataset (current rows: `removed_at IS NULL`) equals the
simulator's ground truth, and where cost matters, the exact requests made.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dlt
from dlt.pipeline.pipeline import Pipeline

from pixlee import PixleeClient, pixlee_source
from pixlee.pipeline import make_pipeline, run_source
from pixlee.simulator import FakeClock, Simulator, SimulatorConfig
from pixlee.source import last_run_metrics
from tests.conftest import SMALL_ACCOUNT
from tests.support.dataset import assert_rows_match, rows

PHOTOS = "/api/v2/albums/{album_id}/photos"
MEDIA = "/api/v2/media/{album_photo_id}"


def _source(sim: Simulator, **kwargs: Any) -> Any:
    return pixlee_source(
        api_key=sim.config.api_key, base_url=sim.base_url, backoff_seconds=0.01, **kwargs
    )


def _current(pipeline: Pipeline) -> list[dict[str, Any]]:
    return [r for r in rows(pipeline, "media") if r.get("removed_at") is None]


def _assert_equals_truth(pipeline: Pipeline, sim: Simulator) -> None:
    loaded = rows(pipeline, "media")
    keys = [r["album_photo_id"] for r in loaded]
    assert len(keys) == len(set(keys)), "duplicate media rows"
    columns = set(pipeline.default_schema.get_table_columns("media"))
    assert_rows_match(sim.truth_media(), _current(pipeline), "album_photo_id", columns)


def _standard_albums(sim: Simulator) -> list[int]:
    return [a["id"] for a in sim.truth_albums() if a["album_type"] == "standard"]


def _album_count(sim: Simulator) -> int:
    return len(sim.truth_albums())


def test_new_content_only_costs_one_page_per_album(sim: Simulator, pipeline: Pipeline) -> None:
    run_source(pipeline, _source(sim))
    album = _standard_albums(sim)[0]
    new_ids = sim.world.add_media(album, count=5)
    sim.stats.reset()
    run_source(pipeline, _source(sim))
    # one page per album (the newest items reach below the watermark), plus GET /albums
    assert sim.stats.count(route=PHOTOS) == _album_count(sim)
    assert sim.stats.count(route="/api/v2/albums") == 1
    assert sim.stats.count() == _album_count(sim) + 1
    report = last_run_metrics(pipeline)
    assert report is not None
    assert (report["albums_incremental"], report["albums_full"]) == (_album_count(sim), 0)
    assert (report["media_new"], report["media_updated"]) == (5, 0)
    _assert_equals_truth(pipeline, sim)
    assert set(new_ids) <= {r["album_photo_id"] for r in _current(pipeline)}


def test_many_new_pages_are_read_down_to_the_watermark(sim: Simulator, pipeline: Pipeline) -> None:
    run_source(pipeline, _source(sim))
    album = _standard_albums(sim)[1]
    sim.world.add_media(album, count=230)  # 2.3 pages of new content at the head
    sim.stats.reset()
    run_source(pipeline, _source(sim))
    album_pages = [r for r in sim.stats.requests if r.path == f"/api/v2/albums/{album}/photos"]
    # pages 1-2 are all new, page 3 reaches below the watermark: stop; then, because the scan
    # crossed page boundaries, one re-read of those head pages with a fresh unique_id
    assert [r.query["page"] for r in album_pages] == ["1", "2", "3", "1", "2", "3"]
    assert len({r.query["unique_id"] for r in album_pages}) == 2
    _assert_equals_truth(pipeline, sim)


def test_edits_and_removals_are_caught_by_reconciliation(
    sim: Simulator, pipeline: Pipeline
) -> None:
    run_source(pipeline, _source(sim))
    truth = sim.truth_media()
    album = _standard_albums(sim)[0]
    in_album = [i for i in truth if i["album_id"] == album]
    oldest = in_album[-1]
    with_products = next(i for i in in_album[:-1] if i["products"])
    deleted = next(i for i in in_album[:-1] if i is not with_products and i is not oldest)
    sim.world.edit_media(oldest["album_photo_id"], title="edited caption ✨", native_likes=999)
    sim.world.remove_media(with_products["album_photo_id"], how="unapprove")
    sim.world.remove_media(deleted["album_photo_id"], how="delete")

    # an incremental run reads only the head: the old edit is not seen yet, nothing is removed
    run_source(pipeline, _source(sim))
    by_id = {r["album_photo_id"]: r for r in rows(pipeline, "media")}
    assert by_id[oldest["album_photo_id"]]["title"] == oldest["title"]
    assert all(r.get("removed_at") is None for r in by_id.values())

    # reconciliation: edits land, removals are marked (whole rows kept), truth holds
    sim.stats.reset()
    run_source(pipeline, _source(sim, reconcile="always"))
    _assert_equals_truth(pipeline, sim)
    by_id = {r["album_photo_id"]: r for r in rows(pipeline, "media")}
    assert by_id[oldest["album_photo_id"]]["title"] == "edited caption ✨"
    assert by_id[oldest["album_photo_id"]]["native_likes"] == 999
    removed = {k for k, r in by_id.items() if r["removed_at"] is not None}
    expected_removed = {i["album_photo_id"] for i in truth if i["id"] == deleted["id"]} | {
        with_products["album_photo_id"]
    }
    assert removed == expected_removed
    kept = by_id[with_products["album_photo_id"]]
    assert (
        kept["title"] == with_products["title"]
        and kept["updated_at"] == with_products["updated_at"]
    )
    tags = [
        r["id"] for r in rows(pipeline, "media__products") if r["_dlt_parent_id"] == kept["_dlt_id"]
    ]
    assert sorted(tags) == sorted(p["id"] for p in with_products["products"])
    # each removal was confirmed by exactly one lookup
    assert sim.stats.count(route=MEDIA) == len(expected_removed)

    # content that comes back is current again
    sim.world.restore_media(with_products["album_photo_id"])
    run_source(pipeline, _source(sim, reconcile="always"))
    _assert_equals_truth(pipeline, sim)
    assert {r["album_photo_id"] for r in rows(pipeline, "media") if r["removed_at"]} == (
        expected_removed - {with_products["album_photo_id"]}
    )


def _when_served(
    sim: Simulator, path: str, page: str, action: Callable[[], None]
) -> threading.Thread:
    """Run `action` as soon as the simulator has served `page` of `path` (it has latency, so
    the client's next page is not served yet)."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(r.path == path and r.query.get("page") == page for r in sim.stats.requests):
                action()
                return
            time.sleep(0.001)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_inserts_during_pagination_are_neither_lost_nor_duplicated(
    sim: Simulator, pipeline: Pipeline
) -> None:
    album = _standard_albums(sim)[0]
    before = {i["album_photo_id"] for i in sim.truth_media()}
    sim.set_faults(latency_ms=150)
    sim.stats.reset()
    added: list[int] = []
    watcher = _when_served(
        sim,
        f"/api/v2/albums/{album}/photos",
        "1",
        lambda: added.extend(sim.world.add_media(album, count=3)),
    )
    run_source(pipeline, _source(sim).with_resources("media"))
    watcher.join()
    assert len(added) == 3
    loaded = [r["album_photo_id"] for r in rows(pipeline, "media")]
    assert len(loaded) == len(set(loaded))
    assert before <= set(loaded)  # the 3 items pushed down a page were not lost
    sim.set_faults(latency_ms=0)
    run_source(pipeline, _source(sim).with_resources("media"))
    _assert_equals_truth(pipeline, sim)


def test_removal_during_a_reconciling_scan_marks_only_real_removals(
    sim: Simulator, pipeline: Pipeline
) -> None:
    run_source(pipeline, _source(sim).with_resources("media"))
    album = _standard_albums(sim)[0]
    in_album = [i["album_photo_id"] for i in sim.truth_media([album])]
    victim = in_album[0]  # on page 1: removing it after page 1 was read shifts page 2 up
    sim.set_faults(latency_ms=150)
    sim.stats.reset()
    watcher = _when_served(
        sim, f"/api/v2/albums/{album}/photos", "1", lambda: sim.world.remove_media(victim)
    )
    # one page at a time (max_in_flight=1): with pages read ahead, page 2 is served before the
    # removal lands, and the drift this test provokes would not happen
    source = _source(sim, reconcile="always", max_in_flight=1)
    run_source(pipeline, source.with_resources("media", "_pixlee_runs"))
    watcher.join()
    # the item that slid from page 2 to page 1 was not seen, but a lookup found it present
    report = last_run_metrics(pipeline)
    assert report is not None and report["found_by_lookup"] == 1
    # the victim itself was seen on page 1 during this scan, so it is not marked yet
    sim.set_faults(latency_ms=0)
    run_source(pipeline, _source(sim, reconcile="always").with_resources("media"))
    _assert_equals_truth(pipeline, sim)
    removed = {r["album_photo_id"] for r in rows(pipeline, "media") if r["removed_at"]}
    assert removed == {victim}


def test_a_failed_reconciliation_marks_nothing(sim: Simulator, pipeline: Pipeline) -> None:
    run_source(pipeline, _source(sim).with_resources("media"))
    album = _standard_albums(sim)[0]
    victim = sim.truth_media([album])[-1]["album_photo_id"]
    sim.world.remove_media(victim)
    sim.set_faults(fault_rate=1.0, fault_kinds=("503",))
    try:
        run_source(pipeline, _source(sim, reconcile="always", max_attempts=2))
    except Exception:
        pass
    else:
        raise AssertionError("the run should have failed")
    assert all(r["removed_at"] is None for r in rows(pipeline, "media"))
    sim.set_faults(fault_rate=0.0)
    run_source(pipeline, _source(sim, reconcile="always").with_resources("media"))
    _assert_equals_truth(pipeline, sim)


def test_state_survives_a_lost_working_folder_and_full_refresh_resets(
    sim: Simulator, tmp_path: Path
) -> None:
    def pipeline() -> Pipeline:
        return make_pipeline(
            destination=dlt.destinations.duckdb(str(tmp_path / "p.duckdb")),
            pipeline_name="pixlee_state",
            pipelines_dir=str(tmp_path / "pipelines"),
            progress="log",
        )

    run_source(pipeline(), _source(sim))
    shutil.rmtree(tmp_path / "pipelines")
    sim.world.add_media(_standard_albums(sim)[0], count=2)
    sim.stats.reset()
    restored = pipeline()
    run_source(restored, _source(sim))  # dlt restores state (the cursors) from the destination
    assert sim.stats.count(route=PHOTOS) == _album_count(sim)
    _assert_equals_truth(restored, sim)

    sim.stats.reset()
    run_source(restored, _source(sim), full_refresh=True)
    report = last_run_metrics(restored)
    assert report is not None and report["albums_full"] == _album_count(sim)
    assert sim.stats.count(route=PHOTOS) > _album_count(sim)
    _assert_equals_truth(restored, sim)


def test_stale_cache_trap(pipeline: Pipeline) -> None:
    """The CDN serves a cached URL for 2 minutes: without a new unique_id, edits are invisible."""
    clock = FakeClock()
    with Simulator(SimulatorConfig(**SMALL_ACCOUNT, clock=clock)) as sim:  # type: ignore[arg-type]
        run_source(pipeline, _source(sim))
        first_run_id = int(sim.stats.requests[0].query["unique_id"])
        album = _standard_albums(sim)[0]
        item = sim.truth_media([album])[0]
        sim.world.edit_media(item["album_photo_id"], title="fresh title")
        # the trap: the same URL within 2 minutes is served stale
        stale = PixleeClient(
            api_key=sim.config.api_key,
            base_url=sim.base_url,
            unique_id=first_run_id,
            rate_limit_per_minute=0,
        )
        first_page = next(
            iter(stale.iter_album_photos(album, sort={"approved_time": True, "desc": True}))
        )
        assert first_page.items[0]["title"] == item["title"]
        # a run uses its own unique_id, so it reads the edit
        run_source(pipeline, _source(sim, reconcile="always"))
        loaded = {r["album_photo_id"]: r for r in rows(pipeline, "media")}
        assert loaded[item["album_photo_id"]]["title"] == "fresh title"
        _assert_equals_truth(pipeline, sim)
