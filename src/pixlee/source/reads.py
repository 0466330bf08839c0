"""Everything a run reads from Pixlee, as one ordered stream of events.

The album list, every album's scan, every SKU's content and the extra endpoints are read here,
concurrently under the client's one pacer and in-flight bound (`pixlee.api.concurrency`); each
album's (or SKU's) events stay in order, albums interleave. The source's resources are
transformers over this stream, so one read feeds every table, selecting any of them
(`with_resources`) reads only what they need, and `ReadsComplete` comes after every request of
the run: the run metrics it carries are whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dlt

from pixlee.api.concurrency import ReadAhead, interleave
from pixlee.api.errors import PixleeContentError, PixleeNotFoundError
from pixlee.api.paging import BodyReader
from pixlee.source.destination import running_pipeline_with_destination
from pixlee.source.loaded_rows import DestinationView
from pixlee.source.metrics import AlbumScanned
from pixlee.source.progress import ReadProgress, running_collector
from pixlee.source.quarantine import ItemScreen, Rejection
from pixlee.source.run import ExtraEndpoint, PixleeRun, RunState, Sequenced
from pixlee.source.scanning import AlbumPage, AlbumScanner, Rejected
from pixlee.source.settings import (
    ALBUM_SCANS,
    ALBUMS,
    CATEGORIES,
    CURSORS_STATE_KEY,
    MEDIA,
    PRODUCT_MEDIA,
    PRODUCTS,
    SOURCE_NAME,
    STATISTICS,
)

logger = logging.getLogger(__name__)

# resources fed by album scans
ALBUM_CONSUMERS = frozenset({MEDIA, PRODUCTS, STATISTICS, CATEGORIES, ALBUM_SCANS})
# Events (pages, mostly) waiting for dlt between the scan threads and the resources. At the
# API's pace they are taken as they come; locally, where dlt is the slower side, each waiting
# page holds its body and its Arrow read (~0.6 MB): 4 instead of 2 per thread (32) measured
# -40 MB peak at 200,000 media and no slower.
QUEUED_EVENTS = 4


@dataclass(frozen=True)
class AlbumList:
    """The albums GET /albums lists (rows of `albums`)."""

    albums: list[dict[str, Any]]


@dataclass(frozen=True)
class SkuPage:
    """A page of one SKU's content (GET /albums/from_sku)."""

    sku: str
    items: list[dict[str, Any]]


@dataclass(frozen=True)
class EndpointPage:
    """A page of an extra endpoint."""

    name: str
    items: list[dict[str, Any]]


@dataclass(frozen=True)
class ReadsComplete:
    """Every read of the run is done; `all_full` when every album got a complete full scan."""

    album_ids: tuple[int, ...]
    all_full: bool
    finished_at: datetime


def _wanted() -> set[str] | None:
    """Names of the resources selected in this extraction (None: not known, read all)."""
    try:
        return set(dlt.current.source().resources.selected)
    except Exception:
        return None


def read_events(run: PixleeRun) -> Iterator[Sequenced]:
    """The stream, each event numbered (see `InOrder`)."""
    for seq, event in enumerate(_events(run)):
        yield Sequenced(seq, event)


def _events(run: PixleeRun) -> Iterator[Any]:
    """The album list (when needed), then every scan, then `ReadsComplete`."""
    state = run.state()
    wanted = _wanted()
    albums_wanted = wanted is None or bool(wanted & ALBUM_CONSUMERS)
    tasks: list[Callable[[], Iterator[Any]]] = []
    album_ids: list[int] = []
    listed: list[dict[str, Any]] = []
    progress = ReadProgress(running_collector(), lambda: run.client.stats)
    # before the first request: deciding on Arrow prepares it (see `arrow.pandas_bridge`)
    read_media = albums_wanted and (wanted is None or MEDIA in wanted)
    parse = state.media_items.body_parser() if read_media else None
    if wanted is None or {ALBUMS, CATEGORIES} & wanted or (albums_wanted and run.album_ids is None):
        listed = state.directory.albums()
        yield AlbumList(listed)
        if state.directory.rejections:
            state.metrics.add(rejected=len(state.directory.rejections))
            yield Rejected(list(state.directory.rejections))
    pipeline = running_pipeline_with_destination()
    destination = None if pipeline is None else DestinationView(pipeline, SOURCE_NAME)
    if albums_wanted:
        album_ids = run.album_ids or [album["id"] for album in state.directory.albums()]
        progress.expect(listed, album_ids)
        tasks.extend(_album_tasks(run, state, album_ids, destination, parse))
    if wanted is None or PRODUCT_MEDIA in wanted:
        tasks.extend(_sku_task(run, state, sku) for sku in run.skus)
    for endpoint in run.endpoints:
        if wanted is None or endpoint.name in wanted:
            tasks.append(_endpoint_task(run, state, endpoint))
    workers = run.config.max_in_flight
    scanned: list[AlbumScanned] = []
    try:
        for event in interleave(tasks, workers=workers, max_buffered=QUEUED_EVENTS):
            if isinstance(event, AlbumPage):
                progress.media(event.album_id, len(event.items))
            elif isinstance(event, AlbumScanned):
                scanned.append(event)
                progress.album_done(event.album_id)
            yield event
    finally:
        if destination is not None:
            destination.close()
    all_full = all(scan.full_scan and scan.complete for scan in scanned)
    done = tuple(scan.album_id for scan in scanned)
    yield ReadsComplete(done, all_full and bool(scanned), datetime.now(tz=UTC))


def _album_tasks(
    run: PixleeRun,
    state: RunState,
    album_ids: list[int],
    destination: DestinationView | None,
    parse: BodyReader | None,
) -> list[Callable[[], Iterator[Any]]]:
    """One scan task per album; `parse` (media as Arrow) reads full scans' pages a second way
    in the page threads, so `media` builds its tables without walking dicts."""
    read_ahead = ReadAhead(run.config.max_in_flight)
    scanner = AlbumScanner(
        run.client,
        cursors=dlt.current.source_state().setdefault(CURSORS_STATE_KEY, {}),
        filters=run.config.filters,
        sort=run.config.sort,
        reconcile_seconds=run.reconcile_seconds,
        overlap_minutes=run.config.incremental_overlap_minutes,
        now=state.started_at,
        destination=destination,
        metrics=state.metrics,
        # colliding names are renamed where rows meet dlt's normalizer (see MediaItems)
        screen=ItemScreen(MEDIA, "album_photo_id", None, tagged_products=True),
        read_ahead=read_ahead.window,
        parse=parse,
    )

    def album_scan(album_id: int) -> Callable[[], Iterator[Any]]:
        def scan() -> Iterator[Any]:
            read_ahead.started()
            try:
                yield from scanner.scan(album_id)
            except PixleeNotFoundError as exc:
                logger.warning(
                    "Pixlee album %s was not found (404) and was skipped; check album_ids. %s",
                    album_id,
                    exc,
                )
                state.metrics.note_not_found(f"album {album_id}")
            finally:
                read_ahead.finished()

        return scan

    # once each: `media` relies on one scan per album and run to hand dlt each key once
    return [album_scan(album_id) for album_id in dict.fromkeys(album_ids)]


def _sku_task(run: PixleeRun, state: RunState, sku: str) -> Callable[[], Iterator[Any]]:
    """A SKU's pages one after another (its content is often one page: reading ahead would
    mostly spend requests past the end)."""
    screen = ItemScreen(PRODUCT_MEDIA, "album_photo_id", None)

    def read() -> Iterator[Any]:
        try:
            for page in run.client.iter_sku_photos(
                sku, filters=run.config.filters, sort=run.config.sort
            ):
                kept, rejected = screen.split(page.items, page=page.page, sku=sku)
                if rejected:
                    state.metrics.add(rejected=len(rejected))
                    yield Rejected(rejected)
                if kept:
                    yield SkuPage(sku, kept)
        except PixleeNotFoundError as exc:
            logger.warning("Pixlee SKU %r was not found (404) and was skipped. %s", sku, exc)
            state.metrics.note_not_found(f"sku {sku}")
        except PixleeContentError as exc:
            logger.warning("SKU %r page %s could not be read (%s)", sku, exc.page, exc)
            state.metrics.add(rejected=1)
            state.metrics.note_incomplete(f"sku {sku} page {exc.page}")
            yield Rejected(
                [Rejection(PRODUCT_MEDIA, str(exc), exc.excerpt, page=exc.page, sku=sku)]
            )

    return read


def _endpoint_task(
    run: PixleeRun, state: RunState, endpoint: ExtraEndpoint
) -> Callable[[], Iterator[Any]]:
    """An extra endpoint; a 404 is a warning naming it, not a failed run."""

    def read() -> Iterator[Any]:
        client = run.client
        try:
            if endpoint.paginate:
                for page in client.iter_pages(
                    endpoint.path, endpoint.params, data_selector=endpoint.data_selector
                ):
                    if page.items:
                        yield EndpointPage(endpoint.name, page.items)
            else:
                body = client.get_json(endpoint.path, endpoint.params)
                data = body.get(endpoint.data_selector, body) if endpoint.data_selector else body
                yield EndpointPage(endpoint.name, data if isinstance(data, list) else [data])
        except PixleeNotFoundError:
            logger.warning(
                "extra endpoint %r (GET %s) answered 404 and was skipped: Pixlee has no "
                "such endpoint for this key",
                endpoint.name,
                endpoint.path,
            )
            state.metrics.note_not_found(f"endpoint {endpoint.path}")

    return read
