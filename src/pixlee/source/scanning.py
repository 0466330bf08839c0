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
  marked from a complete scan plus a confirming lookup, never from a scan cut short; a lookup
  that fails otherwise (5xx past the retries) fails the run, it never counts as a removal.

Each page is screened first (`pixlee.source.quarantine`): items that cannot load are rejected,
the rest go on. A page the client cannot use (`PixleeContentError`) ends that album's scan as
incomplete: what it read loads, but its cursor does not move, nothing is marked removed and no
statistics are taken for it; the other albums go on.

Which loaded items a page holds, and with which `updated_at`, is read once per album from the
destination, so a run tells new, updated and unchanged media apart.

Albums may be scanned on several threads at once (`pixlee.api.concurrency`): one scan's events stay
in order, the metrics are updated under a lock, destination reads are serialised, and cursors are
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
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pixlee.api.client import PixleeClient
from pixlee.api.errors import PixleeConfigError, PixleeContentError, PixleeNotFoundError
from pixlee.api.paging import BodyReader, Page
from pixlee.api.values import to_int
from pixlee.source.arrow.album_pages import KEY, ArrowPage
from pixlee.source.arrow.json_read import ParsedPage, kept_page
from pixlee.source.metrics import AlbumScanned, RunMetrics
from pixlee.source.quarantine import ItemScreen, Rejection

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
    # the same items read as Arrow in the page thread (`pixlee.source.arrow.album_pages`), or
    # None. When set, `items` hold only the scan's fields (`album_pages.SCAN_FIELDS`, products
    # as ids): whole items come from `parsed` (`dicts()`), never from `items`
    parsed: ParsedPage | None = None


@dataclass(frozen=True)
class RemovedMedia:
    """Rows already loaded that left the album: whole rows, to merge with `removed_at` set."""

    album_id: int
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Rejected:
    """Items (or a page) kept out of the data tables, for `_pixlee_rejected`."""

    rejections: list[Rejection]


class LoadedMedia(Protocol):
    """The media rows a destination already holds (see `pixlee.source.loaded_rows`)."""

    def versions(self, album_id: int) -> dict[Any, Any] | None:
        """`album_photo_id -> updated_at` of the album's current rows; None: cannot tell."""

    def rows_with_children(self, keys: list[Any]) -> list[dict[str, Any]]:
        """Whole `media` rows for `keys`, nested lists rebuilt from their child tables."""


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


def query_fingerprint(filters: Any, sort: Any) -> str:
    """What a cursor was read with: a cursor taken under other filters or sort is not valid."""
    text = json.dumps([filters, sort], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _approved_ms(item: Mapping[str, Any]) -> int:
    value = to_int(item.get("approved_on_date"))
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _unseen(items: list[dict[str, Any]], seen: set[Any]) -> list[dict[str, Any]]:
    """The items whose key is not in `seen` (a repeat within `items` too); adds their keys."""
    fresh = []
    for item in items:
        key = item["album_photo_id"]
        if key not in seen:
            seen.add(key)
            fresh.append(item)
    return fresh


def _as_arrow(page: Page, fresh: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Any]:
    """The kept items and their Arrow page (None: the items are whole dicts).

    A page read as Arrow (`ArrowPage`) holds only the scan's fields in its dicts: its Arrow page
    is cut to the items kept, or, should that fail, the kept items are decoded whole."""
    read = page.parsed
    if not isinstance(read, ArrowPage):
        return fresh, None
    cut = kept_page(read.parsed, page.items, fresh, KEY)
    if cut is not None:
        return fresh, cut
    whole = read.parsed.dicts()  # every item, in the order of `page.items`
    position = {id(item): index for index, item in enumerate(page.items)}
    return [whole[position[id(item)]] for item in fresh], None


@dataclass
class _Scan:
    """One album's scan in progress."""

    album_id: int
    full: bool
    cursor: dict[str, Any]
    previous_watermark: int | None
    threshold: int | None
    loaded: dict[Any, Any] | None
    seen: set[Any] = field(default_factory=set)
    newest: int = 0
    pages: int = 0
    removed: int = 0


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
        destination: LoadedMedia | None,
        metrics: RunMetrics,
        screen: ItemScreen,
        read_ahead: Callable[[], int] | int = 0,
        parse: BodyReader | None = None,
    ) -> None:
        """`parse`: reads the bodies of full scans' pages first (see `PixleeClient.iter_pages`
        and `pixlee.source.arrow.album_pages`); such pages reach `media` as Arrow
        (`AlbumPage.parsed`)."""
        self._client = client
        self._parse = parse
        self._cursors = cursors
        self._filters = filters
        self._user_sort = sort
        self._reconcile_seconds = reconcile_seconds
        self._overlap_ms = int(overlap_minutes * 60_000)
        self._now = now
        self._destination = destination
        self.metrics = metrics
        self._screen = screen
        self._read_ahead = read_ahead
        self._destination_lock = threading.Lock()
        self._fingerprint = query_fingerprint(filters, sort)

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

    def scan(self, album_id: int) -> Iterator[Any]:
        """Every event of one album's scan; raises PixleeNotFoundError for an unknown album."""
        scan = self._start(album_id)
        try:
            yield from self._read_pages(scan)
            if scan.pages >= 2 and scan.threshold is not None and not self._user_sort:
                yield from self._recheck_head(scan)
            if scan.full:
                yield from self._reconcile(scan)
        except PixleeContentError as exc:
            yield from self._incomplete(scan, exc)
            return
        self.metrics.add(**{"albums_full" if scan.full else "albums_incremental": 1})
        self._advance_cursor(scan)
        yield self._scanned(scan, complete=True)

    def _advance_cursor(self, scan: _Scan) -> None:
        """After a complete scan only: the newest item seen, and when the album was last
        reconciled (an incremental scan keeps the last time, or the due full scan never comes)."""
        reconciled_at = scan.cursor.get("reconciled_at")
        if scan.full:
            reconciled_at = self._now.timestamp()
        self._cursors[str(scan.album_id)] = {
            "watermark_ms": scan.newest or scan.previous_watermark,
            "reconciled_at": reconciled_at,
            "fingerprint": self._fingerprint,
        }

    def _start(self, album_id: int) -> _Scan:
        cursor = self._cursors.get(str(album_id)) or {}
        same_query = cursor.get("fingerprint") == self._fingerprint
        previous = cursor.get("watermark_ms") if same_query else None
        threshold = None if previous is None else previous - self._overlap_ms
        loaded = self._loaded_versions(album_id)
        scan = _Scan(album_id, self.wants_full_scan(album_id), cursor, previous, threshold, loaded)
        scan.newest = previous or 0
        return scan

    def _scanned(self, scan: _Scan, complete: bool) -> AlbumScanned:
        self.metrics.add(items_read=len(scan.seen))
        return AlbumScanned(
            scan.album_id, scan.full, complete, scan.pages, len(scan.seen), scan.removed, self._now
        )

    def _read_pages(self, scan: _Scan) -> Iterator[Any]:
        # a full scan reads every page, so pages may be requested ahead; an incremental scan
        # usually ends on page 1, and a request read ahead of it would be wasted
        pages = self._client.iter_album_photos(
            scan.album_id,
            filters=self._filters,
            sort=self._user_sort or INCREMENTAL_SORT,
            read_ahead=self._read_ahead if scan.full else 0,
            parse=self._parse if scan.full else None,
        )
        for page in pages:
            scan.pages += 1
            items = yield from self._screened(page.items, scan.album_id, page.page)
            fresh = _unseen(items, scan.seen)
            scan.newest = max([scan.newest, *(_approved_ms(item) for item in fresh)])
            self._count_versions(fresh, scan.loaded)
            fresh, parsed = _as_arrow(page, fresh)
            yield AlbumPage(scan.album_id, page.page, fresh, scan.full, parsed)
            reached_old = (
                scan.threshold is not None
                and bool(page.items)
                and min(_approved_ms(item) for item in page.items) < scan.threshold
            )
            if not scan.full and (reached_old or not page.items):
                break

    def _screened(
        self, items: list[dict[str, Any]], album_id: int, page: int | None
    ) -> Generator[Rejected, None, list[dict[str, Any]]]:
        """Yields the page's rejections (if any); returns the items that load."""
        kept, rejections = self._screen.split(items, album_id=album_id, page=page)
        if rejections:
            self.metrics.add(rejected=len(rejections))
            logger.warning(
                "album %s page %s: %d item(s) quarantined in _pixlee_rejected (first: %s)",
                album_id,
                page,
                len(rejections),
                rejections[0].reason,
            )
            yield Rejected(rejections)
        return kept

    def _count_versions(self, items: list[dict[str, Any]], loaded: dict[Any, Any] | None) -> None:
        if loaded is None:
            return
        new = updated = 0
        for item in items:
            key = item["album_photo_id"]
            if key not in loaded:
                new += 1
            elif loaded[key] != item.get("updated_at"):
                updated += 1
        self.metrics.add(
            media_new=new, media_updated=updated, media_unchanged=len(items) - new - updated
        )

    def _loaded_versions(self, album_id: int) -> dict[Any, Any] | None:
        if self._destination is None:
            self.metrics.versions_unknown()
            return None
        with self._destination_lock:  # one destination connection, one reader at a time
            loaded = self._destination.versions(album_id)
        if loaded is None:
            self.metrics.versions_unknown()
        return loaded

    def _incomplete(self, scan: _Scan, exc: PixleeContentError) -> Iterator[Any]:
        what = f"album {scan.album_id} page {exc.page}" if exc.page else f"album {scan.album_id}"
        logger.warning(
            "%s could not be read (%s): recorded in _pixlee_rejected; this album's scan is "
            "incomplete (its cursor stays, nothing is marked removed), the other albums load. "
            "Rerun to read it again.",
            what,
            exc,
        )
        rejection = Rejection("media", str(exc), exc.excerpt, None, scan.album_id, exc.page)
        self.metrics.add(rejected=1)
        self.metrics.note_incomplete(what)
        yield Rejected([rejection])
        yield self._scanned(scan, complete=False)

    def _recheck_head(self, scan: _Scan) -> Iterator[Any]:
        """Re-read the head pages with a fresh `unique_id`; load what paging drift hid."""
        assert scan.threshold is not None
        for attempt in range(1, MAX_RECHECKS + 1):
            self.metrics.add(head_rechecks=1)
            # a number no run uses as its own unique_id (those are epoch ms), so never cached
            unique_id = self._client.unique_id * 10 + attempt
            missed: list[dict[str, Any]] = []
            for page in self._client.iter_album_photos(
                scan.album_id, filters=self._filters, sort=INCREMENTAL_SORT, unique_id=unique_id
            ):
                items = yield from self._screened(page.items, scan.album_id, page.page)
                recent = [item for item in items if _approved_ms(item) >= scan.threshold]
                missed.extend(_unseen(recent, scan.seen))
                oldest = min((_approved_ms(item) for item in page.items), default=None)
                if page.page >= scan.pages or oldest is None or oldest < scan.threshold:
                    break
            if not missed:
                return
            logger.info(
                "album %s: %d item(s) hidden by paging drift found", scan.album_id, len(missed)
            )
            self._count_versions(missed, scan.loaded)
            yield AlbumPage(scan.album_id, 0, missed, scan.full)

    def _reconcile(self, scan: _Scan) -> Iterator[Any]:
        """Confirm each loaded-but-unseen row with GET /media; mark the 404s removed."""
        if scan.loaded is None:
            return
        removed: list[Any] = []
        for album_photo_id in sorted(set(scan.loaded) - scan.seen):
            try:
                item = self._client.get_media(album_photo_id)
            except PixleeNotFoundError:
                removed.append(album_photo_id)
                continue
            if to_int(item.get("album_id")) != scan.album_id or item.get("approved") is False:
                removed.append(album_photo_id)
                continue
            found = yield from self._screened([item], scan.album_id, None)
            if found:
                self.metrics.add(found_by_lookup=1)
                scan.seen.add(album_photo_id)
                self._count_versions(found, scan.loaded)
                yield AlbumPage(scan.album_id, 0, found, True)
        if removed:
            yield from self._mark_removed(scan, removed)

    def _mark_removed(self, scan: _Scan, removed: list[Any]) -> Iterator[RemovedMedia]:
        assert self._destination is not None
        with self._destination_lock:
            rows = self._destination.rows_with_children(removed)
        for row in rows:
            row["removed_at"] = self._now
        scan.removed = len(rows)
        self.metrics.add(media_removed=len(rows))
        logger.info("album %s: %d item(s) left the album, marked removed", scan.album_id, len(rows))
        yield RemovedMedia(scan.album_id, rows)
