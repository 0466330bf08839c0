"""Album listing pages read as Arrow in the page threads, with only the fields the scan reads.

Why: decoding every page with orjson (all ~85 fields of 100 items, GIL held) and the garbage
collector walking those dicts were most of extraction. A page the reader reads is never
decoded: `media` builds its tables from the Arrow items (`JsonPages`), and the album scan,
`statistics` and `categories` get small dicts of the dozen fields they read (`items`), the same
Python values orjson gives for those fields (`page_counts.rows`: lossless types only).

A page is read only where the dict path would treat it the same: keys that are integers on
every item (the screen rejects or rewrites any other), tagged products whose ids are integers
(no `products` rejection), no null product tag. Anything else is decoded as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pixlee.source.arrow.json_read import PageReader, ParsedPage
from pixlee.source.arrow.page_counts import field_of, rows

KEY = "album_photo_id"
# what the album scan (key, watermark, versions), `statistics` and `categories` read
SCAN_FIELDS = (
    KEY,
    "id",
    "updated_at",
    "approved_on_date",
    "tag_album_ids",
    "content_type",
    "has_permission",
    "is_starred",
    "source",
    "native_likes",
    "native_comments",
    "native_shares",
    "native_views",
)


@dataclass(frozen=True)
class ArrowPage:
    """A listing page read as Arrow (`parsed`) and its items as the scan's small dicts, each
    with `products` as `[{"id": …}, …]` (what the screen and `statistics` read of it)."""

    parsed: ParsedPage
    items: list[dict[str, Any]]
    has_next: bool

    def decoded(self) -> list[dict[str, Any]]:
        """The whole items as orjson decodes them (the listing's repeated-page check)."""
        return self.parsed.dicts()


class AlbumPageReader:
    """A `pixlee.api.paging.BodyReader` for album listings, over one run's `PageReader`."""

    def __init__(self, reader: PageReader) -> None:
        self._reader = reader

    def read(self, body: bytes | bytearray) -> ArrowPage | None:
        parsed = self._reader.read(bytes(body))
        if parsed is None:
            return None
        try:
            items = scan_items(parsed.items)
        except pa.ArrowException:  # an array Arrow got wrong: the dict path decides
            items = None
        if items is None:
            self._reader.refuse("fields the scan cannot read from Arrow")
            return None
        return ArrowPage(parsed, items, parsed.has_next)

    def learn(self, envelope: Mapping[str, Any]) -> None:
        self._reader.learn(envelope)


def scan_items(items: pa.Array) -> list[dict[str, Any]] | None:
    """The scan's dicts of `items`, or None where the dict path might do otherwise."""
    key = field_of(items, KEY)
    if key is None or not pa.types.is_integer(key.type) or key.null_count:
        return None
    products = _product_ids(items)
    scanned = rows(items, SCAN_FIELDS) if products is not None else None
    if scanned is None or products is None:
        return None
    for row, tags in zip(scanned, products, strict=True):
        row["products"] = tags
    return scanned


def _product_ids(items: pa.Array) -> list[list[dict[str, Any]] | None] | None:
    """Each item's product tags as `[{"id": id}]` (None: no list), or None when some tag is
    null or its id is not an integer (the screen would reject or skip it)."""
    products = field_of(items, "products")
    if products is None or pa.types.is_null(products.type):
        return [None] * len(items)
    if not pa.types.is_list(products.type):
        return None
    tags = pc.list_flatten(products)
    lengths = pc.fill_null(pc.list_value_length(products), 0).to_pylist()
    if not len(tags):
        ids: list[Any] = []
    elif not pa.types.is_struct(tags.type) or tags.null_count:
        return None
    else:
        id_field = field_of(tags, "id")
        if id_field is None or not pa.types.is_integer(id_field.type) or id_field.null_count:
            return None
        ids = id_field.to_pylist()
    valid = products.is_valid().to_pylist()
    found: list[list[dict[str, Any]] | None] = []
    start = 0
    for length, present in zip(lengths, valid, strict=True):
        found.append([{"id": tag} for tag in ids[start : start + length]] if present else None)
        start += length
    return found
