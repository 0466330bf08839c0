"""How each album is read: an incremental head scan, or a complete reconciling scan.

The API has no "updated since" filter, pages by number over data that moves, and sits behind a
2-minute CDN cache (pixlee-api.md). So, per album:

* **incremental**: newest first (`approved_time` desc), stopping at the first page that reaches
  below the previous watermark minus a safety overlap. An unchanged album costs one request.
  Content inserted at the head while paging only repeats items (dropped here by key); a removal
  during a multi-page scan could hide one item, so such scans re-read their head pages once
  with a fresh `unique_id`.
* **full** (reconciliation): every page. Edits to old content come with it, and loaded rows
  that were not seen are checked one by one with `GET /media/{id}`: a 404 marks the row removed,
  an answer means paging drift hid it, and the answer is loaded. So removals are only ever
  marked from a complete scan plus a confirming lookup, never from a scan cut short.

Albums may be scanned on several threads at once (`pixlee.api.concurrency`): one scan's events stay
in order, the report is updated under a lock, destination reads are serialised, and cursors are
plain dict assignments into the state dict the generator's thread took from dlt.

Cursors live in dlt source state, which dlt commits with the load package: a crash before the
load completes never leaves a cursor past data that did not load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pixlee.api.client import PixleeClient, RequestStats
from pixlee.api.errors import PixleeConfigError, PixleeNotFoundError
from pixlee.api.values import to_int
from pixlee.source.loaded_rows import DestinationView

logger = logging.getLogger(__name__)

INCREMENTAL_SORT = {"approved_time": True, "desc": True}
DEFAULT_RECONCILE = "1d"
DEFAULT_OVERLAP_MINUTES = 60
MAX_RECHECKS = 3
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class AlbumPage:
    """Items read from one album (a page, a re-read of the head, or confirmed lookups)."""

    album_id: int
    page: int
    items: list[dict[str, Any]]
    full_scan: bool


@dataclass(frozen=True)
class RemovedMedia:
    """Rows already loaded that left the album: whole rows, to merge with `removed_at` set."""

    album_id: int
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class AlbumScanned:
    """One album was read to the end of its scan."""

    album_id: int
    full_scan: bool


@dataclass(frozen=True)
class ScanComplete:
    """Every configured album was scanned; `all_full` when each one was a complete scan."""

    album_ids: tuple[int, ...]
    all_full: bool


ScanEvent = AlbumPage | RemovedMedia | AlbumScanned | ScanComplete


@dataclass
class ScanReport:
    """What a run's scans did, for `pixlee run` and tests."""

    full_scans: int = 0
    incremental_scans: int = 0
    items_read: int = 0
    removed: int = 0
    found_by_lookup: int = 0
    head_rechecks: int = 0
    not_found: list[str] = field(default_factory=list)
    requests: RequestStats | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: int) -> None:
        """Thread-safe increments (albums are scanned concurrently)."""
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


def parse_reconcile(value: str | int | float | None) -> float | None:
    """'always' -> 0, 'never' -> None, '7d' / '12h' / '30m' / '90s' / '2w' -> seconds."""
    if value is None:
        return parse_reconcile(DEFAULT_RECONCILE)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip().lower()
    if text == "always":
        return 0.0
    if text == "never":
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", text)
    if not match:
        raise PixleeConfigError(
            f"reconcile must be 'always', 'never' or an interval such as '7d', '12h', '30m'; "
            f"got {value!r}"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def _approved_ms(item: dict[str, Any]) -> int:
    value = to_int(item.get("approved_on_date"))
    return value if isinstance(value, int) else 0


def _key(item: dict[str, Any]) -> Any:
    return to_int(item.get("album_photo_id"))


def _unseen(items: list[dict[str, Any]], seen: set[Any]) -> list[dict[str, Any]]:
    """The items whose key is not in `seen` (a repeat within `items` too); adds their keys."""
    fresh = []
    for item in items:
        key = _key(item)
        if key not in seen:
            seen.add(key)
            fresh.append(item)
    return fresh


class AlbumScanner:
    """Reads albums as events for the source's transformers, keeping per-album cursors."""

    def __init__(
        self,
        client: PixleeClient,
        *,
        cursors: dict[str, Any],
        filters: dict[str, Any] | None,
        sort: dict[str, Any] | None,
        reconcile_seconds: float | None,
        overlap_minutes: float,
        now: datetime,
        destination: DestinationView | None,
        report: ScanReport,
        read_ahead: Callable[[], int] | int = 0,
    ) -> None:
        self._client = client
        self._cursors = cursors
        self._filters = filters
        self._user_sort = sort
        self._reconcile_seconds = reconcile_seconds
        self._overlap_ms = int(overlap_minutes * 60_000)
        self._now = now
        self._destination = destination
        self.report = report
        self._read_ahead = read_ahead
        self._destination_lock = threading.Lock()
        self._fingerprint = hashlib.sha256(
            json.dumps([filters, sort], sort_keys=True, default=str).encode()
        ).hexdigest()[:16]

    def wants_full_scan(self, album_id: int) -> bool:
        """Full when never scanned, the query changed, a custom sort, or reconciliation is due."""
        cursor = self._cursors.get(str(album_id))
        if not cursor or cursor.get("fingerprint") != self._fingerprint:
            return True
        if self._user_sort or cursor.get("watermark_ms") is None:
            return True
        if self._reconcile_seconds is None:
            return False
        last = cursor.get("reconciled_at")
        return last is None or self._now.timestamp() - float(last) >= self._reconcile_seconds

    def scan(self, album_id: int) -> Iterator[ScanEvent]:
        """Every event of one album's scan; raises PixleeNotFoundError for an unknown album."""
        full = self.wants_full_scan(album_id)
        cursor = self._cursors.get(str(album_id)) or {}
        same_query = cursor.get("fingerprint") == self._fingerprint
        previous_watermark = cursor.get("watermark_ms") if same_query else None
        threshold = None if previous_watermark is None else previous_watermark - self._overlap_ms
        seen: set[Any] = set()
        newest = previous_watermark or 0

        sort = self._user_sort or INCREMENTAL_SORT
        pages_read = 0
        # a full scan reads every page, so pages may be requested ahead; an incremental scan
        # usually ends on page 1, and a request read ahead of it would be wasted
        pages = self._client.iter_album_photos(
            album_id,
            filters=self._filters,
            sort=sort,
            read_ahead=self._read_ahead if full else 0,
        )
        for page in pages:
            pages_read += 1
            fresh = _unseen(page.items, seen)
            newest = max([newest, *(_approved_ms(item) for item in fresh)])
            yield AlbumPage(album_id, page.page, fresh, full)
            reached_old = (
                threshold is not None
                and bool(page.items)
                and min(_approved_ms(item) for item in page.items) < threshold
            )
            if not full and (reached_old or not page.items):
                break

        if pages_read >= 2 and threshold is not None and not self._user_sort:
            yield from self._recheck_head(album_id, threshold, pages_read, seen, full)

        if full:
            yield from self._reconcile(album_id, seen)
            self.report.add(full_scans=1)
        else:
            self.report.add(incremental_scans=1)
        self.report.add(items_read=len(seen))
        self._cursors[str(album_id)] = {
            "watermark_ms": newest or previous_watermark,
            "reconciled_at": self._now.timestamp() if full else cursor.get("reconciled_at"),
            "fingerprint": self._fingerprint,
        }
        yield AlbumScanned(album_id, full)

    def _recheck_head(
        self, album_id: int, threshold: int, pages: int, seen: set[Any], full: bool
    ) -> Iterator[AlbumPage]:
        """Re-read the head pages with a fresh `unique_id`; load what paging drift hid."""
        for attempt in range(1, MAX_RECHECKS + 1):
            self.report.add(head_rechecks=1)
            # a number no run uses as its own unique_id (those are epoch ms), so never cached
            unique_id = self._client.unique_id * 10 + attempt
            missed: list[dict[str, Any]] = []
            for page in self._client.iter_album_photos(
                album_id, filters=self._filters, sort=INCREMENTAL_SORT, unique_id=unique_id
            ):
                recent = [item for item in page.items if _approved_ms(item) >= threshold]
                missed.extend(_unseen(recent, seen))
                if (
                    page.page >= pages
                    or not page.items
                    or (min(_approved_ms(item) for item in page.items) < threshold)
                ):
                    break
            if not missed:
                return
            logger.info("album %s: %d item(s) hidden by paging drift found", album_id, len(missed))
            yield AlbumPage(album_id, 0, missed, full)

    def _reconcile(self, album_id: int, seen: set[Any]) -> Iterator[ScanEvent]:
        """Confirm each loaded-but-unseen row with GET /media; mark the 404s removed."""
        if self._destination is None:
            return
        with self._destination_lock:  # one destination connection, one reader at a time
            present = self._destination.present_keys(
                "media", "album_photo_id", {"album_id": album_id}
            )
        if present is None:
            return
        removed: list[Any] = []
        for album_photo_id in sorted(present - seen):
            try:
                item = self._client.get_media(album_photo_id)
            except PixleeNotFoundError:
                removed.append(album_photo_id)
                continue
            if to_int(item.get("album_id")) != album_id or item.get("approved") is False:
                removed.append(album_photo_id)
                continue
            self.report.add(found_by_lookup=1)
            seen.add(album_photo_id)
            yield AlbumPage(album_id, 0, [item], True)
        if removed:
            with self._destination_lock:
                rows = self._destination.rows_with_children("media", "album_photo_id", removed)
            for row in rows:
                row["removed_at"] = self._now
            self.report.add(removed=len(rows))
            logger.info("album %s: %d item(s) left the album, marked removed", album_id, len(rows))
            yield RemovedMedia(album_id, rows)
