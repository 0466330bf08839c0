"""Every load of `media` is a merge, the first one too, and each merge replaces child rows whole.

(A first load into empty tables copies straight into them on the exactly-once destinations,
each job once: `pixlee.pipeline.exactly_once`.) These tests pin that every run is declared a
merge (deduplicated delete-insert) and that a merge finds every row and child row it must
replace: after a first load, after a page
that went through dlt's normalizer, when the destination holds rows the local state does not know
of, and when two extracted packages wait for one load.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline

from pixlee import pixlee_source
from pixlee.pipeline import make_pipeline, run_source
from pixlee.simulator import Simulator
from tests.support.dataset import assert_rows_match, rows

MEDIA_TABLES = (
    "media",
    "media__products",
    "media__mentions",
    "media__tag_album_ids",
    "media__products__product_region_links",
)


def _source(sim: Simulator, **kwargs: Any) -> Any:
    source = pixlee_source(
        api_key=sim.config.api_key, base_url=sim.base_url, backoff_seconds=0.01, **kwargs
    )
    return source.with_resources("media")


def _dispositions(pipeline: Pipeline) -> dict[str, str]:
    schema = pipeline.default_schema
    return {table: str(schema.get_table(table).get("write_disposition")) for table in MEDIA_TABLES}


def _assert_equals_truth(pipeline: Pipeline, sim: Simulator) -> None:
    """Media, and every media's products and mentions, exactly as the API has them now."""
    truth = sim.truth_media()
    columns = set(pipeline.default_schema.get_table_columns("media"))
    loaded = rows(pipeline, "media")
    assert_rows_match(truth, loaded, "album_photo_id", columns)
    by_row_id = {row["_dlt_id"]: row["album_photo_id"] for row in loaded}
    for table, field, key in (
        ("media__products", "products", "id"),
        ("media__mentions", "mentions", "value"),
    ):
        children: dict[int, list[Any]] = {}
        for child in sorted(rows(pipeline, table), key=lambda r: r["_dlt_list_idx"]):
            # the root id is what the next merge deletes child rows by
            assert child["_dlt_root_id"] == child["_dlt_parent_id"]
            children.setdefault(by_row_id[child["_dlt_parent_id"]], []).append(child[key])
        expected = {
            item["album_photo_id"]: [v[key] if isinstance(v, dict) else v for v in item[field]]
            for item in truth
            if item[field]
        }
        assert children == expected, table


def test_first_load_merges_and_the_next_run_replaces_child_rows(
    sim: Simulator, pipeline: Pipeline
) -> None:
    run_source(pipeline, _source(sim))
    assert _dispositions(pipeline) == dict.fromkeys(MEDIA_TABLES, "merge")
    _assert_equals_truth(pipeline, sim)

    first = sim.truth_media()[0]["album_photo_id"]
    sim.world.edit_media(first, title="edited", mentions=["@one", "@two", "@three"])
    run_source(pipeline, _source(sim, reconcile="always"))  # every media item again

    assert _dispositions(pipeline) == dict.fromkeys(MEDIA_TABLES, "merge")
    media = pipeline.default_schema.get_table("media")
    assert media.get("x-merge-strategy") == "delete-insert"
    assert media.get("x-stage-data-deduplicated") is True
    _assert_equals_truth(pipeline, sim)  # each child row replaced once, none left behind


def test_a_page_through_dlts_normalizer_keeps_root_ids(
    sim: Simulator, pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    """A list of lists has no Arrow layout: that page's child rows come from dlt's normalizer,
    which must still give them `_dlt_root_id`, or the next merge would leave them behind."""
    odd = sim.truth_media()[0]["album_photo_id"]
    sim.world.edit_media(odd, mentions=[["nested", "list"]])
    for item in sim.truth_media():  # so no Arrow page creates media__mentions with root ids
        if item["album_photo_id"] != odd and item["mentions"]:
            sim.world.edit_media(item["album_photo_id"], mentions=[])
    with caplog.at_level(logging.INFO, logger="pixlee.source.media_items"):
        run_source(pipeline, _source(sim))
    assert "a page of media goes through dlt's normalizer" in caplog.text
    assert _dispositions(pipeline)["media"] == "merge"
    root = next(r for r in rows(pipeline, "media") if r["album_photo_id"] == odd)
    odd_rows = [
        r for r in rows(pipeline, "media__mentions") if r["_dlt_parent_id"] == root["_dlt_id"]
    ]
    assert [r["_dlt_root_id"] for r in odd_rows] == [root["_dlt_id"]]

    sim.world.edit_media(odd, mentions=["@plain"])
    run_source(pipeline, _source(sim, reconcile="always"))
    assert _dispositions(pipeline)["media"] == "merge"
    _assert_equals_truth(pipeline, sim)  # the nested-list row went with its media row


def test_merges_when_the_destination_holds_rows_the_local_state_does_not_know(
    sim: Simulator, pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_source(pipeline, _source(sim))
    # a second pipeline on the same database and dataset, told not to restore dlt's state
    # from it: its own schema has never seen `media`, the destination has every row
    monkeypatch.setenv("RESTORE_FROM_DESTINATION", "false")
    stranger = make_pipeline(
        destination=dlt.destinations.duckdb(str(tmp_path / "pixlee.duckdb")),
        pipeline_name="pixlee_stranger",
        pipelines_dir=str(tmp_path / "stranger"),
        progress="log",
    )
    assert not stranger.schemas
    run_source(stranger, _source(sim))

    assert _dispositions(stranger)["media"] == "merge"
    _assert_equals_truth(stranger, sim)  # no row twice


def test_merges_while_an_extracted_package_waits(sim: Simulator, pipeline: Pipeline) -> None:
    """Two extractions before a load: the second may repeat the first one's keys."""
    pipeline.extract(_source(sim, reconcile="always"), loader_file_format="parquet")
    pipeline.extract(_source(sim, reconcile="always"), loader_file_format="parquet")
    pipeline.normalize()
    pipeline.load()

    assert _dispositions(pipeline)["media"] == "merge"  # the second package's
    _assert_equals_truth(pipeline, sim)
