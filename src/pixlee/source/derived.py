"""Tables the Content API has no endpoint for, derived from the media a run reads.

Pixlee exposes no `/statistics` or `/categories` endpoint (see pixlee-api.md, "Not in the API"):
categories are albums of `album_type` "category" that media point to through `tag_album_ids`,
and statistics are counted here, per album, from the complete scan of that album.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pixlee.api.values import to_int
from pixlee.source.records import to_timestamp

_NATIVE_COUNTERS = ("native_likes", "native_comments", "native_shares", "native_views")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> int:
    value = to_int(value)
    return value if _is_int(value) else 0


def _values(items: list[Mapping[str, Any]], name: str) -> list[Any]:
    return [item.get(name) for item in items]


def _total(values: list[Any]) -> int:
    """The sum of the values that are (or read as) integers; anything else counts 0."""
    if set(map(type, values)) <= {int, type(None)}:  # the API's usual shape: a C-level sum
        return sum(filter(None, values))
    return sum(map(_number, values))


@dataclass
class AlbumStatistics:
    """Running counts for one album; `row()` is the `statistics` row once the scan completes."""

    album_id: int
    media_count: int = 0
    image_count: int = 0
    video_count: int = 0
    permissioned_count: int = 0
    starred_count: int = 0
    with_products_count: int = 0
    totals: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    latest_approved_ms: int | None = None

    def add(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Count a page of items: one pass per field rather than per item and field, which
        took ~10% of extraction's one core (100 items a page, ~12 fields each)."""
        items = list(items)
        self.media_count += len(items)
        content_types = Counter(_values(items, "content_type"))
        self.image_count += content_types["image"]
        self.video_count += content_types["video"]
        self.permissioned_count += sum(v is True for v in _values(items, "has_permission"))
        self.starred_count += sum(v is True for v in _values(items, "is_starred"))
        self.with_products_count += sum(map(bool, _values(items, "products")))
        self.sources.update(str(v or "unknown") for v in _values(items, "source"))
        for counter in _NATIVE_COUNTERS:
            self.totals[counter] += _total(_values(items, counter))
        approved = [v for v in map(to_int, _values(items, "approved_on_date")) if _is_int(v)]
        if approved:
            latest = max(approved)
            if self.latest_approved_ms is None or latest > self.latest_approved_ms:
                self.latest_approved_ms = latest

    def row(self, snapshot_at: datetime) -> dict[str, Any]:
        return {
            "album_id": self.album_id,
            "snapshot_at": snapshot_at,
            "media_count": self.media_count,
            "image_count": self.image_count,
            "video_count": self.video_count,
            "permissioned_count": self.permissioned_count,
            "starred_count": self.starred_count,
            "with_products_count": self.with_products_count,
            **{f"{name}_total": self.totals[name] for name in _NATIVE_COUNTERS},
            "latest_approved_at": to_timestamp(self.latest_approved_ms),
            "by_source": dict(sorted(self.sources.items())),
            "derived": True,
        }


@dataclass
class CategoryCounter:
    """Distinct photos and album placements tagged with each category album id."""

    photos: dict[int, set[int]] = field(default_factory=dict)

    def add(self, items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            tags = item.get("tag_album_ids") or []
            photo_id = to_int(item.get("id"))
            for tag in tags if isinstance(tags, list) else []:
                category_id = to_int(tag)
                if isinstance(category_id, int):
                    bucket = self.photos.setdefault(category_id, set())
                    if isinstance(photo_id, int):
                        bucket.add(photo_id)

    def rows(self, category_albums: Mapping[int, Mapping[str, Any]]) -> list[dict[str, Any]]:
        ids = sorted(set(category_albums) | set(self.photos))
        return [
            {
                "id": category_id,
                "title": category_albums.get(category_id, {}).get("title"),
                "media_count": len(self.photos.get(category_id, ())),
                "listed_in_albums": category_id in category_albums,
                "derived": True,
            }
            for category_id in ids
        ]


def new_products(items: Iterable[Mapping[str, Any]], seen: set[Any]) -> list[Mapping[str, Any]]:
    """The products tagged on `items` whose integer id is not in `seen` yet (added to it)."""
    found = []
    for item in items:
        for product in item.get("products") or []:
            if not isinstance(product, Mapping):
                continue
            product_id = to_int(product.get("id"))
            if product_id in seen or not _is_int(product_id):
                continue  # seen: skip building the row (most tags repeat a known product)
            seen.add(product_id)
            found.append(product)
    return found
