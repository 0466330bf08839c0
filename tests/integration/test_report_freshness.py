"""Section 6 from the source's run tables: `_pixlee_runs` and `_pixlee_album_scans`.

When the source does not write them yet, the test writes rows with the same columns into the
dataset itself (through dlt, in the source's schema), with known values; either way the
numbers must equal SQL of our own over those tables.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline import run_source
from pixlee.report import collect_report, write_report
from pixlee.simulator import Simulator
from pixlee.source import pixlee_source

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _runs(album_ids: list[int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    runs = [
        {
            "load_id": f"17000000{i}.0",
            "started_at": T0 + timedelta(hours=i),
            "finished_at": T0 + timedelta(hours=i, minutes=2),
            "requests": 100 + i,
            "retries": i,
            "rate_limited": 2 if i == 1 else 0,
            "waited_on_429_seconds": 3.5 if i == 1 else 0.0,
            "albums_full": 2 if i == 0 else 0,
            "albums_incremental": 0 if i == 0 else 2,
            "items_read": 40,
            "media_new": 40 if i == 0 else 0,
            "media_updated": 0,
            "media_unchanged": 0 if i == 0 else 40,
            "media_removed": 0,
            "rejected": 0,
            "not_found": 0,
        }
        for i in range(3)
    ]
    a, b = album_ids[:2]
    scan = {"pages": 1, "items": 20, "removed": 0}
    scans = [
        {"load_id": runs[0]["load_id"], "album_id": a, "scanned_at": T0, "full_scan": True,
         "complete": True, **scan},
        {"load_id": runs[0]["load_id"], "album_id": b, "scanned_at": T0 + timedelta(minutes=1),
         "full_scan": True, "complete": True, **scan},
        {"load_id": runs[1]["load_id"], "album_id": a, "scanned_at": T0 + timedelta(hours=1),
         "full_scan": False, "complete": True, **scan},
        # cut short: not a scan the album can be called fresh by
        {"load_id": runs[2]["load_id"], "album_id": a, "scanned_at": T0 + timedelta(hours=2),
         "full_scan": True, "complete": False, **scan},
    ]  # fmt: skip
    return runs, scans


def _write_run_tables(pipeline: Pipeline, album_ids: list[int]) -> None:
    runs, scans = _runs(album_ids)
    pipeline.run(
        [
            dlt.resource(
                runs, name="_pixlee_runs", primary_key="load_id", write_disposition="merge"
            ),
            dlt.resource(
                scans,
                name="_pixlee_album_scans",
                primary_key=("load_id", "album_id"),
                write_disposition="merge",
            ),
        ],
        schema=pipeline.default_schema,
    )


def _one(db: Path, sql: str) -> tuple[Any, ...]:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return tuple(row)


def test_freshness_reads_the_run_tables(
    shared_sim: Simulator, pipeline: Pipeline, tmp_path: Path
) -> None:
    album_ids = [a["id"] for a in shared_sim.truth_albums() if a["album_type"] == "standard"]
    source = pixlee_source(
        api_key=shared_sim.config.api_key, base_url=shared_sim.base_url, album_ids=album_ids[:2]
    )
    run_source(pipeline, source)
    written_here = "_pixlee_runs" not in pipeline.default_schema.tables
    if written_here:
        _write_run_tables(pipeline, album_ids)
    db = tmp_path / "pixlee.duckdb"
    report = collect_report(pipeline)
    section = report.section("freshness")
    numbers = {n.key: n.value for n in section.numbers}
    assert {n.source for n in section.numbers} <= {"album_scans", "runs_totals"}
    assert section.state_sources == [] and section.missing == []

    last = "SELECT * FROM pixlee_data._pixlee_runs ORDER BY started_at DESC, load_id DESC LIMIT 20"
    runs, requests, rate_limited, waited, finished = _one(
        db,
        "SELECT count(*), sum(requests), sum(rate_limited), sum(waited_on_429_seconds), "
        f"max(finished_at) FROM ({last})",
    )
    assert numbers["runs"] == runs and numbers["requests"] == requests
    assert numbers["rate_limited"] == rate_limited
    assert numbers["waited_on_429_seconds"] == round(float(waited or 0), 1)
    assert numbers["last_finished"] == finished.astimezone(UTC)
    albums, oldest_full = _one(
        db,
        "SELECT count(*), min(last_full) FROM (SELECT album_id, "
        "max(CASE WHEN full_scan THEN scanned_at END) AS last_full "
        "FROM pixlee_data._pixlee_album_scans WHERE complete GROUP BY album_id)",
    )
    assert numbers["albums_scanned"] == albums
    assert numbers["oldest_full_scan"] == oldest_full.astimezone(UTC)
    assert [c.key for c in section.charts] == ["album_scans", "recent_runs"]
    if written_here:  # the values this test wrote, read back through the report
        assert (numbers["runs"], numbers["requests"], numbers["rate_limited"]) == (3, 303, 2)
        assert numbers["waited_on_429_seconds"] == 3.5
        assert numbers["oldest_full_scan"] == T0  # album a's incomplete scan is not counted
        scans = {row[0]: row[2:] for row in section.table("album_scans").rows}
        assert scans[album_ids[0]] == ("2026-03-02 09:00", "2026-03-02 10:00")
        assert scans[album_ids[1]] == ("2026-03-02 09:01", "")
    write_report(report, tmp_path / "report.html")
