"""Shape API objects into rows: trusted ids, typed timestamps, products without media links.

Pixlee's payloads drift (ids as strings in some responses, `status` as int or string, nullable
numbers) and every time is an epoch-millisecond int. Rows keep each raw field as the API sent
it and add a `<field>_ts` timestamp column next to each time, so SQL on dates just works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pixlee.api.values import to_int

MEDIA_TIME_FIELDS = (
    "created_at",
    "updated_at",
    "tagged_at",
    "approved_on_date",
    "permissioned_at",
    "heavy_permissioned_at",
    "submitted_at",
    "deleted_at",
)
PRODUCT_TIME_FIELDS = ("product_tagged_at", "sales_start_date", "sales_end_date")
ALBUM_TIME_FIELDS = ("created_at", "updated_at", "deleted_at")
MEDIA_ID_FIELDS = ("id", "album_photo_id", "album_id", "connected_user_id")
PRODUCT_ID_FIELDS = ("id", "album_id", "product_album_photo_id", "photo_id")
# Product fields that describe the tag on one media item, not the product itself.
PRODUCT_LINK_FIELDS = ("product_album_photo_id", "photo_id", "product_tagged_at")
TS_SUFFIX = "_ts"
# Lists that Pixlee sometimes sends as null: they become child tables, where null and [] both
# mean "no rows"; dropping the null keeps dlt from creating a stray text column for it.
MEDIA_LIST_FIELDS = (
    "products",
    "mentions",
    "tagged_usernames",
    "tag_album_ids",
    "bounding_box_products",
    "time_based_products",
)

# Epoch-ms values outside this range are not plausible times; they stay raw only.
_MIN_MS = 0
_MAX_MS = 253402300799999  # 9999-12-31


def to_timestamp(value: Any) -> datetime | None:
    """An epoch-ms int (or numeric string), or a "YYYY-MM-DD HH:MM:SS[.fff]" string, as UTC."""
    if type(value) is int:  # the common case first: ~14 calls per media item
        return datetime.fromtimestamp(value / 1000, tz=UTC) if _MIN_MS <= value <= _MAX_MS else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.lstrip("-").isdigit():
            value = int(text)
        else:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        if not _MIN_MS <= value <= _MAX_MS:
            return None
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return None


def _add_timestamps(row: dict[str, Any], fields: Iterable[str]) -> None:
    for name in fields:
        if name in row:
            row[name + TS_SUFFIX] = to_timestamp(row[name])


def _coerce_ids(row: dict[str, Any], fields: Iterable[str]) -> None:
    for name in fields:
        if name in row:
            row[name] = to_int(row[name])


def product_row(product: Mapping[str, Any]) -> dict[str, Any]:
    """A product as tagged on a media item, with ids and times typed (still carries the links)."""
    row = dict(product)
    _coerce_ids(row, PRODUCT_ID_FIELDS)
    _add_timestamps(row, PRODUCT_TIME_FIELDS)
    return row


def media_row(item: Mapping[str, Any]) -> dict[str, Any]:
    """A media object as a `media` row: ids as ints, `<time>_ts` columns, typed product tags."""
    row = dict(item)
    for name in MEDIA_LIST_FIELDS:
        if name in row and row[name] is None:
            del row[name]
    _coerce_ids(row, MEDIA_ID_FIELDS)
    _add_timestamps(row, MEDIA_TIME_FIELDS)
    products = row.get("products")
    if isinstance(products, list):
        row["products"] = [product_row(p) if isinstance(p, Mapping) else p for p in products]
    return row


def catalogue_product(product: Mapping[str, Any]) -> dict[str, Any]:
    """A `products` row: the product itself, without what belongs to one media's tag."""
    row = product_row(product)
    for name in PRODUCT_LINK_FIELDS:
        row.pop(name, None)
        row.pop(name + TS_SUFFIX, None)
    return row


def album_row(album: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(album)
    _coerce_ids(row, ("id", "user_id", "account_id"))
    _add_timestamps(row, ALBUM_TIME_FIELDS)
    return row
