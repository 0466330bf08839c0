"""Quarantine: items that cannot load as they are stay out of the data tables, and every
other item loads.

One bad item must never block an account. Before it reaches dlt, each item of a page is
screened here, on the thread that read the page:

* its key must be exactly an integer that fits BIGINT (`as_key`). Rejected: missing, null, a
  bool, any float (`1e20`, and `1002.0` too: Pixlee never sends ids as floats, so one is a
  broken item, not an id), a string that is not a plain integer (`"abc"`, `"1001x"`), anything
  beyond BIGINT. A string of digits (`"1002"`, as ids come in write responses) is accepted and
  written back as an int, so the key column keeps its type on the Arrow path and in dlt's
  normalizer alike;
* it must serialize (`orjson`): nesting 255 deep, a lone surrogate or an integer beyond 64 bits
  would fail dlt's writers and leave a package that can never normalize;
* keys that dlt's naming would merge into one column (`Title`/`title`) are both kept: the later
  one gets a suffix (`title_2`), with a warning naming them (`FieldNames`; applied where items
  meet dlt's normalizer, since the Arrow builder sends any page holding such keys there, so a
  page without them costs no walk).

A rejected item (or a page the client could not use, see `PixleeContentError`) becomes a row of
`_pixlee_rejected` with its table, album, page, raw key, reason and raw JSON.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

logger = logging.getLogger(__name__)

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
MAX_RAW_JSON_CHARS = 1_000_000
_MISSING = object()
_MAX_CACHED_KEY_SETS = 10_000


def as_key(value: Any) -> int | None:
    """`value` as a BIGINT key, or None when it is not exactly an integer (see module doc)."""
    if type(value) is int:
        return value if BIGINT_MIN <= value <= BIGINT_MAX else None
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        if digits.isascii() and digits.isdigit():
            number = int(text)
            return number if BIGINT_MIN <= number <= BIGINT_MAX else None
    return None


def _safe_text(text: str) -> str:
    """`text` with anything that is not valid UTF-8 (lone surrogates) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def raw_json(value: Any) -> str:
    """`value` as JSON text that any destination stores (ASCII, capped), whatever it holds."""
    try:
        text = json.dumps(value, ensure_ascii=True, default=repr)
    except (RecursionError, ValueError, TypeError) as exc:
        text = json.dumps(f"<not representable as JSON: {type(exc).__name__}>")
    if len(text) > MAX_RAW_JSON_CHARS:
        text = text[:MAX_RAW_JSON_CHARS] + "…(truncated)"
    return text


def key_text(value: Any) -> str | None:
    """A raw key as text for `_pixlee_rejected.key`: a string as it is, anything else as JSON."""
    if value is _MISSING or value is None:
        return None
    if isinstance(value, str):
        return _safe_text(value)
    return raw_json(value)


@dataclass(frozen=True)
class Rejection:
    """One item (or page) kept out of a data table, and why."""

    table: str
    reason: str
    raw: Any
    key: Any = _MISSING
    album_id: int | None = None
    page: int | None = None
    sku: str | None = None

    def row(self, load_id: str, rejected_at: datetime | None = None) -> dict[str, Any]:
        return {
            "load_id": load_id,
            "table": self.table,
            "album_id": self.album_id,
            "sku": self.sku,
            "page": self.page,
            "key": key_text(self.key),
            "reason": _safe_text(self.reason),
            "raw_json": raw_json(self.raw),
            "rejected_at": rejected_at or datetime.now(tz=UTC),
        }


def _key_problem(item: Mapping[str, Any], field: str) -> str | None:
    """Why `item[field]` is not a usable key (None: it is; the item then holds it as an int)."""
    value = item.get(field, _MISSING)
    if type(value) is int and BIGINT_MIN <= value <= BIGINT_MAX:
        return None  # the API's usual shape, checked first
    if value is _MISSING:
        return f"{field} is missing"
    if value is None:
        return f"{field} is null"
    key = as_key(value)
    if key is None:
        return f"{field} is not an integer: {key_text(value)}"
    if isinstance(item, dict):
        item[field] = key
    return None


def _layout_problem(item: Any) -> str | None:
    try:
        orjson.dumps(item)
    except (orjson.JSONEncodeError, TypeError, RecursionError) as exc:
        return f"cannot be laid out as a row: {exc}"
    return None


class FieldNames:
    """Renames dict keys that dlt's naming would merge into one column (`Title`, `title`).

    Walked down to the nesting dlt flattens (deeper values are kept whole as JSON). The answer
    per set of keys is cached: items of one listing share their key sets.
    """

    def __init__(self, normalize: Callable[[str], str], max_nesting: int) -> None:
        self._normalize = normalize
        self._max_nesting = max_nesting
        self._renames: dict[tuple[str, ...], dict[str, str]] = {}
        self._warned: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()

    def apply(self, item: dict[str, Any], where: str) -> None:
        self._apply(item, self._max_nesting, where)

    def _apply(self, obj: dict[str, Any], levels: int, where: str) -> None:
        keys = tuple(obj)
        renames = self._renames.get(keys)
        if renames is None:
            renames = self._find(keys, where)
        if renames:
            entries = list(obj.items())
            obj.clear()
            obj.update((renames.get(key, key), value) for key, value in entries)
        if levels <= 0:
            return
        for value in obj.values():
            if value.__class__ is dict:
                self._apply(value, levels - 1, where)
            elif value.__class__ is list:
                for element in value:
                    if element.__class__ is dict:
                        self._apply(element, levels - 1, where)

    def _find(self, keys: tuple[str, ...], where: str) -> dict[str, str]:
        columns: dict[str, str] = {}
        renames: dict[str, str] = {}
        names = [key if isinstance(key, str) else str(key) for key in keys]
        for key in names:
            column = self._column(key)
            if column not in columns:
                columns[column] = key
                continue
            suffix = 2
            while self._column(f"{key}_{suffix}") in columns:
                suffix += 1
            renames[key] = f"{key}_{suffix}"
            columns[self._column(renames[key])] = renames[key]
            self._warn(where, columns[column], key, renames[key], column)
        with self._lock:
            if len(self._renames) >= _MAX_CACHED_KEY_SETS:
                self._renames.clear()
            self._renames[keys] = renames
        return renames

    def _column(self, key: str) -> str:
        try:
            return self._normalize(key)
        except Exception:  # a name dlt refuses (empty): dlt's normalizer reports it
            return key

    def _warn(self, where: str, first: str, second: str, renamed: str, column: str) -> None:
        with self._lock:
            if (where, first, second) in self._warned:
                return
            self._warned.add((where, first, second))
        logger.warning(
            "%s: fields %r and %r both become column %r; %r is kept as %r",
            where,
            first,
            second,
            column,
            second,
            renamed,
        )


class ItemScreen:
    """Splits a page of one table's items into the ones that load and the rejections."""

    def __init__(self, table: str, key_field: str, names: FieldNames | None) -> None:
        self.table = table
        self._key_field = key_field
        self._names = names

    def split(
        self,
        items: Sequence[Any],
        *,
        album_id: int | None = None,
        page: int | None = None,
        sku: str | None = None,
    ) -> tuple[list[dict[str, Any]], list[Rejection]]:
        kept: list[dict[str, Any]] = []
        rejected: list[Rejection] = []
        page_fits = _layout_problem(items) is None  # one call for the whole page, as a rule
        for item in items:
            problem = (
                f"not an object: {type(item).__name__}"
                if not isinstance(item, dict)
                else _key_problem(item, self._key_field)
            )
            if problem is None and not page_fits:
                problem = _layout_problem(item)
            if problem is None:
                if self._names is not None:
                    self._names.apply(item, self.table)
                kept.append(item)
                continue
            key = item.get(self._key_field, _MISSING) if isinstance(item, dict) else _MISSING
            rejected.append(Rejection(self.table, problem, item, key, album_id, page, sku))
        return kept, rejected
