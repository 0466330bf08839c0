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

from pixlee.records import to_int, to_timestamp

_NATIVE_COUNTERS = ("native_likes", "native_comments", "native_shares", "native_views")


def _number(value: Any) -> int:
    value = to_int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


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
        for item in items:
            self.media_count += 1
            content_type = item.get("content_type")
            self.image_count += content_type == "image"
            self.video_count += content_type == "video"
            self.permissioned_count += item.get("has_permission") is True
            self.starred_count += item.get("is_starred") is True
            self.with_products_count += bool(item.get("products"))
            self.sources[str(item.get("source") or "unknown")] += 1
            for counter in _NATIVE_COUNTERS:
                self.totals[counter] += _number(item.get(counter))
            approved = to_int(item.get("approved_on_date"))
            if isinstance(approved, int) and (
                self.latest_approved_ms is None or approved > self.latest_approved_ms
            ):
                self.latest_approved_ms = approved

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
