"""One source object, and the state of the run it is extracting now.

dlt lets one source object be run again (`pipeline.run(source)` twice). What a run gathers as it
reads (the album list, products already seen, category and statistics counts, its metrics)
belongs to that run: `PixleeRun.state()` hands out the current run's `RunState` and starts a
new one, with a new CDN `unique_id` and fresh request counters, when dlt extracts a new load
package. Nothing else of a run lives on the source object.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt

from pixlee.api.client import PixleeClient
from pixlee.api.errors import PixleeConfigError
from pixlee.source.config import PixleeSourceConfiguration
from pixlee.source.derived import AlbumStatistics, CategoryCounter
from pixlee.source.destination import current_load_id
from pixlee.source.media_items import MediaItems
from pixlee.source.metrics import RunMetrics
from pixlee.source.quarantine import FieldNames, ItemScreen, Rejection
from pixlee.source.records import album_row, media_row
from pixlee.source.settings import (
    ALBUMS,
    MAX_TABLE_NESTING,
    MEDIA,
    MEDIA_ROOT_COLUMNS,
    NESTED_MEDIA_COLUMNS,
    PRODUCT_MEDIA,
    PRODUCT_MEDIA_ROOT_COLUMNS,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtraEndpoint:
    """Another GET path loaded with the same auth, pacing, paging and retries."""

    name: str
    path: str
    data_selector: str = "data"
    params: dict[str, Any] = field(default_factory=dict)
    primary_key: Any = None
    paginate: bool = True

    @classmethod
    def parse(cls, spec: Any) -> ExtraEndpoint:
        if not isinstance(spec, dict) or not spec.get("name") or not spec.get("path"):
            raise PixleeConfigError(
                f"each extra_endpoints entry needs `name` and `path`, got {spec!r}: e.g. "
                '{"name": "album_media", "path": "/albums/123/photos"}'
            )
        return cls(
            name=str(spec["name"]),
            path=str(spec["path"]),
            data_selector=str(spec.get("data_selector", "data")),
            params=dict(spec.get("params") or {}),
            primary_key=spec.get("primary_key"),
            paginate=bool(spec.get("paginate", True)),
        )


class AlbumDirectory:
    """The run's album list, read once from GET /albums; albums whose id is not an integer are
    rejected (with a warning), never scanned as "0 media"."""

    def __init__(self, client: PixleeClient, screen: ItemScreen) -> None:
        self._client = client
        self._screen = screen
        self._albums: list[dict[str, Any]] | None = None
        self.rejections: list[Rejection] = []

    def albums(self) -> list[dict[str, Any]]:
        if self._albums is None:
            albums: list[dict[str, Any]] = []
            for page in self._client.iter_albums():
                kept, rejected = self._screen.split(page.items, page=page.page)
                albums.extend(album_row(item) for item in kept)
                self.rejections.extend(rejected)
            for rejection in self.rejections:
                logger.warning(
                    "GET /albums page %s: an album was rejected (%s); it is not read, see "
                    "_pixlee_rejected",
                    rejection.page,
                    rejection.reason,
                )
            self._albums = albums
        return self._albums

    def category_albums(self) -> dict[int, dict[str, Any]]:
        return {
            album["id"]: album for album in self.albums() if album.get("album_type") == "category"
        }


@dataclass(frozen=True)
class Sequenced:
    """An event of the read stream and its place in it."""

    seq: int
    event: Any


class InOrder:
    """Hands one transformer the stream's events in the stream's order, and emits its items in
    that order too.

    dlt forks a parent's items to its transformers and iterates the generators they return
    round-robin (newest first once many are open), so one transformer may see event k+1 before
    event k, or interleave the items of two events. Every transformer here keeps per-run state
    (batches, counts, the first item of a table carrying its hints), so each one takes its
    events through this: an event waits until all before it were handled, handling is eager,
    and items leave through one queue, whichever of the transformer's generators runs.
    """

    def __init__(self) -> None:
        self._next = 0
        self._waiting: dict[int, Any] = {}
        self._out: deque[Any] = deque()

    def feed(self, step: Sequenced, handle: Callable[[Any], Iterator[Any]]) -> Iterator[Any]:
        self._waiting[step.seq] = step.event
        while self._next in self._waiting:
            event = self._waiting.pop(self._next)
            self._next += 1
            self._out.extend(handle(event))
        while self._out:
            yield self._out.popleft()


@dataclass
class RunState:
    """What one run of the source gathers as it reads."""

    load_id: str | None
    directory: AlbumDirectory
    media_items: MediaItems
    product_media_items: MediaItems
    names: FieldNames
    metrics: RunMetrics = field(default_factory=RunMetrics)
    started_at: datetime = field(default_factory=lambda: datetime.now(tz=UTC))
    seen_products: set[Any] = field(default_factory=set)
    album_statistics: dict[int, AlbumStatistics] = field(default_factory=dict)
    categories: CategoryCounter = field(default_factory=CategoryCounter)
    _in_order: dict[str, InOrder] = field(default_factory=dict)

    def in_order(
        self, transformer: str, step: Sequenced, handle: Callable[[Any], Iterator[Any]]
    ) -> Iterator[Any]:
        """`handle(event)` for `transformer`, in the stream's order (see `InOrder`)."""
        return self._in_order.setdefault(transformer, InOrder()).feed(step, handle)


class PixleeRun:
    """A source object's configuration and client, and the state of its current run."""

    def __init__(self, config: PixleeSourceConfiguration) -> None:
        self.config = config
        self.client = config.client()
        self.album_ids = config.configured_album_ids()
        self.skus = config.configured_skus()
        self.reconcile_seconds = config.reconcile_seconds()
        self.endpoints = [ExtraEndpoint.parse(spec) for spec in config.extra_endpoints or ()]
        self._state: RunState | None = None

    def state(self) -> RunState:
        """This run's state: a new one whenever dlt extracts another load package."""
        load_id = current_load_id()
        if self._state is None or self._state.load_id != load_id:
            if self._state is not None:  # an earlier run of this object: start afresh
                self.client.new_run()
            self._state = self._new_state(load_id)
        return self._state

    def _new_state(self, load_id: str | None) -> RunState:
        try:
            naming = dlt.current.source_schema().naming
        except Exception:
            from dlt.common.normalizers.naming.snake_case import NamingConvention

            naming = NamingConvention()
        names = FieldNames(naming.normalize_identifier, MAX_TABLE_NESTING)
        media_shaped: dict[str, Any] = {
            "nested_columns": NESTED_MEDIA_COLUMNS,
            "max_nesting": MAX_TABLE_NESTING,
            "to_row": media_row,
            "use_arrow": self.config.use_arrow,
            "names": names,
        }
        return RunState(
            load_id,
            AlbumDirectory(self.client, ItemScreen(ALBUMS, "id", names)),
            # each album is scanned once per run and drops its repeats: media keys are unique
            MediaItems(MEDIA, MEDIA_ROOT_COLUMNS, unique_per_run=True, **media_shaped),
            MediaItems(PRODUCT_MEDIA, PRODUCT_MEDIA_ROOT_COLUMNS, **media_shaped),
            names,
        )
