"""Reconciliation and derived tables across runs: removals are only ever marked on a 404,
marked once, derived counts only come from complete scans, and a full refresh is a clean
reload that reads nothing from the tables it drops."""

from __future__ import annotations

from typing import Any

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from pixlee import PixleeClient, PixleeRetriesExhausted, pixlee_source
from pixlee.pipeline import run_source
from pixlee.simulator import Simulator
from pixlee.source import last_run_metrics
from tests.support.dataset import rows

MEDIA = "/api/v2/media/{album_photo_id}"


def _source(sim: Simulator, **kwargs: Any) -> Any:
    return pixlee_source(
        api_key=sim.config.api_key, base_url=sim.base_url, backoff_seconds=0.01, **kwargs
    )


def _standard(sim: Simulator) -> int:
    return next(a["id"] for a in sim.truth_albums() if a["album_type"] == "standard")


def _removed(pipeline: Pipeline) -> dict[int, Any]:
    return {
        r["album_photo_id"]: r["removed_at"] for r in rows(pipeline, "media") if r["removed_at"]
    }


def test_a_lookup_that_fails_is_never_counted_as_a_removal(
    sim: Simulator, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET /media/{id} failing with 5xx past the retries is not a 404: nothing is marked."""
    album = _standard(sim)
    run_source(pipeline, _source(sim, album_ids=[album]).with_resources("media"))
    victim = sim.truth_media([album])[-1]["album_photo_id"]
    sim.world.remove_media(victim)

    def unavailable(self: PixleeClient, album_photo_id: int) -> dict[str, Any]:
        raise PixleeRetriesExhausted(f"GET /media/{album_photo_id} still failing (HTTP 503)")

    monkeypatch.setattr(PixleeClient, "get_media", unavailable)
    with pytest.raises(PipelineStepFailed):
        run_source(pipeline, _source(sim, album_ids=[album], reconcile="always"))
    assert _removed(pipeline) == {}

    monkeypatch.undo()
    run_source(pipeline, _source(sim, album_ids=[album], reconcile="always"))
    assert set(_removed(pipeline)) == {victim}


def test_rows_already_marked_removed_are_not_looked_up_or_stamped_again(
    sim: Simulator, pipeline: Pipeline
) -> None:
    album = _standard(sim)
    source = _source(sim, album_ids=[album], reconcile="always").with_resources(
        "media", "_pixlee_runs"
    )
    run_source(pipeline, source)
    victim = sim.truth_media([album])[-1]["album_photo_id"]
    sim.world.remove_media(victim)
    run_source(pipeline, source)
    first = _removed(pipeline)
    assert set(first) == {victim}
    metrics = last_run_metrics(pipeline)
    assert metrics is not None and metrics["media_removed"] == 1

    sim.stats.reset()
    run_source(pipeline, source)
    assert sim.stats.count(route=MEDIA) == 0
    assert _removed(pipeline) == first
    metrics = last_run_metrics(pipeline)
    assert metrics is not None and metrics["media_removed"] == 0


def test_incremental_runs_do_not_write_categories(sim: Simulator, pipeline: Pipeline) -> None:
    """Category counts need every album's whole content: an incremental run reads only the
    newest page of each album and would write partial counts (20 items a page here, so each
    category album spans several pages)."""
    run_source(pipeline, _source(sim, per_page=20))
    complete = {r["id"]: r["media_count"] for r in rows(pipeline, "categories")}
    media = sim.truth_media()
    truth = {
        category: len({i["id"] for i in media if category in i["tag_album_ids"]})
        for category in complete
    }
    assert complete == truth and max(truth.values()) > 0
    run_source(pipeline, _source(sim, per_page=20))  # incremental: one page per album
    metrics = last_run_metrics(pipeline)
    assert metrics is not None and metrics["albums_full"] == 0
    assert {r["id"]: r["media_count"] for r in rows(pipeline, "categories")} == truth


def test_full_refresh_reads_nothing_from_the_tables_it_drops(
    sim: Simulator, pipeline: Pipeline
) -> None:
    """Media removed since the last load are simply gone after a full refresh: no lookups,
    nothing kept as removed, and every row counts as new."""
    run_source(pipeline, _source(sim))
    album = _standard(sim)
    gone = [i["album_photo_id"] for i in sim.truth_media([album])[:3]]
    for album_photo_id in gone:
        sim.world.remove_media(album_photo_id, how="unapprove")
    sim.stats.reset()
    run_source(pipeline, _source(sim), full_refresh=True)
    assert sim.stats.count(route=MEDIA) == 0
    loaded = rows(pipeline, "media")
    assert sorted(r["album_photo_id"] for r in loaded) == sorted(
        i["album_photo_id"] for i in sim.truth_media()
    )
    assert all(r["removed_at"] is None for r in loaded)
    metrics = last_run_metrics(pipeline)
    assert metrics is not None
    assert (metrics["media_new"], metrics["media_updated"], metrics["media_removed"]) == (
        len(sim.truth_media()),
        0,
        0,
    )
    assert len(rows(pipeline, "_pixlee_runs")) == 1  # the refresh dropped the run history too


def test_updated_counts_only_rows_whose_content_changed(sim: Simulator, pipeline: Pipeline) -> None:
    album = _standard(sim)
    source = _source(sim, album_ids=[album], reconcile="always").with_resources(
        "media", "_pixlee_runs"
    )
    run_source(pipeline, source)
    in_album = sim.truth_media([album])
    sim.world.edit_media(in_album[5]["album_photo_id"], title="edited")
    sim.world.add_media(album, count=2)
    run_source(pipeline, source)
    metrics = last_run_metrics(pipeline)
    assert metrics is not None
    assert (metrics["media_new"], metrics["media_updated"], metrics["media_unchanged"]) == (
        2,
        1,
        len(in_album) - 1,
    )
