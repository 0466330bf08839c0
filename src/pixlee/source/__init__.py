"""The dlt source: albums, media, product media, products, categories and statistics.

Every album is read through one internal resource, `album_pages`, that yields scan events
(see `pixlee.source.scanning`): pages, rows that left an album, and end-of-album markers. `media`,
`products`, `statistics` and `categories` are transformers over it, so one scan feeds every
table and selecting any of them (`with_resources`) still reads each page once. Derived tables
emit only from complete scans: an album whose scan fails mid-way fails the run instead of
loading partial counts as success.

Albums (and SKUs) are read concurrently, under the client's one pacer and in-flight bound
(`pixlee.api.concurrency`); each album's events stay in order, albums interleave.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.sources import DltResource

from pixlee.api.client import DEFAULT_BASE_URL, DEFAULT_PER_PAGE, PixleeClient, RetryPolicy
from pixlee.api.concurrency import DEFAULT_MAX_IN_FLIGHT, ReadAhead, interleave
from pixlee.api.errors import PixleeConfigError, PixleeNotFoundError
from pixlee.api.pacing import DEFAULT_RATE_LIMIT_PER_MINUTE
from pixlee.api.values import to_int
from pixlee.source.columns import (
    ALBUM_COLUMNS,
    CATALOGUE_PRODUCT_COLUMNS,
    MEDIA_COLUMNS,
    PRODUCT_COLUMNS,
)
from pixlee.source.derived import AlbumStatistics, CategoryCounter
from pixlee.source.destination import running_pipeline_with_destination
from pixlee.source.loaded_rows import DestinationView
from pixlee.source.media_items import MediaItems
from pixlee.source.records import album_row, catalogue_product, media_row
from pixlee.source.scanning import (
    DEFAULT_OVERLAP_MINUTES,
    DEFAULT_RECONCILE,
    AlbumPage,
    AlbumScanned,
    AlbumScanner,
    RemovedMedia,
    ScanComplete,
    ScanEvent,
    ScanReport,
    parse_reconcile,
)

logger = logging.getLogger(__name__)

MAX_TABLE_NESTING = 2
SOURCE_NAME = "pixlee"
CURSORS_STATE_KEY = "album_cursors"

_last_report: ScanReport | None = None


def last_scan_report() -> ScanReport | None:
    """What the most recently created source's scans did (for `pixlee run`'s summary)."""
    return _last_report


def _destination_view() -> DestinationView | None:
    """The running pipeline's destination, to find loaded rows that left an album."""
    pipeline = running_pipeline_with_destination()
    return None if pipeline is None else DestinationView(pipeline, SOURCE_NAME)


class AlbumDirectory:
    """The run's album list, read once from GET /albums and shared by the resources."""

    def __init__(self, client: PixleeClient) -> None:
        self._client = client
        self._albums: list[dict[str, Any]] | None = None

    def albums(self) -> list[dict[str, Any]]:
        if self._albums is None:
            albums: list[dict[str, Any]] = []
            for page in self._client.iter_albums():
                albums.extend(album_row(item) for item in page.items)
            self._albums = albums
        return self._albums

    def category_albums(self) -> dict[int, dict[str, Any]]:
        return {
            album["id"]: album
            for album in self.albums()
            if album.get("album_type") == "category" and isinstance(album.get("id"), int)
        }


@dataclass
class _RunState:
    """What one run of the source gathers as it reads. A source object can be run again (a
    second `pipeline.run(source)`): that run must read the album list afresh, take a new
    statistics snapshot and reload every product it sees, not skip those the last run saw."""

    directory: AlbumDirectory
    report: ScanReport
    snapshot_at: datetime = field(default_factory=lambda: datetime.now(tz=UTC))
    seen_products: set[Any] = field(default_factory=set)
    album_statistics: dict[int, AlbumStatistics] = field(default_factory=dict)
    categories: CategoryCounter = field(default_factory=CategoryCounter)


def _current_load_id() -> str | None:
    """The load package being extracted now (None outside a pipeline run)."""
    try:
        return str(dlt.current.load_package_state()["load_id"])
    except Exception:
        return None


def _normalise_album_ids(album_ids: Sequence[Any] | None) -> list[int] | None:
    if album_ids is None:
        return None
    if isinstance(album_ids, str | int):
        album_ids = [album_ids]
    result: list[int] = []
    for raw in album_ids:
        value = to_int(raw)
        if not isinstance(value, int):
            raise PixleeConfigError(
                f"album_ids must be integers, got {raw!r}: e.g. album_ids = [1659473, 1659474]"
            )
        result.append(value)
    return result


def _normalise_skus(skus: Sequence[Any] | str | None) -> list[str]:
    if skus is None:
        return []
    if isinstance(skus, str):
        skus = [skus]
    return [str(sku) for sku in skus if str(sku).strip()]


@dlt.source(name=SOURCE_NAME, section="pixlee_source", max_table_nesting=MAX_TABLE_NESTING)
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

    Args:
        api_key: The account's API key (`[sources.pixlee_source] api_key` in secrets.toml or
            `SOURCES__PIXLEE_SOURCE__API_KEY`).
        base_url: The API root; point it at the simulator or a proxy.
        album_ids: Albums to read; default: every album GET /albums lists.
        skus: Products whose content fills `product_media` (GET /albums/from_sku).
        filters: Pixlee `filters` JSON, passed through to every album/SKU listing.
        sort: Pixlee `sort` JSON, passed through (default: the API's own).
        per_page: Items per page (the API may cap it; `next` decides where a listing ends).
        extra_endpoints: Other GET paths to load with the same auth, pacing, paging and retries:
            dicts with `name`, `path`, optional `data_selector` ("data"), `params`,
            `primary_key`, `paginate` (True).
        rate_limit_per_minute: GET budget of the key; requests are paced to stay under it
            (and slowed further while Pixlee answers 429: another consumer shares the key).
        write_rate_limit_per_minute: POST budget of the key (counted apart by Pixlee).
        max_in_flight: Most GET requests waiting on the network at once; albums are read in
            parallel and full scans read pages ahead up to this bound. About
            `rate_limit_per_minute / 60 x latency` is needed to reach the limit (12 at 3600/min
            and 200 ms).
        rate_limit_backend: A SQLite file (`sqlite:////var/tmp/pixlee-limits.sqlite`) or Redis
            URL shared by every pipeline on this key, so together they stay under its budget.
        max_attempts: Attempts per request for 429/5xx/resets/truncated bodies.
        backoff_seconds: First backoff step (doubles per attempt, with jitter).
        max_retry_after_seconds: Longest `Retry-After` honoured as sent.
        reconcile: When an album gets a complete scan that catches edits and removals:
            "always", "never", or an interval since its last one ("1d", "12h", "7d").
            Otherwise only its new content is read (newest first, down to the last watermark).
        incremental_overlap_minutes: How far below the watermark an incremental scan reads.
        use_arrow: Hand media pages to dlt as Arrow tables (the same tables and columns dlt's
            normalizer would make, several times faster) when the destination loads parquet.
            False sends every row through dlt's normalizer.
    """
    if not api_key:
        raise PixleeConfigError(
            "Pixlee API key is missing: set `api_key` under [sources.pixlee_source] in "
            ".dlt/secrets.toml, or the environment variable SOURCES__PIXLEE_SOURCE__API_KEY "
            "(Pixlee app: Settings → Pixlee API)."
        )
    client = PixleeClient(
        api_key=api_key,
        base_url=base_url,
        per_page=per_page,
        rate_limit_per_minute=rate_limit_per_minute,
        write_rate_limit_per_minute=write_rate_limit_per_minute,
        max_in_flight=max_in_flight,
        rate_limit_backend=rate_limit_backend,
        retry=RetryPolicy(
            max_attempts=max_attempts,
            backoff_seconds=backoff_seconds,
            max_retry_after_seconds=max_retry_after_seconds,
        ),
    )
    configured_albums = _normalise_album_ids(album_ids)
    configured_skus = _normalise_skus(skus)
    reconcile_seconds = parse_reconcile(reconcile)
    runs: dict[str | None, _RunState] = {}

    def this_run() -> _RunState:
        """This run's state: created by the first resource that asks during a run (every
        resource of a run extracts into the same load package)."""
        global _last_report
        load_id = _current_load_id()
        run = runs.get(load_id)
        if run is None:
            if runs:  # state from the source's creation or an earlier run: start afresh
                client.new_run()
            runs.clear()
            run = runs[load_id] = _RunState(
                AlbumDirectory(client), ScanReport(requests=client.stats)
            )
            _last_report = run.report
        return run

    this_run()  # `last_scan_report()` is this source's from its creation on

    @dlt.resource(
        name="albums",
        primary_key="id",
        write_disposition="merge",
        columns=ALBUM_COLUMNS,
    )
    def albums() -> Iterator[list[dict[str, Any]]]:
        """Every album GET /albums lists (standard, product and category albums)."""
        yield this_run().directory.albums()

    @dlt.resource(name="album_pages", selected=False)
    def album_pages() -> Iterator[ScanEvent]:
        """Each configured album's scan events, then one ScanComplete marker."""
        state = this_run()
        ids = configured_albums
        if ids is None:
            albums = state.directory.albums()
            ids = [album["id"] for album in albums if isinstance(album["id"], int)]
        # once each: GET /albums pages over moving data too, and `media` relies on one scan
        # per album and run to hand dlt each album_photo_id once (see MediaItems)
        ids = list(dict.fromkeys(ids))
        read_ahead = ReadAhead(max_in_flight)
        scanner = AlbumScanner(
            client,
            cursors=dlt.current.source_state().setdefault(CURSORS_STATE_KEY, {}),
            filters=filters,
            sort=sort,
            reconcile_seconds=reconcile_seconds,
            overlap_minutes=incremental_overlap_minutes,
            now=state.snapshot_at,
            destination=_destination_view(),
            report=state.report,
            read_ahead=read_ahead.window,
        )

        def album_scan(album_id: int) -> Callable[[], Iterator[ScanEvent]]:
            def run() -> Iterator[ScanEvent]:
                read_ahead.started()
                try:
                    yield from scanner.scan(album_id)
                except PixleeNotFoundError as exc:
                    logger.warning(
                        "Pixlee album %s was not found (404) and was skipped; check album_ids. %s",
                        album_id,
                        exc,
                    )
                    state.report.not_found.append(f"album {album_id}")
                finally:
                    read_ahead.finished()

            return run

        scanned: set[int] = set()
        all_full = True
        tasks = [album_scan(album_id) for album_id in ids]
        for event in interleave(tasks, workers=max_in_flight, max_buffered=2 * max_in_flight):
            if isinstance(event, AlbumScanned):
                all_full = all_full and event.full_scan
                scanned.add(event.album_id)
            yield event
        yield ScanComplete(tuple(a for a in ids if a in scanned), all_full)

    media_items = MediaItems(
        "media",
        MEDIA_COLUMNS,
        {"products": PRODUCT_COLUMNS},
        MAX_TABLE_NESTING,
        media_row,
        use_arrow,
        unique_per_run=True,  # each album is scanned once per run and drops its repeats
    )

    @dlt.transformer(
        data_from=album_pages, name="media", primary_key="album_photo_id", write_disposition="merge"
    )
    def media(event: ScanEvent) -> Iterator[Any]:
        """Approved photos and videos, one row per album placement (`album_photo_id`)."""
        if isinstance(event, AlbumPage) and event.items:
            yield from media_items.page(event.items)
        elif isinstance(event, RemovedMedia) and event.rows:
            yield from media_items.removed(event.rows)
        elif isinstance(event, ScanComplete):
            yield from media_items.flush()

    @dlt.transformer(
        data_from=album_pages,
        name="products",
        primary_key="id",
        write_disposition="merge",
        columns=CATALOGUE_PRODUCT_COLUMNS,
    )
    def products(event: ScanEvent) -> Iterator[list[dict[str, Any]]]:
        """Each product tagged on the media read, once per run (the version first seen)."""
        if not isinstance(event, AlbumPage):
            return
        seen_products = this_run().seen_products
        batch = []
        for item in event.items:
            for product in item.get("products") or []:
                if not isinstance(product, dict) or to_int(product.get("id")) in seen_products:
                    continue  # seen: skip building the row (most tags repeat a known product)
                row = catalogue_product(product)
                if row.get("id") is None or row["id"] in seen_products:
                    continue
                seen_products.add(row["id"])
                batch.append(row)
        if batch:
            yield batch

    @dlt.transformer(
        data_from=album_pages,
        name="statistics",
        primary_key=("album_id", "snapshot_at"),
        write_disposition="merge",
        columns={
            "snapshot_at": {"data_type": "timestamp", "nullable": False},
            "latest_approved_at": {"data_type": "timestamp", "nullable": True},
        },
    )
    def statistics(event: ScanEvent) -> Iterator[dict[str, Any]]:
        """Derived: per-album counts from each complete scan (the API has no statistics)."""
        run = this_run()
        if isinstance(event, AlbumPage) and event.full_scan:
            stats = run.album_statistics.setdefault(event.album_id, AlbumStatistics(event.album_id))
            stats.add(event.items)
        elif isinstance(event, AlbumScanned) and event.full_scan:
            stats = run.album_statistics.pop(event.album_id, AlbumStatistics(event.album_id))
            yield stats.row(run.snapshot_at)

    @dlt.transformer(
        data_from=album_pages, name="categories", primary_key="id", write_disposition="merge"
    )
    def categories(event: ScanEvent) -> Iterator[list[dict[str, Any]]]:
        """Derived: category albums and how many distinct photos carry each category.

        Counts need every album's complete content, so they are emitted only from runs where
        every album got a complete scan.
        """
        run = this_run()
        if isinstance(event, AlbumPage):
            run.categories.add(event.items)
        elif isinstance(event, ScanComplete) and event.all_full:
            rows = run.categories.rows(run.directory.category_albums())
            if rows:
                yield rows

    product_media_items = MediaItems(
        "product_media",
        {**MEDIA_COLUMNS, "sku": {"name": "sku", "data_type": "text", "nullable": False}},
        {"products": PRODUCT_COLUMNS},
        MAX_TABLE_NESTING,
        media_row,
        use_arrow,
    )

    @dlt.resource(
        name="product_media", primary_key=("sku", "album_photo_id"), write_disposition="merge"
    )
    def product_media() -> Iterator[Any]:
        """Content of each configured SKU (GET /albums/from_sku), with the `sku` it came from.

        SKUs are read in parallel, each one page after another (a SKU's content is often one
        page, so reading ahead would mostly spend requests past the end).
        """

        report = this_run().report

        def sku_pages(sku: str) -> Callable[[], Iterator[tuple[str, list[dict[str, Any]]]]]:
            def run() -> Iterator[tuple[str, list[dict[str, Any]]]]:
                try:
                    for page in client.iter_sku_photos(sku, filters=filters, sort=sort):
                        if page.items:
                            yield sku, page.items
                except PixleeNotFoundError as exc:
                    logger.warning(
                        "Pixlee SKU %r was not found (404) and was skipped. %s", sku, exc
                    )
                    report.not_found.append(f"sku {sku}")

            return run

        tasks = [sku_pages(sku) for sku in configured_skus]
        pages = interleave(tasks, workers=max_in_flight, max_buffered=2 * max_in_flight)
        for sku, items in pages:
            yield from product_media_items.page(items, extra={"sku": sku})
        yield from product_media_items.flush()

    resources: list[DltResource] = [
        albums,
        album_pages,
        media,
        products,
        statistics,
        categories,
        product_media,
    ]
    resources.extend(_extra_endpoint_resources(client, extra_endpoints or []))
    return resources


def _extra_endpoint_resources(
    client: PixleeClient, endpoints: Sequence[dict[str, Any]]
) -> list[DltResource]:
    """One resource per extra GET endpoint; a 404 is a warning naming it, not a failed run."""
    resources = []
    for spec in endpoints:
        if not isinstance(spec, dict) or not spec.get("name") or not spec.get("path"):
            raise PixleeConfigError(
                f"each extra_endpoints entry needs `name` and `path`, got {spec!r}: e.g. "
                '{"name": "album_media", "path": "/albums/123/photos"}'
            )
        name = str(spec["name"])
        path = str(spec["path"])
        selector = str(spec.get("data_selector", "data"))
        params = dict(spec.get("params") or {})
        paginate = bool(spec.get("paginate", True))
        primary_key = spec.get("primary_key")

        def read(
            name: str = name,
            path: str = path,
            selector: str = selector,
            params: dict[str, Any] = params,
            paginate: bool = paginate,
        ) -> Iterator[list[dict[str, Any]]]:
            try:
                if paginate:
                    for page in client.iter_pages(path, params, data_selector=selector):
                        if page.items:
                            yield page.items
                else:
                    body = client.get_json(path, params)
                    data = body.get(selector, body) if selector else body
                    yield data if isinstance(data, list) else [data]
            except PixleeNotFoundError:
                logger.warning(
                    "extra endpoint %r (GET %s) answered 404 and was skipped: Pixlee has no "
                    "such endpoint for this key",
                    name,
                    path,
                )
                client.stats.not_found.append(f"endpoint {path}")

        hints: dict[str, Any] = {"name": name, "write_disposition": "replace"}
        if primary_key:
            hints.update(primary_key=primary_key, write_disposition="merge")
        resources.append(dlt.resource(read(), **hints))
    return resources
