"""The dlt source: albums, media, product media, products, categories and statistics, and the
run's own tables (`_pixlee_runs`, `_pixlee_album_scans`, `_pixlee_rejected`).

Everything a run reads comes through one internal resource, `pixlee_reads`
(`pixlee.source.reads`); every table is a transformer over it, declared here with its hints
from `pixlee.source.settings`. Derived tables emit only from complete scans: an album whose scan
fails mid-way fails the run, and one cut short by an unusable page loads no statistics.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dlt
from dlt.sources import DltResource

from pixlee.api.client import DEFAULT_BASE_URL, DEFAULT_PER_PAGE
from pixlee.api.concurrency import DEFAULT_MAX_IN_FLIGHT
from pixlee.api.pacing import DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_SAFETY_MARGIN
from pixlee.source.config import PixleeSourceConfiguration
from pixlee.source.derived import AlbumStatistics, new_products
from pixlee.source.media_items import quiet_json_hints
from pixlee.source.metrics import AlbumScanned, last_run_metrics
from pixlee.source.reads import AlbumList, EndpointPage, ReadsComplete, SkuPage, read_events
from pixlee.source.records import catalogue_product
from pixlee.source.run import ExtraEndpoint, PixleeRun, Sequenced
from pixlee.source.scanning import (
    DEFAULT_OVERLAP_MINUTES,
    DEFAULT_RECONCILE,
    AlbumPage,
    Rejected,
    RemovedMedia,
)
from pixlee.source.settings import (
    ALBUM_SCANS,
    ALBUM_SCANS_HINTS,
    ALBUMS,
    ALBUMS_HINTS,
    CATEGORIES,
    CATEGORIES_HINTS,
    CONFIG_SECTION,
    MAX_TABLE_NESTING,
    MEDIA,
    MEDIA_HINTS,
    PRODUCT_MEDIA,
    PRODUCT_MEDIA_HINTS,
    PRODUCTS,
    PRODUCTS_HINTS,
    REJECTED,
    REJECTED_HINTS,
    RUNS,
    RUNS_HINTS,
    SOURCE_NAME,
    STATISTICS,
    STATISTICS_HINTS,
)

__all__ = ["PixleeSourceConfiguration", "last_run_metrics", "pixlee_source"]


@dlt.source(
    name=SOURCE_NAME,
    section=CONFIG_SECTION,
    max_table_nesting=MAX_TABLE_NESTING,
    spec=PixleeSourceConfiguration,
)
def pixlee_source(
    api_key: str | None = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    album_ids: list[int] | None = None,
    skus: list[str] | None = None,
    filters: dict[str, Any] | None = None,
    sort: dict[str, Any] | None = None,
    per_page: int = DEFAULT_PER_PAGE,
    extra_endpoints: list[dict[str, Any]] | None = None,
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE,
    write_rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE,
    rate_limit_safety_margin: float = DEFAULT_SAFETY_MARGIN,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    rate_limit_backend: str | None = None,
    max_attempts: int = 8,
    backoff_seconds: float = 0.5,
    max_retry_after_seconds: float = 300.0,
    reconcile: str = DEFAULT_RECONCILE,
    incremental_overlap_minutes: float = DEFAULT_OVERLAP_MINUTES,
    use_arrow: bool = True,
) -> Sequence[DltResource]:
    """Every album and every approved photo and video of a Pixlee account.

    Configured under `[sources.pixlee_source]`; each argument is described on
    `PixleeSourceConfiguration` (and in the README). Only `api_key` is required.
    """
    run = PixleeRun(PixleeSourceConfiguration(**locals()))  # the arguments as dlt resolved them
    reads = pixlee_reads(run)
    tables = (albums, media, products, statistics, categories, product_media)
    bookkeeping = (runs, album_scans, rejected)
    resources: list[DltResource] = [reads]
    resources += [reads | transformer(run) for transformer in (*tables, *bookkeeping)]
    resources += [reads | _endpoint_resource(endpoint) for endpoint in run.endpoints]
    return resources


@dlt.resource(name="pixlee_reads", selected=False)
def pixlee_reads(run: PixleeRun) -> Iterator[Sequenced]:
    """Every read of the run, as numbered events (see `pixlee.source.reads`)."""
    yield from read_events(run)


@dlt.transformer(name=ALBUMS, **ALBUMS_HINTS)
def albums(step: Sequenced, run: PixleeRun) -> Iterator[Any]:
    """Every album GET /albums lists (standard, product and category albums)."""

    def handle(event: Any) -> Iterator[Any]:
        if isinstance(event, AlbumList) and event.albums:
            yield event.albums

    yield from run.state().in_order(ALBUMS, step, handle)


@dlt.transformer(name=MEDIA, **MEDIA_HINTS)
def media(step: Sequenced, run: PixleeRun) -> Iterator[Any]:
    """Approved photos and videos, one row per album placement (`album_photo_id`)."""
    items = run.state().media_items

    def handle(event: Any) -> Iterator[Any]:
        if isinstance(event, AlbumPage) and event.items:
            yield from items.page(event.items, parsed=event.parsed)
        elif isinstance(event, RemovedMedia) and event.rows:
            yield from items.removed(event.rows)
        elif isinstance(event, ReadsComplete):
            yield from items.flush()

    with quiet_json_hints(MEDIA):  # dlt's warning about JSON kept as text in Arrow
        yield from run.state().in_order(MEDIA, step, handle)


@dlt.transformer(name=PRODUCTS, **PRODUCTS_HINTS)
def products(step: Sequenced, run: PixleeRun) -> Iterator[Any]:
    """Each product tagged on the media read, once per run (the version first seen)."""
    seen = run.state().seen_products

    def handle(event: Any) -> Iterator[Any]:
        if isinstance(event, AlbumPage):
            tagged = _items_with_whole_products(event, seen)
            batch = [row for row in map(catalogue_product, new_products(tagged, seen))]
            if batch:
                yield batch

    yield from run.state().in_order(PRODUCTS, step, handle)


def _items_with_whole_products(event: AlbumPage, seen: set[Any]) -> list[dict[str, Any]]:
    """The page's items with their product tags whole. A page read as Arrow carries only the
    tags' ids in its dicts; it is decoded only when it tags a product not seen yet."""
    if event.parsed is None:
        return event.items
    for item in event.items:
        if any(tag["id"] not in seen for tag in item["products"] or ()):
            return event.parsed.dicts()
    return []


@dlt.transformer(name=STATISTICS, **STATISTICS_HINTS)
def statistics(step: Sequenced, run: PixleeRun) -> Iterator[Any]:
    """Derived: per-album counts from each complete scan (the API has no statistics)."""
    state = run.state()

    def handle(event: Any) -> Iterator[Any]:
        if isinstance(event, AlbumPage) and event.full_scan:
            counts = state.album_statistics.setdefault(
                event.album_id, AlbumStatistics(event.album_id)
            )
            counts.add(event.items)
        elif isinstance(event, AlbumScanned):
            counts = state.album_statistics.pop(event.album_id, AlbumStatistics(event.album_id))
            if event.full_scan and event.complete:
                yield counts.row(state.started_at)

    yield from state.in_order(STATISTICS, step, handle)


@dlt.transformer(name=CATEGORIES, **CATEGORIES_HINTS)
def categories(step: Sequenced, run: PixleeRun) -> Iterator[Any]:
    """Derived: category albums and how many distinct photos carry each category; only from
    runs where every album got a complete scan (counts need every album's whole content)."""
    state = run.state()

    def handle(event: Any) -> Iterator[Any]:
        if isinstance(event, AlbumPage):
            state.categories.add(event.items)
        elif isinstance(event, ReadsComplete) and event.all_full:
            rows = state.categories.rows(state.directory.category_albums())
            if rows:
                yield rows

    yield from state.in_order(CATEGORIES, step, handle)


@dlt.transformer(name=PRODUCT_MEDIA, **PRODUCT_MEDIA_HINTS)
def product_media(step: Sequenced, run: PixleeRun) -> Iterator[Any]:
    """Content of each configured SKU (GET /albums/from_sku), with the `sku` it came from."""
    items = run.state().product_media_items

    def handle(event: Any) -> Iterator[Any]:
        if isinstance(event, SkuPage):
            yield from items.page(event.items, extra={"sku": event.sku})
        elif isinstance(event, ReadsComplete):
            yield from items.flush()

    with quiet_json_hints(PRODUCT_MEDIA):
        yield from run.state().in_order(PRODUCT_MEDIA, step, handle)


@dlt.transformer(name=RUNS, **RUNS_HINTS)
def runs(step: Sequenced, run: PixleeRun) -> Iterator[Any]:
    """One row per run: requests, scans, media new/updated/unchanged/removed, rejections."""
    state = run.state()

    def handle(event: Any) -> Iterator[Any]:
        if isinstance(event, ReadsComplete):
            metrics = dlt.current.resource_metrics()
            metrics.clear()  # a source object run again reports this run only
            metrics.update(state.metrics.figures(run.client.stats))
            stats = run.client.stats
            yield state.metrics.row(state.load_id or "", state.started_at, event.finished_at, stats)

    yield from state.in_order(RUNS, step, handle)


@dlt.transformer(name=ALBUM_SCANS, **ALBUM_SCANS_HINTS)
def album_scans(step: Sequenced, run: PixleeRun) -> Iterator[Any]:
    """One row per album and run: full or incremental, complete or not, pages, items."""
    state = run.state()

    def handle(event: Any) -> Iterator[Any]:
        if isinstance(event, AlbumScanned):
            yield event.row(state.load_id or "")

    yield from state.in_order(ALBUM_SCANS, step, handle)


@dlt.transformer(name=REJECTED, **REJECTED_HINTS)
def rejected(step: Sequenced, run: PixleeRun) -> Iterator[Any]:
    """Items (and pages) kept out of the data tables, with album, page, reason and raw JSON."""
    state = run.state()

    def handle(event: Any) -> Iterator[Any]:
        if isinstance(event, Rejected):
            yield [rejection.row(state.load_id or "") for rejection in event.rejections]

    yield from state.in_order(REJECTED, step, handle)


def _endpoint_resource(endpoint: ExtraEndpoint) -> DltResource:
    """A transformer taking one extra endpoint's pages; replaced each run unless it has a key."""
    hints: dict[str, Any] = {"name": endpoint.name, "write_disposition": "replace"}
    if endpoint.primary_key:
        hints.update(primary_key=endpoint.primary_key, write_disposition="merge")

    def pages(step: Sequenced, name: str) -> Iterator[Any]:
        if isinstance(step.event, EndpointPage) and step.event.name == name:
            yield step.event.items  # one endpoint's pages come in order from its one task

    return dlt.transformer(**hints)(pages)(endpoint.name)
