"""Section 6, freshness: when each album was last scanned, and what the last runs cost.

The source records each run in `_pixlee_runs` (requests, retries, 429s, seconds waited) and
each album's scan in `_pixlee_album_scans`; the section reads those with SQL. A dataset
loaded by a source from before those tables still gets the section, from what dlt keeps:
`_dlt_loads` (SQL), the pipeline state's `album_cursors` (when each album last had a full,
reconciling scan) and `pipeline.last_trace` (the last run's steps). Numbers read outside SQL
say where they came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pixlee.report import charts
from pixlee.report import queries as q
from pixlee.report.model import Chart, Number, Section, Table
from pixlee.report.reader import DatasetReader
from pixlee.report.sections import count, note_empty, numbers_from, run_all, utc

STATE = "pipeline state"
TRACE = "pipeline trace"


def freshness_section(reader: DatasetReader) -> Section:
    section = Section(
        "freshness",
        "6. Freshness",
        "How current is this data, and what did loading it cost in requests and 429s?",
    )
    if reader.has(q.ALBUM_SCANS):
        _scans_from_table(section, reader)
    else:
        _scans_from_state(section, reader)
    if reader.has(q.RUNS):
        _runs_from_table(section, reader)
    else:
        _runs_from_loads(section, reader)
    section.notes = [note for note in section.notes if note]
    return section


def _scan_chart(section: Section, source: str, rows: list[tuple[Any, ...]]) -> None:
    """`rows`: (album id, title, last full scan, last incremental scan)."""
    names = [f"{title or album_id} ({album_id})" for album_id, title, *_ in rows]
    series = {
        "last full scan": [utc(row[2]) for row in rows],
        "last incremental scan": [utc(row[3]) for row in rows],
    }
    figure = charts.timeline("Last scans of each album", names, series)
    section.charts.append(Chart("album_scans", figure, source))
    table_rows = [(r[0], r[1], _minute(r[2]), _minute(r[3])) for r in rows]
    headers = ("album", "title", "last full scan", "last incremental scan")
    section.tables.append(Table("album_scans", "Albums", headers, table_rows, source))


def _scans_from_table(section: Section, reader: DatasetReader) -> None:
    (scans,) = run_all(reader, section, q.album_scans())
    if not note_empty(section, scans, "No album scan recorded yet."):
        return
    records = scans.records()
    fulls = [t for t in (utc(r["last_full_scan"]) for r in records) if t is not None]
    number = numbers_from(scans)
    section.numbers += [
        number("albums_scanned", "Albums scanned", len(records)),
        number("oldest_full_scan", "Least recent full scan", min(fulls, default=None), "time"),
        number("last_scan", "Last scan", _latest(r["last_scan"] for r in records), "time"),
    ]
    rows = [
        (r["album_id"], r["title"], r["last_full_scan"], r["last_incremental_scan"])
        for r in records
    ]
    _scan_chart(section, scans.query.key, rows)


def album_cursors(pipeline: Any) -> dict[str, Any]:
    """The source's per-album cursors from the pipeline state ({} when there are none)."""
    from pixlee.source.settings import CURSORS_STATE_KEY, SOURCE_NAME

    sources = pipeline.state.get("sources") or {}
    cursors = (sources.get(SOURCE_NAME) or {}).get(CURSORS_STATE_KEY) or {}
    return dict(cursors) if isinstance(cursors, dict) else {}


def _scans_from_state(section: Section, reader: DatasetReader) -> None:
    cursors = album_cursors(reader.pipeline)
    if not cursors:
        section.notes.append("No album scan recorded: the pipeline state has no album cursors.")
        return
    (titles,) = run_all(reader, section, q.album_titles())
    title_of = {row[0]: row[1] for row in titles.rows}
    rows = []
    for key in sorted(cursors, key=lambda k: float(cursors[k].get("reconciled_at") or 0)):
        reconciled = cursors[key].get("reconciled_at")
        full = None if reconciled is None else datetime.fromtimestamp(float(reconciled), UTC)
        album_id = int(key) if key.isdigit() else key
        rows.append((album_id, title_of.get(album_id), full, None))
    fulls = [row[2] for row in rows if row[2] is not None]
    oldest = min(fulls, default=None)
    section.numbers += [
        Number("albums_scanned", "Albums scanned", len(rows), STATE),
        Number("oldest_full_scan", "Least recent full scan", oldest, STATE, "time"),
    ]
    section.state_sources.append(
        "Album scans: pipeline.state['sources']['pixlee']['album_cursors'][album]"
        "['reconciled_at'] is each album's last full (reconciling) scan. This dataset has no "
        "_pixlee_album_scans table (a source version before it), so incremental scans are "
        "not recorded."
    )
    _scan_chart(section, STATE, rows)


def _runs_from_table(section: Section, reader: DatasetReader) -> None:
    recent, totals = run_all(reader, section, q.recent_runs(), q.runs_totals())
    if note_empty(section, totals, "No run recorded yet."):
        row, number = totals.first(), numbers_from(totals)
        waited = round(float(row["waited_on_429_seconds"] or 0.0), 1)
        section.numbers += [
            number("runs", "Runs (last 20)", count(row["runs"])),
            number("requests", "Requests made", count(row["requests"])),
            number("retries", "Requests retried", count(row["retries"])),
            number("rate_limited", "Answered 429", count(row["rate_limited"])),
            number("waited_on_429_seconds", "Waited on 429", waited, "seconds"),
            number("last_finished", "Last run finished", utc(row["last_finished"]), "time"),
        ]  # fmt: skip
    if note_empty(section, recent, ""):
        records = list(reversed(recent.records()))  # oldest first, left to right
        runs = [f"{_minute(r['started_at'])} · {r['load_id']}" for r in records]
        series = {
            "requests": [count(r["requests"]) for r in records],
            "retried": [count(r["retries"]) for r in records],
            "answered 429": [count(r["rate_limited"]) for r in records],
        }
        figure = charts.runs_chart(recent.query.title, runs, series)
        section.charts.append(Chart(recent.query.key, figure, recent.query.key))


def _runs_from_loads(section: Section, reader: DatasetReader) -> None:
    schema = reader.pipeline.default_schema_name or ""
    (loads,) = run_all(reader, section, q.recent_loads(schema))
    if note_empty(section, loads, "No load recorded yet."):
        records = loads.records()
        number = numbers_from(loads)
        section.numbers += [
            number("loads", "Loads (last 20)", len(records)),
            number("last_load", "Last load", _latest(r["inserted_at"] for r in records), "time"),
        ]
        per_day: dict[str, int] = {}
        for record in reversed(records):
            day = f"{utc(record['inserted_at']):%Y-%m-%d}"
            per_day[day] = per_day.get(day, 0) + 1
        figure = charts.horizontal_bars(
            "Loads per day (the last 20)", list(per_day), list(per_day.values()), "loads"
        )
        section.charts.append(Chart(loads.query.key, figure, loads.query.key))  # fmt: skip
    section.numbers += _trace_numbers(reader.pipeline)
    section.notes.append(
        "Requests and 429s per run are not in this dataset: it has no _pixlee_runs table "
        "(loaded by a source version before it). Run `pixlee run` again to record them."
    )


def _trace_numbers(pipeline: Any) -> list[Number]:
    """The last run's start and duration from dlt's trace (kept in the pipeline folder)."""
    trace = getattr(pipeline, "last_trace", None)
    started = utc(getattr(trace, "started_at", None))
    finished = utc(getattr(trace, "finished_at", None))
    if started is None:
        return []
    numbers = [Number("last_run_started", "Last run started (trace)", started, TRACE, "time")]
    if finished is not None:
        seconds = round((finished - started).total_seconds(), 1)
        numbers.append(Number("last_run_seconds", "Last run took", seconds, TRACE, "seconds"))
    return numbers


def _latest(values: Iterable[Any]) -> datetime | None:
    return max((t for t in map(utc, values) if t is not None), default=None)


def _minute(value: Any) -> str:
    moment = utc(value)
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M}"
