"""The ``sort`` and ``filters`` query parameters: parse them strictly, apply them to placements.

Both parameters are URL-encoded JSON objects. Anything that is not valid JSON, not an object,
or carries a value of the wrong type is a ``QueryError`` (the API layer turns it into a 400),
so a client bug shows up as a clear error instead of a silently unfiltered result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .model import Placement

SORT_KEYS = (
    "recency",
    "approved_time",
    "popularity",
    "random",
    "pixlee_likes",
    "pixlee_shares",
    "dynamic",
)
DEFAULT_SORT = "approved_time"

_BOOL_FILTERS = ("has_permission", "has_product", "starred_photos", "flagged_photos")
_IGNORED_FILTERS = frozenset(
    {
        "denied_photos",
        "deleted_photos",
        "in_stock_only",
        "has_action_link",
        "filter_by_userhandle",
        "filter_by_radius",
        "filter_by_location",
        "computer_vision",
        "min_twitter_followers",
    }
)
_INSTAGRAM_ALIASES = frozenset({"instagram", "instagram_feed", "instagram_story", "instagram_reel"})
_MASK64 = (1 << 64) - 1


class QueryError(ValueError):
    """A malformed ``sort``/``filters``/paging parameter (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class SortSpec:
    """Sort key, direction and (for ``random``) the shuffle seed."""

    key: str = DEFAULT_SORT
    descending: bool = True
    seed: int = 0


def _json_object(raw: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise QueryError(f"{name} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise QueryError(f"{name} must be a JSON object")
    return value


def parse_sort(raw: str | None) -> SortSpec:
    """``{"approved_time":true,"desc":true}`` -> SortSpec; absent or ``{}`` -> the default."""
    if raw is None or raw == "":
        return SortSpec()
    spec = _json_object(raw, "sort")
    keys = [k for k in spec if k in SORT_KEYS and spec[k]]
    unknown = [k for k in spec if k not in SORT_KEYS and k not in ("asc", "desc", "seed")]
    if unknown:
        raise QueryError(f"unknown sort key: {unknown[0]}")
    if len(keys) > 1:
        raise QueryError("sort takes one key")
    for flag in ("asc", "desc"):
        if flag in spec and not isinstance(spec[flag], bool):
            raise QueryError(f"sort.{flag} must be a boolean")
    seed = spec.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise QueryError("sort.seed must be an integer")
    descending = not spec.get("asc", False) or bool(spec.get("desc", False))
    return SortSpec(keys[0] if keys else DEFAULT_SORT, descending, seed)


def _mix(seed: int, value: int) -> int:
    """splitmix64: a stable per-item shuffle key (Python's hash() is salted per process)."""
    z = (value + seed * 0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def sort_placements(items: list[Placement], spec: SortSpec, world_seed: int) -> list[Placement]:
    """Sorted copy; ties always broken by ``album_photo_id`` in the same direction."""
    key: Callable[[Placement], tuple[int, int]]
    if spec.key == "recency":
        key = lambda p: (p.photo.created_at, p.album_photo_id)  # noqa: E731
    elif spec.key in ("popularity", "dynamic"):
        key = lambda p: (p.photo.native_likes + p.photo.native_comments, p.album_photo_id)  # noqa: E731
    elif spec.key == "pixlee_likes":
        key = lambda p: (p.photo.like_count, p.album_photo_id)  # noqa: E731
    elif spec.key == "pixlee_shares":
        key = lambda p: (p.photo.share_count, p.album_photo_id)  # noqa: E731
    elif spec.key == "random":
        seed = world_seed * 1_000_003 + spec.seed
        key = lambda p: (_mix(seed, p.album_photo_id), p.album_photo_id)  # noqa: E731
    else:
        key = lambda p: (p.approved_on_date, p.album_photo_id)  # noqa: E731
    return sorted(items, key=key, reverse=spec.descending)


def _bool(spec: dict[str, Any], name: str) -> bool | None:
    value = spec.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise QueryError(f"filters.{name} must be a boolean")
    return value


def _str_list(spec: dict[str, Any], name: str) -> list[str] | None:
    value = spec.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QueryError(f"filters.{name} must be a list of strings")
    return value


def _int_list(spec: dict[str, Any], name: str) -> list[int] | None:
    value = spec.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise QueryError(f"filters.{name} must be a list of integers")
    return value


def _number(spec: dict[str, Any], name: str) -> float | None:
    value = spec.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError as exc:
            raise QueryError(f"filters.{name} must be a number") from exc
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueryError(f"filters.{name} must be a number")
    return float(value)


Predicate = Callable[[Placement], bool]


def parse_filters(raw: str | None) -> tuple[str, list[Predicate]]:
    """Parse ``filters`` into predicates; also returns a canonical string for view caching."""
    if raw is None or raw == "":
        return "", []
    spec = _json_object(raw, "filters")
    known = {
        "content_type",
        "content_source",
        "in_categories",
        "submitted_date_start",
        "submitted_date_end",
        "filter_by_subcaption",
        "min_instagram_followers",
        "filter_by_connected_user_ids",
        "exclude_connected_user_ids",
        *_BOOL_FILTERS,
    }
    unknown = sorted(set(spec) - known - _IGNORED_FILTERS)
    if unknown:
        raise QueryError(f"unknown filters key: {unknown[0]}")
    preds: list[Predicate] = []
    content_types = _str_list(spec, "content_type")
    if content_types is not None:
        wanted_types = frozenset(content_types)
        preds.append(lambda p: p.photo.content_type in wanted_types)
    sources = _str_list(spec, "content_source")
    if sources is not None:
        wanted = {"instagram" if s in _INSTAGRAM_ALIASES else s for s in sources}
        preds.append(lambda p: p.photo.source in wanted)
    has_permission = _bool(spec, "has_permission")
    if has_permission:  # false is the same as absent
        preds.append(lambda p: p.photo.has_permission)
    flagged = _bool(spec, "flagged_photos")
    if flagged:
        preds.append(lambda p: p.photo.is_flagged)
    has_product = _bool(spec, "has_product")
    if has_product is not None:
        preds.append(lambda p: bool(p.photo.product_tags) == has_product)
    starred = _bool(spec, "starred_photos")
    if starred is not None:
        preds.append(lambda p: p.photo.is_starred == starred)
    categories = _int_list(spec, "in_categories")
    if categories is not None:
        wanted_ids = frozenset(categories)
        preds.append(lambda p: not wanted_ids.isdisjoint(p.photo.category_album_ids))
    start = _number(spec, "submitted_date_start")
    if start is not None:
        start_ms = start * 1000
        preds.append(lambda p: p.photo.created_at // 1000 * 1000 >= start_ms)
    end = _number(spec, "submitted_date_end")
    if end is not None:
        end_ms = end * 1000
        preds.append(lambda p: p.photo.created_at // 1000 * 1000 <= end_ms)
    subcaption = spec.get("filter_by_subcaption")
    if subcaption is not None:
        if not isinstance(subcaption, str):
            raise QueryError("filters.filter_by_subcaption must be a string")
        needle = subcaption.casefold()
        preds.append(lambda p: needle in p.photo.title.casefold())
    min_followers = _number(spec, "min_instagram_followers")
    if min_followers is not None:
        floor = min_followers
        preds.append(lambda p: p.photo.user.instagram_followers >= floor)
    only_users = _int_list(spec, "filter_by_connected_user_ids")
    if only_users is not None:
        keep = frozenset(only_users)
        preds.append(lambda p: p.photo.user.connected_user_id in keep)
    excluded = _int_list(spec, "exclude_connected_user_ids")
    if excluded is not None:
        drop = frozenset(excluded)
        preds.append(lambda p: p.photo.user.connected_user_id not in drop)
    return json.dumps(spec, sort_keys=True), preds


def apply_filters(items: Iterable[Placement], preds: list[Predicate]) -> list[Placement]:
    """Items that satisfy every predicate (filters are intersected)."""
    if not preds:
        return list(items)
    return [p for p in items if all(pred(p) for pred in preds)]
