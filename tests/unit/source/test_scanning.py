"""How one album is scanned, against a Pixlee of our own: when a scan is full, how far an
incremental one reads, and what its cursor says afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from pixlee import PixleeClient
from pixlee.source.metrics import AlbumScanned, RunMetrics
from pixlee.source.quarantine import ItemScreen
from pixlee.source.scanning import INCREMENTAL_SORT, AlbumPage, AlbumScanner, query_fingerprint
from tests.support.pixlee_server import PixleeServer, page, pixlee_server

ALBUM = 1001
PHOTOS = f"/albums/{ALBUM}/photos"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
W = 1_764_000_000_000  # the cursor's watermark (epoch ms)
MINUTE = 60_000


def _item(key: int, approved_ms: int) -> dict[str, Any]:
    return {"album_photo_id": key, "album_id": ALBUM, "approved_on_date": approved_ms}


@contextmanager
def _scanner(
    routes: dict[tuple[str, int | None], Any], cursors: dict[str, Any], **options: Any
) -> Iterator[tuple[AlbumScanner, PixleeServer]]:
    with pixlee_server(routes) as server:
        client = PixleeClient(api_key="k", base_url=server.base_url, rate_limit_per_minute=0)
        scanner = AlbumScanner(
            client,
            cursors=cursors,
            filters=options.get("filters"),
            sort=options.get("sort"),
            reconcile_seconds=options.get("reconcile_seconds", 86400.0),
            overlap_minutes=60,
            now=NOW,
            destination=None,
            metrics=RunMetrics(),
            screen=ItemScreen("media", "album_photo_id", None),
        )
        yield scanner, server


def _cursor(filters: Any = None, sort: Any = None, reconciled: datetime | None = None) -> dict:
    reconciled_at = (reconciled or NOW - timedelta(hours=1)).timestamp()
    return {
        str(ALBUM): {
            "watermark_ms": W,
            "reconciled_at": reconciled_at,
            "fingerprint": query_fingerprint(filters, sort),
        }
    }


def _handed(events: list[Any]) -> list[int]:
    return [i["album_photo_id"] for e in events if isinstance(e, AlbumPage) for i in e.items]


def _pages_read(server: PixleeServer) -> list[str]:
    return [q["page"] for path, q in server.requests if path == PHOTOS]


def _last(events: list[Any]) -> AlbumScanned:
    assert isinstance(events[-1], AlbumScanned)
    return events[-1]


def test_an_incremental_scan_reads_into_the_overlap_below_the_watermark() -> None:
    """Page 1 reaches below the watermark but not below watermark - overlap: page 2 holds an
    item approved 30 minutes before the watermark (approved late), and it must be read."""
    routes = {
        (PHOTOS, 1): page([_item(3, W + 10), _item(2, W - 1000)], 1, has_next=True),
        (PHOTOS, 2): page([_item(1, W - 30 * MINUTE)], 2),
    }
    with _scanner(routes, _cursor()) as (scanner, server):
        events = list(scanner.scan(ALBUM))
    assert _last(events).full_scan is False
    assert _handed(events) == [3, 2, 1]
    assert _pages_read(server)[:2] == ["1", "2"]


def test_the_watermark_advances_to_the_newest_item_read() -> None:
    cursors: dict[str, Any] = {}
    routes = {(PHOTOS, 1): page([_item(2, W), _item(1, W - MINUTE)])}
    with _scanner(routes, cursors) as (scanner, _):
        list(scanner.scan(ALBUM))
    assert cursors[str(ALBUM)]["watermark_ms"] == W
    routes[(PHOTOS, 1)] = page([_item(3, W + 5 * MINUTE), _item(2, W), _item(1, W - MINUTE)])
    with _scanner(routes, cursors) as (scanner, _):
        events = list(scanner.scan(ALBUM))
    assert _last(events).full_scan is False
    assert cursors[str(ALBUM)]["watermark_ms"] == W + 5 * MINUTE


def test_an_incremental_scan_keeps_the_time_of_the_last_reconciliation() -> None:
    """Otherwise every incremental run would push the due full scan a day further."""
    reconciled = NOW - timedelta(hours=20)
    cursors = _cursor(reconciled=reconciled)
    routes = {(PHOTOS, 1): page([_item(2, W), _item(1, W - 2 * 60 * MINUTE)])}
    with _scanner(routes, cursors) as (scanner, _):
        events = list(scanner.scan(ALBUM))
    assert _last(events).full_scan is False
    assert cursors[str(ALBUM)]["reconciled_at"] == reconciled.timestamp()
    with _scanner(routes, cursors) as (scanner, _):
        assert scanner.wants_full_scan(ALBUM) is False
    # once it is due, the scan is full and the time moves
    late = _cursor(reconciled=NOW - timedelta(days=1, seconds=1))
    with _scanner(routes, late) as (scanner, _):
        assert _last(list(scanner.scan(ALBUM))).full_scan is True
    assert late[str(ALBUM)]["reconciled_at"] == NOW.timestamp()


def test_a_custom_sort_always_scans_the_whole_album() -> None:
    """Under another order the watermark says nothing about where new content is."""
    sort = {"approved_time": True, "asc": True}
    routes = {
        (PHOTOS, 1): page([_item(1, W - 9 * 60 * MINUTE)], 1, has_next=True),
        (PHOTOS, 2): page([_item(2, W + MINUTE)], 2),
    }
    with _scanner(routes, _cursor(sort=sort), sort=sort) as (scanner, server):
        events = list(scanner.scan(ALBUM))
    assert _last(events).full_scan is True
    assert _handed(events) == [1, 2]
    assert {q["sort"] for _, q in server.requests} == {'{"approved_time":true,"asc":true}'}


def test_changed_filters_scan_the_whole_album_again() -> None:
    """The cursor was taken under other filters: content the new filters admit may lie
    anywhere below its watermark."""
    old, new = {"content_type": ["image"]}, {"content_type": ["video"]}
    routes = {
        (PHOTOS, 1): page([_item(3, W - 2 * 60 * MINUTE)], 1, has_next=True),
        (PHOTOS, 2): page([_item(2, W - 5 * 60 * MINUTE)], 2),
    }
    with _scanner(routes, _cursor(filters=old), filters=new) as (scanner, server):
        assert scanner.wants_full_scan(ALBUM) is True
        events = list(scanner.scan(ALBUM))
    assert _handed(events) == [3, 2]
    assert _pages_read(server) == ["1", "2"]
    with _scanner(routes, _cursor(filters=old), filters=old) as (scanner, _):
        assert scanner.wants_full_scan(ALBUM) is False


def test_incremental_scans_read_newest_first() -> None:
    routes = {(PHOTOS, 1): page([_item(1, W)])}
    with _scanner(routes, _cursor()) as (scanner, server):
        list(scanner.scan(ALBUM))
    sent = {q.get("sort") for _, q in server.requests}
    assert sent == {'{"approved_time":true,"desc":true}'} and INCREMENTAL_SORT["desc"] is True
