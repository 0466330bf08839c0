"""A bad item never blocks the account: against a Pixlee of our own serving poison items, odd
album ids and colliding keys, every other item loads, the bad ones land in `_pixlee_rejected`,
the key columns keep their types, and the next run against a healthy server succeeds."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline

from pixlee import pixlee_source
from pixlee.pipeline import make_pipeline, run_source
from pixlee.source import last_run_metrics
from tests.support.dataset import rows
from tests.support.pixlee_server import page, pixlee_server

GOOD_ALBUM, OTHER_ALBUM = 1001, 1003
BASE_MS = 1_764_000_000_000


def _item(key: Any, album_id: int = GOOD_ALBUM, **fields: Any) -> dict[str, Any]:
    item = {
        "id": 5_000_000 + (key if isinstance(key, int) else 0),
        "album_photo_id": key,
        "album_id": album_id,
        "title": f"caption {key}",
        "approved_on_date": BASE_MS - (key if isinstance(key, int) else 0) * 60_000,
        "updated_at": BASE_MS,
        "content_type": "image",
        "source": "instagram",
        "tag_album_ids": [],
        "products": [{"id": 77, "title": "Ring", "price": 10.5}],
        "pixlee_cdn_photos": {"medium_url": f"https://cdn/{key}.jpg"},
        "uploader_additional_fields": {"Title": "Ms", "title": "title field", "Email": "a@b"},
    }
    item.update(fields)
    return item


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        node = {"n": node}
    return node


def _albums(*ids: Any) -> dict[str, Any]:
    return page([{"id": i, "title": f"album {i}", "album_type": "standard"} for i in ids])


POISON = [
    {"album_photo_id": "abc"},
    {"album_photo_id": None},
    {"album_photo_id": 1e20},
    {"album_photo_id": 1002.0},
    {"album_photo_id": 20, "deep": _deep(300)},
]
GOOD_KEYS = [1, 2, 3, 4]


def _routes(poison: bool) -> dict[tuple[str, int | None], Any]:
    good = [_item(k) for k in GOOD_KEYS]
    bad = [_item(p["album_photo_id"], **p) for p in POISON] if poison else []
    return {
        ("/albums", 1): _albums(GOOD_ALBUM, "1001x", 1002.0, OTHER_ALBUM),
        (f"/albums/{GOOD_ALBUM}/photos", 1): page([*good[:2], *bad, *good[2:]]),
        (f"/albums/{OTHER_ALBUM}/photos", 1): page([_item(30, OTHER_ALBUM)]),
    }


def _pipeline(tmp_path: Path, name: str) -> Pipeline:
    return make_pipeline(
        destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
        pipeline_name=name,
        pipelines_dir=str(tmp_path / "pipelines"),
        progress="log",
    )


def _column_type(pipeline: Pipeline, table: str, column: str) -> str:
    with pipeline.sql_client() as client:
        sql = (
            "SELECT data_type FROM information_schema.columns "
            f"WHERE table_schema = '{pipeline.dataset_name}' AND table_name = '{table}' "
            f"AND column_name = '{column}'"
        )
        return str(client.execute_sql(sql)[0][0])


@pytest.mark.parametrize("use_arrow", [True, False])
def test_poison_items_are_quarantined_and_everything_else_loads(
    tmp_path: Path, use_arrow: bool, caplog: pytest.LogCaptureFixture
) -> None:
    routes = _routes(poison=True)
    pipeline = _pipeline(tmp_path, f"poison_{use_arrow}")
    with pixlee_server(routes) as server, caplog.at_level(logging.WARNING, logger="pixlee"):
        source = pixlee_source(api_key="k", base_url=server.base_url, use_arrow=use_arrow)
        info = run_source(pipeline, source)
    assert not info.has_failed_jobs
    loaded = sorted(r["album_photo_id"] for r in rows(pipeline, "media"))
    assert loaded == [*GOOD_KEYS, 30]
    assert {r["id"] for r in rows(pipeline, "albums")} == {GOOD_ALBUM, OTHER_ALBUM}
    assert _column_type(pipeline, "media", "album_photo_id") == "BIGINT"
    assert _column_type(pipeline, "albums", "id") == "BIGINT"

    rejected = rows(pipeline, "_pixlee_rejected", '"table", key')
    by_key = {(r["table"], r["key"]): r for r in rejected}
    assert set(by_key) == {
        ("albums", "1001x"),
        ("albums", "1002.0"),
        ("media", "abc"),
        ("media", None),
        ("media", "1e+20"),
        ("media", "1002.0"),
        ("media", "20"),
    }
    abc = by_key[("media", "abc")]
    assert (abc["album_id"], abc["page"]) == (GOOD_ALBUM, 1)
    assert abc["reason"] == "album_photo_id is not an integer: abc"
    assert json.loads(abc["raw_json"])["title"] == "caption abc"
    assert by_key[("media", "20")]["reason"].startswith("cannot be laid out as a row")
    assert {r["load_id"] for r in rejected} == {info.loads_ids[0]}

    metrics = last_run_metrics(pipeline)
    assert metrics is not None and metrics["rejected"] == 7
    warnings = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "an album was rejected (id is not an integer: 1001x)" in warnings
    assert "5 item(s) quarantined in _pixlee_rejected" in warnings

    # nothing left behind that could never normalize: a healthy server, and the next run works
    with pixlee_server(_routes(poison=False)) as server:
        run_source(pipeline, pixlee_source(api_key="k", base_url=server.base_url))
    assert not pipeline.has_pending_data
    assert sorted(r["album_photo_id"] for r in rows(pipeline, "media")) == [*GOOD_KEYS, 30]


@pytest.fixture()
def colliding_loads(tmp_path: Path) -> Iterator[dict[bool, Pipeline]]:
    routes = _routes(poison=False)
    loads = {}
    with pixlee_server(routes) as server:
        for use_arrow in (True, False):
            pipeline = _pipeline(tmp_path, f"collide_{use_arrow}")
            source = pixlee_source(api_key="k", base_url=server.base_url, use_arrow=use_arrow)
            run_source(pipeline, source.with_resources("media"))
            loads[use_arrow] = pipeline
    yield loads


def test_colliding_field_names_are_both_kept_on_both_paths(
    colliding_loads: dict[bool, Pipeline],
) -> None:
    for pipeline in colliding_loads.values():
        by_key = {r["album_photo_id"]: r for r in rows(pipeline, "media")}
        row = by_key[1]
        assert row["uploader_additional_fields__title"] == "Ms"
        assert row["uploader_additional_fields__title_2"] == "title field"
        assert row["uploader_additional_fields__email"] == "a@b"
    arrow, normalizer = (
        set(colliding_loads[flag].default_schema.get_table_columns("media"))
        for flag in (True, False)
    )
    assert arrow == normalizer


def test_an_unusable_page_costs_only_its_album(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Page 2 of one album cannot be used: that album is incomplete (no cursor, no statistics,
    nothing marked removed), the page is recorded, the other album loads, and the run says so."""
    routes = _routes(poison=False)
    routes[(f"/albums/{GOOD_ALBUM}/photos", 1)] = page([_item(1), _item(2)], 1, has_next=True)
    # a body that is not JSON, answered with 200: a content error of that page, not retried
    routes[(f"/albums/{GOOD_ALBUM}/photos", 2)] = b"<html>"
    pipeline = _pipeline(tmp_path, "content_error")
    with pixlee_server(routes) as server, caplog.at_level(logging.WARNING, logger="pixlee"):
        run_source(pipeline, pixlee_source(api_key="k", base_url=server.base_url))
    assert sorted(r["album_photo_id"] for r in rows(pipeline, "media")) == [1, 2, 30]
    [rejection] = [r for r in rows(pipeline, "_pixlee_rejected") if r["table"] == "media"]
    assert (rejection["album_id"], rejection["page"], rejection["raw_json"]) == (
        GOOD_ALBUM,
        2,
        '"<html>"',
    )
    scans = {r["album_id"]: r for r in rows(pipeline, "_pixlee_album_scans")}
    assert (scans[GOOD_ALBUM]["complete"], scans[OTHER_ALBUM]["complete"]) == (False, True)
    assert {r["album_id"] for r in rows(pipeline, "statistics")} == {OTHER_ALBUM}
    cursors = pipeline.state["sources"]["pixlee"]["album_cursors"]
    assert set(cursors) == {str(OTHER_ALBUM)}
    [run] = rows(pipeline, "_pixlee_runs")
    assert json.loads(run["incomplete"]) == [f"album {GOOD_ALBUM} page 2"]
    assert "categories" not in pipeline.default_schema.data_table_names() or not rows(
        pipeline, "categories"
    )
    assert any(
        f"album {GOOD_ALBUM} page 2 could not be read" in r.getMessage() for r in caplog.records
    )


def test_pixlee_run_with_an_incomplete_album_says_so_and_exits_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Everything else loaded, but a run that skipped part of an album is not plain success."""
    from typer.testing import CliRunner

    from pixlee.cli import app

    routes = _routes(poison=False)
    routes[(f"/albums/{GOOD_ALBUM}/photos", 1)] = page([_item(1), _item(2)], 1, has_next=True)
    routes[(f"/albums/{GOOD_ALBUM}/photos", 2)] = b"<html>"
    with pixlee_server(routes) as server:
        monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__API_KEY", "k")
        monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__BASE_URL", server.base_url)
        result = CliRunner().invoke(app, ["run", "--progress", "log"])
    output = result.stdout + result.stderr
    assert result.exit_code == 1, output
    assert "3 new, 0 updated, 0 unchanged, 0 marked removed" in output
    assert (
        f"Error: incomplete: album {GOOD_ALBUM} page 2 could not be read (see _pixlee_rejected); "
        "everything else loaded. Run again to read it." in result.stderr
    )
