"""Listing bodies read by pyarrow's JSON reader, with a schema learned from earlier pages.

Why: orjson decodes a page into ~10,000 Python objects with the GIL held, and every later step
walks them again under the GIL. `pyarrow.json.read_json` parses the body in C++ with the GIL
released, so the page threads parse in parallel with the thread that hands tables to dlt.

The reader is told an explicit schema (`explicit_schema`, unknown keys an error), learned from
pages that were decoded as dicts (`PageReader.learn`): no timestamp inference, the same types
page after page, and any value of another kind fails the read, which then takes the dict path
(orjson), as does a body before any schema was learned. What the JSON reader accepts and
orjson refuses (NaN and infinities, a BOM, invalid UTF-8, two documents) is refused here too,
as is an envelope the client must judge itself (`status` of an error, `next` not a boolean, an
item that is not an object): a body read here is one the dict path reads without complaint,
into the same values.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from pixlee.api.responses import status_in_body

logger = logging.getLogger(__name__)

DATA = "data"
_BOM = b"\xef\xbb\xbf"
# Deeper than this, a body takes the dict path: orjson writes at most 254 levels (the
# quarantine rejects deeper items) and Pixlee's items are about 5 deep.
MAX_DEPTH = 32

# A body's shape as learned from decoded pages: a scalar kind, an object's fields in order of
# first appearance, or a list's element shape ([] while only empty lists were seen).
Shape = str | dict[str, Any] | list[Any]
# Where objects sit in a body: the keys from the envelope down (items are at ("data",)).
ObjectPath = tuple[str, ...]


@dataclass(frozen=True, eq=False)
class ReadSchema:
    """One learned schema: what `read_json` is told, and what presence checks need."""

    arrow: pa.Schema
    # every key, and the object paths where it occurs
    key_paths: Mapping[str, tuple[ObjectPath, ...]]
    # some key holds a quote or a backslash: a key's bytes in a body prove nothing
    odd_keys: bool
    # field positions from the envelope down to each double (checked for NaN and infinity)
    double_paths: tuple[tuple[int, ...], ...]
    # made once: setting a schema on new options copies it (~0.5 ms a page)
    options: pa_json.ParseOptions


@dataclass(frozen=True, eq=False)
class ParsedPage:
    """A listing body read as Arrow: its items (a struct array), and whether more pages follow.

    `select` keeps some of the items (the scanner drops repeats); `read_items` and `indices`
    remember which, so the page can still be decoded into exactly the dicts it stands for.
    """

    body: bytes
    schema: ReadSchema
    items: pa.Array
    has_next: bool
    read_items: pa.Array
    indices: pa.Array | None = None  # positions of `items` in `read_items`; None: all of them
    reason: ClassVar[None] = None

    def __len__(self) -> int:
        return len(self.items)

    def select(self, mask: pa.Array) -> ParsedPage:
        """The page with only the items where `mask` is true."""
        positions = self.indices
        if positions is None:
            positions = pa.array(range(len(self.read_items)), pa.int64())
        return replace(self, items=self.items.filter(mask), indices=positions.filter(mask))

    def dicts(self) -> list[dict[str, Any]]:
        """The kept items as the dict path decodes them (orjson reads every body read here)."""
        data: list[dict[str, Any]] = orjson.loads(self.body)[DATA]
        if self.indices is None:
            return data
        return [data[position] for position in self.indices.to_pylist()]


@dataclass(frozen=True)
class Unreadable:
    """A body this reader does not read, and why (it takes the dict path)."""

    body: bytes
    schema: ReadSchema | None
    reason: str
    items: ClassVar[None] = None


class PageReader:
    """Reads one kind of listing's bodies as Arrow, with the schema its dict pages taught it.

    Safe in any thread: the page threads call `read` (and `learn` after a dict page), each
    learned schema is one immutable object swapped in under a lock. `read_pages` and
    `fallbacks` (reasons, counted) tell how often the fast path was taken.
    """

    def __init__(self) -> None:
        self._shape: Shape | None = None
        self._schema: ReadSchema | None = None
        self._lock = threading.Lock()
        self.read_pages = 0
        self.fallbacks: Counter[str] = Counter()

    @property
    def schema(self) -> ReadSchema | None:
        return self._schema

    def learn(self, envelope: Mapping[str, Any]) -> None:
        """Widen the schema with a decoded body (one that took the dict path)."""
        with self._lock:
            shape = _shape_of(dict(envelope), self._shape, 0)
            if shape != self._shape:
                self._shape = shape
                self._schema = _read_schema(shape)

    def parse(self, body: bytes) -> ParsedPage | Unreadable:
        """The body as Arrow, or why it must take the dict path."""
        schema = self._schema
        if schema is None:
            return Unreadable(body, None, "no schema learned yet")
        return read_body(body, schema)

    def read(self, body: bytes) -> ParsedPage | None:
        """`parse`, None for a body that takes the dict path (`pixlee.api.paging.BodyReader`)."""
        parsed = self.parse(body)
        if isinstance(parsed, ParsedPage):
            with self._lock:
                self.read_pages += 1
            return parsed
        self.refuse(parsed.reason)
        return None

    def refuse(self, reason: str) -> None:
        """Count a page that takes the dict path after all (here, or when its reader's caller
        cannot use what Arrow read), under `reason` up to its first colon."""
        with self._lock:
            self.fallbacks[reason.split(":")[0]] += 1
        logger.debug("a page takes the dict path: %s", reason)


def _shape_of(value: Any, shape: Shape | None, depth: int) -> Shape:
    """`shape` widened by `value`; a value of another kind replaces it (the newest page wins).
    Past `MAX_DEPTH` a value's shape is "unknown": no Arrow type reads it."""
    if value is None:
        return "null" if shape is None else shape
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "double" if shape == "double" else "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if depth >= MAX_DEPTH:
        return "unknown"
    if isinstance(value, dict):
        fields = dict(shape) if isinstance(shape, dict) else {}
        for key, item in value.items():
            fields[key] = _shape_of(item, fields.get(key), depth + 1)
        return fields
    if isinstance(value, list):
        element = shape[0] if isinstance(shape, list) and shape else None
        for item in value:
            element = _shape_of(item, element, depth + 1)
        return [] if element is None else [element]
    return "unknown"  # not from JSON


_KIND_TYPES = {
    "null": pa.null(),
    "bool": pa.bool_(),
    "int": pa.int64(),
    "double": pa.float64(),
    "string": pa.string(),
}


def _arrow_type(shape: Shape) -> pa.DataType:
    if isinstance(shape, dict):
        return pa.struct([pa.field(key, _arrow_type(value)) for key, value in shape.items()])
    if isinstance(shape, list):
        return pa.list_(_arrow_type(shape[0]) if shape else pa.null())
    return _KIND_TYPES.get(shape, pa.binary())  # binary: JSON has no such values


def _objects(data_type: pa.DataType) -> pa.StructType | None:
    """The struct type of the objects a field holds (itself, or a list's elements)."""
    while pa.types.is_list(data_type):
        data_type = data_type.value_type
    return data_type if pa.types.is_struct(data_type) else None


def _key_paths(struct: pa.StructType, path: ObjectPath, found: dict[str, list[ObjectPath]]) -> None:
    for child in struct:
        found.setdefault(child.name, []).append(path)
        nested = _objects(child.type)
        if nested is not None:
            _key_paths(nested, (*path, child.name), found)


def _read_schema(shape: Shape) -> ReadSchema | None:
    if not isinstance(shape, dict) or not isinstance(shape.get(DATA), list):
        return None
    arrow = pa.schema([pa.field(key, _arrow_type(value)) for key, value in shape.items()])
    found: dict[str, list[ObjectPath]] = {}
    _key_paths(pa.struct(list(arrow)), (), found)
    odd = any('"' in key or "\\" in key for key in found)
    return ReadSchema(
        arrow,
        {key: tuple(paths) for key, paths in found.items()},
        odd,
        tuple(_double_paths(pa.struct(list(arrow)), ())),
        pa_json.ParseOptions(explicit_schema=arrow, unexpected_field_behavior="error"),
    )


def _double_paths(struct: pa.StructType, path: tuple[int, ...]) -> Iterable[tuple[int, ...]]:
    for index, child in enumerate(struct):
        data_type = child.type
        while pa.types.is_list(data_type):
            data_type = data_type.value_type
        if pa.types.is_floating(data_type):
            yield (*path, index)
        elif pa.types.is_struct(data_type):
            yield from _double_paths(data_type, (*path, index))


def _finite(envelope: pa.Array, double_paths: Iterable[tuple[int, ...]]) -> bool:
    """No NaN or infinity anywhere: the JSON reader accepts them, orjson (and JSON) do not."""
    for path in double_paths:  # list values whole, not per offsets: nothing hides there
        array = envelope
        for index in path:
            while pa.types.is_list(array.type):
                array = array.values
            array = array.field(index)
        while pa.types.is_list(array.type):
            array = array.values
        if pc.all(pc.is_finite(array)).as_py() is False:
            return False
    return True


def _valid_utf8(body: bytes) -> bool:
    if body.isascii():  # Pixlee's bodies: non-ASCII is sent as \\u escapes
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _int_or_text(data_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(data_type)
        or pa.types.is_string(data_type)
        or pa.types.is_null(data_type)
    )


# `-0` followed by what may end a number, or by the end of the body
_INTEGER_NEGATIVE_ZERO = re.compile(rb"-0(?:[,\]} \t\r\n]|\Z)")


def _integer_negative_zero(body: bytes) -> bool:
    """Whether `-0` appears as a whole number (not `-0.5`, `-0e1`, `-01`, or a date's `-05`).

    Also true for the same characters inside a string (e.g. "UTC-0,"): such a page merely
    takes the dict path. One regex scan: a `find` loop held the GIL ~0.5 ms a page, every
    date's `-0` a hit."""
    return _INTEGER_NEGATIVE_ZERO.search(body) is not None


def read_body(body: bytes, schema: ReadSchema) -> ParsedPage | Unreadable:
    """Read one body with `schema` (the GIL is released while Arrow parses)."""
    if body.startswith(_BOM) or not _valid_utf8(body):
        return Unreadable(body, schema, "not UTF-8 JSON as orjson reads it")
    if _integer_negative_zero(body):
        # orjson reads `-0` as the int 0 (0.0 in a double column); Arrow reads -0.0
        return Unreadable(body, schema, "an integer -0")
    try:
        table = pa_json.read_json(
            pa.BufferReader(body),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=len(body) + 1),
            parse_options=schema.options,
            # malloc, not Arrow's default mimalloc: the page threads' mimalloc heaps kept
            # freed pages (+110 MB peak at 20,000 media, +200 MB at 200,000; malloc: none)
            memory_pool=pa.system_memory_pool(),
        )
    except (pa.ArrowException, ValueError, TypeError) as exc:
        return Unreadable(body, schema, f"does not fit the learned schema: {exc}")
    try:
        # pyarrow 26 builds a `list<null>` column (learned from empty lists) shorter than its
        # offsets when a list holds nulls: such a table is not to be read from (~0.1 ms a page)
        table.validate(full=True)
    except pa.ArrowException as exc:
        return Unreadable(body, schema, f"Arrow built an inconsistent table: {exc}")
    if table.num_rows != 1:
        return Unreadable(body, schema, "not one JSON document")
    envelope = table.to_batches()[0]
    data = envelope.column(DATA)
    if data.null_count or not _finite(envelope.to_struct_array(), schema.double_paths):
        return Unreadable(body, schema, "no `data` list, or a NaN/infinite number")
    items = data.flatten()
    names = envelope.schema.names
    next_value = envelope.column("next")[0].as_py() if "next" in names else None
    status = None
    if "status" in names:  # as the client reads it: an int, or digits in a string
        if not _int_or_text(envelope.schema.field("status").type):
            # learned as a double (a `200.0` once): a `500` would read as 500.0, which the
            # client does not take for a status; orjson gives it the int
            return Unreadable(body, schema, "a `status` that is not an integer or text")
        status = status_in_body({"status": envelope.column("status")[0].as_py()})
    if items.null_count or not isinstance(next_value, bool) or (status or 0) >= 400:
        return Unreadable(body, schema, "an envelope the client must judge (status, next, nulls)")
    return ParsedPage(body, schema, items, next_value, items)


def kept_page(
    parsed: object, items: Sequence[object], kept: Sequence[object], key: str
) -> ParsedPage | None:
    """`parsed` cut down to `kept`: the items a scan kept of `items` (the page's decoded items,
    the very objects, in their order). None when the dicts may no longer be what the body says:
    no parsed page, another count of items, a kept object not among them, or a `key` that is
    not an integer column (the screen rewrites a key sent as text, `"12"` → 12)."""
    if not isinstance(parsed, ParsedPage) or len(parsed) != len(items):
        return None
    index = parsed.items.type.get_field_index(key) if pa.types.is_struct(parsed.items.type) else -1
    if index < 0 or not pa.types.is_integer(parsed.items.type.field(index).type):
        return None
    if len(kept) == len(items) and all(a is b for a, b in zip(kept, items, strict=True)):
        return parsed
    positions = {id(item): position for position, item in enumerate(items)}
    mask = [False] * len(items)
    last = -1
    for item in kept:
        position = positions.get(id(item), -1)
        if position <= last:  # not one of them, or out of order
            return None
        mask[position] = True
        last = position
    return parsed.select(pa.array(mask, pa.bool_()))
