"""Pages read by `pixlee.source.arrow.json_read` laid out as dlt-shaped Arrow tables.

Why: `MediaTables.build` gathers every column from Python dicts on the thread that hands items
to dlt (~2-4 ms a page, GIL held throughout). Pages already read as Arrow in the page threads
only need rearranging here: a few kernels per column, most of them without the GIL.

Same tables as `MediaTables.build` for the same items, or none: whatever cannot be laid out
exactly raises `NotArrowable`, and the caller decodes those pages (`ParsedPage.dicts`) and
takes today's path (`MediaTables`, or dlt's normalizer) for them.

Where Arrow cannot tell what `MediaTables` can, this refuses rather than guesses: a double
column not pinned to double (`1` and `1.0` both read as 1.0, and `MediaTables` types a page of
`1`s as bigint), an id sent as text, JSON kept whole past the nesting limit unless it is
empty or made of text, integers and booleans (key order and absent keys are lost in Arrow), and
a pinned column null on every row whose key cannot be shown present or absent from the body's
bytes (`MediaTables` writes such a column when the key is present and null, and leaves it out
when the key is absent; Arrow reads both as null).
"""

from __future__ import annotations

import secrets
import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.naming import NamingConvention

from pixlee.source.arrow.json_read import (
    DATA,
    ObjectPath,
    PageReader,
    ParsedPage,
    ReadSchema,
    Unreadable,
)
from pixlee.source.arrow.tables import (
    LIST_IDX,
    LOAD_ID,
    PARENT_ID,
    ROOT_ID,
    ROW_ID,
    TIMESTAMP_TYPE,
    VALUE,
    DltNames,
    NotArrowable,
    TableSpec,
)
from pixlee.source.records import (
    MEDIA_ID_FIELDS,
    MEDIA_TIME_FIELDS,
    PRODUCT_ID_FIELDS,
    PRODUCT_TIME_FIELDS,
    TS_SUFFIX,
)

__all__ = ["JsonPages", "PageReader", "ParsedPage", "Unreadable"]

_MAX_MS = 253402300799999  # 9999-12-31, as in pixlee.source.records
_EXACT_DOUBLE = 2**53  # past this, an int read as double may not be the int sent
_SCALARS = {pa.int64(): "bigint", pa.float64(): "double", pa.bool_(): "bool", pa.string(): "text"}
_NULL_TYPES = {
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "text": pa.string(),
    "json": pa.string(),
    "timestamp": TIMESTAMP_TYPE,
}

_CHILD_LINKS = (ROW_ID, PARENT_ID, LIST_IDX, ROOT_ID)

# A page as `build` takes it: read (or not) and the extra root columns of its rows.
Page = tuple[ParsedPage | Unreadable, Mapping[str, Any] | None]


class JsonPages:
    """Pages of one media-shaped listing, read by `reader`, as the tables `MediaTables` builds.

    `known_types(table)` returns the dlt data types pinned for a table's columns (resource
    hints and the live schema), as for `MediaTables`; it is called from `build` only.
    """

    def __init__(
        self,
        root_table: str,
        naming: NamingConvention,
        max_nesting: int,
        known_types: Callable[[str], Mapping[str, str]],
        required: Sequence[str] = (),
        reader: PageReader | None = None,
    ) -> None:
        self.root_table = root_table
        self.reader = reader or PageReader()
        self._max_nesting = max_nesting
        self._known_types = known_types
        self._required = frozenset(required)
        self._dlt_names = DltNames(naming)
        products = self._child_table(root_table, "products")
        self._id_fields = {root_table: MEDIA_ID_FIELDS, products: PRODUCT_ID_FIELDS}
        self._time_fields = {root_table: MEDIA_TIME_FIELDS, products: PRODUCT_TIME_FIELDS}

    @property
    def schema(self) -> ReadSchema | None:
        return self.reader.schema

    def learn(self, envelope: Mapping[str, Any]) -> None:
        """Widen the reader's schema with a decoded body (see `PageReader.learn`)."""
        self.reader.learn(envelope)

    def parse(self, body: bytes) -> ParsedPage | Unreadable:
        """The body as Arrow, or why it must take the dict path (see `PageReader.parse`)."""
        return self.reader.parse(body)

    def build(self, pages: Sequence[Page], load_id: str) -> list[TableSpec]:
        """The tables of `pages` (parsed under one schema) and their extra root columns,
        root first, exactly as `MediaTables.build` lays them out; raises `NotArrowable`."""
        return _Build(self, pages).tables(load_id)

    def _name(self, path: tuple[str, ...]) -> str:
        return self._dlt_names.column(path)

    def _child_table(self, parent: str, column: str) -> str:
        return self._dlt_names.child_table(parent, column)


@dataclass
class _Level:
    """One table's rows: objects (a struct array) or scalars (its `value` column), and linkage."""

    name: str
    parent: str | None
    objects: pa.Array | None
    scalars: pa.Array | None
    ids: pa.Array
    root_ids: pa.Array
    r_lvl: int
    path: ObjectPath
    parent_ids: pa.Array | None = None
    positions: pa.Array | None = None


@dataclass
class _Columns:
    """The columns of one table as they are gathered."""

    level: _Level
    known: Mapping[str, str]
    arrays: dict[str, pa.Array] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    json_columns: set[str] = field(default_factory=set)
    children: dict[str, _Level] = field(default_factory=dict)

    def claim(self, name: str) -> None:
        """`MediaTables` refuses two fields of one name, or keeps one of them by key order,
        which Arrow does not keep: any two learned fields of one name refuse the batch."""
        if name in self.names:
            raise NotArrowable(f"{self.level.name}: two fields are both named {name!r}")
        self.names.add(name)


class _Build:
    """One `JsonPages.build` call."""

    def __init__(self, pages: JsonPages, parsed: Sequence[Page]) -> None:
        self._pages = pages
        self._parsed = parsed
        read: list[ParsedPage] = []
        for page, _ in parsed:
            if not isinstance(page, ParsedPage):
                raise NotArrowable(page.reason)
            read.append(page)
        if len({id(page.schema) for page in read}) != 1:
            raise NotArrowable("pages read under different schemas (or none)")
        self._schema: ReadSchema = read[0].schema
        self._presence = _Presence([page.body for page in read])
        # objects at a path, among the items kept (False) or all items read (True)
        self._object_counts: dict[tuple[ObjectPath, bool], int] = {}
        self._items = _joined([page.items for page in read])
        self._read_items = self._items
        if any(page.indices is not None for page in read):
            self._read_items = _joined([page.read_items for page in read])

    def tables(self, load_id: str) -> list[TableSpec]:
        prefix = secrets.token_hex(8)
        ids = pa.array([f"{prefix}{i:x}" for i in range(len(self._items))], pa.string())
        pending = deque(
            [
                _Level(
                    self._pages.root_table,
                    None,
                    self._items if pa.types.is_struct(self._items.type) else None,
                    None,
                    ids,
                    ids,
                    self._pages._max_nesting,
                    (DATA,),
                )
            ]
        )
        specs = []
        while pending:
            level = pending.popleft()
            gathered = _Columns(level, self._pages._known_types(level.name))
            links = (ROW_ID, LOAD_ID) if level.parent is None else _CHILD_LINKS
            gathered.names.update(links)  # an item field of such a name refuses the batch
            if level.objects is not None:
                self._fields(gathered, level.objects, (), level.path, level.r_lvl)
            elif level.scalars is not None:
                self._value(gathered, level.scalars)
            specs.append(self._spec(gathered, load_id))
            pending.extend(gathered.children.values())
        return specs

    def _spec(self, gathered: _Columns, load_id: str) -> TableSpec:
        level = gathered.level
        arrays = {ROW_ID: level.ids, **gathered.arrays}
        if level.parent is None:
            for column, array in self._extras(gathered.known):
                arrays[column] = array
            arrays[LOAD_ID] = pa.array([load_id] * len(level.ids), pa.string())
        else:
            assert level.parent_ids is not None and level.positions is not None
            arrays[PARENT_ID] = level.parent_ids
            arrays[LIST_IDX] = level.positions
            arrays[ROOT_ID] = level.root_ids
        required = self._pages._required if level.parent is None else frozenset()
        fields = [
            pa.field(
                name,
                array.type,
                nullable=not (
                    name.startswith("_dlt_") or (name in required and array.null_count == 0)
                ),
            )
            for name, array in arrays.items()
        ]
        table = pa.Table.from_arrays(list(arrays.values()), schema=pa.schema(fields))
        return TableSpec(level.name, level.parent, table, frozenset(gathered.json_columns))

    def _extras(self, known: Mapping[str, str]) -> Iterable[tuple[str, pa.Array]]:
        """Extra root columns, one value per page (e.g. the `sku` a page was read for)."""
        columns: dict[str, list[Any]] = {}
        done = 0
        for page, extra in self._parsed:
            rows = len(page.items) if page.items is not None else 0
            for name, value in (extra or {}).items():
                columns.setdefault(name, [None] * done).extend([value] * rows)
            done += rows
            for values in columns.values():
                values.extend([None] * (done - len(values)))
        for name, values in columns.items():
            column = self._pages._name((name,))
            try:
                array = pa.array(values)
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                raise NotArrowable(f"extra column {name}: {exc}") from None
            typed = _typed(column, array, known.get(column), exact_doubles=True)
            if typed is not None:
                yield column, typed

    def _fields(
        self,
        gathered: _Columns,
        objects: pa.Array,
        path: tuple[str, ...],
        object_path: ObjectPath,
        r_lvl: int,
    ) -> None:
        """Every field of `objects` (a struct array, one per row) as dlt lays it out."""
        for spec, values in zip(objects.type, objects.flatten(), strict=True):
            key = spec.name
            column = self._pages._name((*path, key))
            if values.null_count == len(values):
                self._null_column(gathered, column, key, object_path, not path)
            elif pa.types.is_struct(values.type) or pa.types.is_list(values.type):
                if r_lvl <= 0:
                    gathered.claim(column)
                    gathered.arrays[column] = _json_texts(column, values)
                    gathered.json_columns.add(column)
                elif pa.types.is_struct(values.type):
                    # `MediaTables` refuses an object under a name already taken (by key order)
                    gathered.claim(column)
                    self._fields(gathered, values, (*path, key), (*object_path, key), r_lvl - 1)
                else:
                    self._children(gathered, column, values, (*object_path, key))
            else:
                self._scalar(gathered, column, values, top_level=not path)

    def _null_column(
        self, gathered: _Columns, column: str, key: str, object_path: ObjectPath, top: bool
    ) -> None:
        """A field null on every row: left out, as dlt leaves it out, unless it is pinned and
        its key is in the body (`MediaTables` writes a pinned column only for keys it saw)."""
        gathered.claim(column)
        level = gathered.level
        is_time = top and column in self._pages._time_fields.get(level.name, ())
        if is_time:
            gathered.claim(column + TS_SUFFIX)
        data_type = gathered.known.get(column)
        if data_type is None or not self._presence.has_key(key, object_path, self):
            return
        arrow_type = _NULL_TYPES.get(data_type)
        if arrow_type is None:
            raise NotArrowable(f"{level.name}.{column} is pinned to {data_type}")
        rows = len(level.ids)
        gathered.arrays[column] = pa.nulls(rows, arrow_type)
        if is_time:
            gathered.arrays[column + TS_SUFFIX] = pa.nulls(rows, TIMESTAMP_TYPE)

    def _scalar(self, gathered: _Columns, column: str, values: pa.Array, top_level: bool) -> None:
        level = gathered.level
        gathered.claim(column)
        is_id = top_level and column in self._pages._id_fields.get(level.name, ())
        if is_id and not pa.types.is_integer(values.type):  # `MediaTables` reads "12" as 12
            raise NotArrowable(f"{level.name}.{column}: an id that is not an integer")
        typed = _typed(column, values, gathered.known.get(column), exact_doubles=False)
        assert typed is not None  # not null on every row
        gathered.arrays[column] = typed
        if top_level and column in self._pages._time_fields.get(level.name, ()):
            gathered.claim(column + TS_SUFFIX)
            gathered.arrays[column + TS_SUFFIX] = _timestamps(level.name, column, typed)

    def _value(self, gathered: _Columns, scalars: pa.Array) -> None:
        """The `value` column of a table made from lists of scalars."""
        gathered.claim(VALUE)
        data_type = gathered.known.get(VALUE)
        if scalars.null_count == len(scalars):  # no element, or none but nulls
            if data_type is not None:
                arrow_type = _NULL_TYPES.get(data_type)
                if arrow_type is None:
                    raise NotArrowable(f"{gathered.level.name}.value is pinned to {data_type}")
                gathered.arrays[VALUE] = pa.nulls(len(scalars), arrow_type)
            return
        typed = _typed(VALUE, scalars, data_type, exact_doubles=False)
        assert typed is not None
        gathered.arrays[VALUE] = typed

    def _children(
        self, gathered: _Columns, column: str, lists: pa.Array, object_path: ObjectPath
    ) -> None:
        """The elements of a list column as the next table; child ids are
        `<parent id>.<position>`, as dlt makes them."""
        parent = gathered.level
        table = self._pages._child_table(parent.name, column)
        gathered.claim(column)
        if table in gathered.children:
            raise NotArrowable(f"two list fields both make table {table}")
        lengths = pc.fill_null(pc.list_value_length(lists), 0)
        elements = pc.list_flatten(lists)
        if not len(elements):
            return  # only empty lists: dlt's normalizer (and `MediaTables`) make no table
        parent_index, positions = _positions(lengths, len(elements))
        parent_ids = parent.ids.take(parent_index)
        objects: pa.Array | None = None
        scalars: pa.Array | None = elements
        if elements.null_count == len(elements):  # `MediaTables` sees only scalars (or none)
            scalars = pa.nulls(len(elements))
        elif pa.types.is_struct(elements.type):
            objects, scalars = elements, None
            if elements.null_count and VALUE in self._pages._known_types(table):
                raise NotArrowable(f"{table}: null elements would fill a pinned `value`")
        elif pa.types.is_list(elements.type):
            raise NotArrowable(f"a list of lists in {table}")
        gathered.children[table] = _Level(
            table,
            parent.name,
            objects,
            scalars,
            pc.binary_join_element_wise(parent_ids, positions.cast(pa.string()), "."),
            parent.root_ids.take(parent_index),
            parent.r_lvl - 1,
            object_path,
            parent_ids,
            positions,
        )


def _positions(lengths: pa.Array, total: int) -> tuple[pa.Array, pa.Array]:
    """For lists of these lengths laid end to end: each element's list and its position."""
    offsets = pa.concat_arrays(
        [pa.array([0], pa.int64()), pc.cumulative_sum(lengths.cast(pa.int64()))]
    )
    as_lists = pa.ListArray.from_arrays(offsets.cast(pa.int32()), pa.nulls(total))
    parent_index = pc.list_parent_indices(as_lists)
    starts = offsets.take(parent_index)
    return parent_index, pc.subtract(pa.array(range(total), pa.int64()), starts)


def _typed(
    column: str, values: pa.Array, data_type: str | None, exact_doubles: bool
) -> pa.Array | None:
    """A scalar column in the type `MediaTables` gives the same values (None: left out).

    `exact_doubles`: the values came from Python, where 1 and 1.0 differ; from JSON through
    Arrow they do not, so a double column is taken only where the schema pins it to double.
    """
    if values.null_count == len(values):
        if data_type is None:
            return None
        arrow_type = _NULL_TYPES.get(data_type)
        if arrow_type is None:
            raise NotArrowable(f"{column} is pinned to {data_type}")
        return pa.nulls(len(values), arrow_type)
    inferred = _SCALARS.get(values.type)
    if inferred is None:
        raise NotArrowable(f"{column} holds {values.type}")
    if inferred == "double" and not exact_doubles:
        if data_type != "double":
            raise NotArrowable(f"{column}: a double column not pinned to double")
        if (pc.max(pc.abs(values)).as_py() or 0) >= _EXACT_DOUBLE:
            raise NotArrowable(f"{column}: a number from 2**53 up may have been an integer")
        return values
    if data_type is None or data_type == inferred or (data_type, inferred) == ("json", "text"):
        return values
    if (data_type, inferred) == ("double", "bigint"):
        # as `MediaTables` and dlt's normalizer (float(value)): past 2**53 it rounds
        return values.cast(pa.float64(), safe=False)
    raise NotArrowable(f"{column} is {data_type} but holds {inferred}")


def _timestamps(table: str, column: str, raw: pa.Array) -> pa.Array:
    """`<field>_ts` for an epoch-ms column (implausible times become null)."""
    if not pa.types.is_integer(raw.type):
        raise NotArrowable(f"{table}.{column}: a time that is not an integer")
    low, high = (scalar.as_py() for scalar in pc.min_max(raw).values())
    if low is not None and not (low >= 0 and high <= _MAX_MS):
        plausible = pc.and_(pc.greater_equal(raw, 0), pc.less_equal(raw, _MAX_MS))
        raw = pc.if_else(plausible, raw, pa.scalar(None, pa.int64()))
    return raw.cast(pa.timestamp("ms", tz="UTC")).cast(TIMESTAMP_TYPE)


def _plain_json(data_type: pa.DataType) -> bool:
    """Types whose values orjson writes back exactly as it read them (no doubles: 1 and 1.0
    read alike; no objects with fields: key order and absent keys are not kept)."""
    if pa.types.is_list(data_type):
        return _plain_json(data_type.value_type)
    if pa.types.is_struct(data_type):
        return bool(data_type.num_fields == 0)
    return data_type in (pa.null(), pa.bool_(), pa.int64(), pa.string())


def _json_texts(column: str, values: pa.Array) -> pa.Array:
    """A field past the nesting limit as the JSON text `MediaTables` writes for it."""
    valid = values.is_valid()
    if pa.types.is_list(values.type) and pc.max(pc.list_value_length(values)).as_py() == 0:
        return pc.if_else(valid, pa.scalar("[]"), pa.scalar(None, pa.string()))
    if pa.types.is_struct(values.type) and values.type.num_fields == 0:
        return pc.if_else(valid, pa.scalar("{}"), pa.scalar(None, pa.string()))
    if not _plain_json(values.type):
        raise NotArrowable(f"{column}: JSON that Arrow cannot give back as it was sent")
    texts = [None if v is None else orjson.dumps(v).decode() for v in values.to_pylist()]
    return pa.array(texts, pa.string())


class _Presence:
    """Whether a key is in a batch's bodies at a given object path, read from their bytes.

    Sound because the bodies parsed under an explicit schema with unknown keys refused: every
    key in them is a learned key. `"key":` in the bytes is then that key (a quote inside a
    string is escaped, so the pattern cannot start inside one, unless some learned key holds a
    quote). Absence is proven only when the key could not have been written another way.
    """

    def __init__(self, bodies: Sequence[bytes]) -> None:
        self._bodies = bodies
        self._escapes: bool | None = None

    def has_key(self, key: str, object_path: ObjectPath, build: _Build) -> bool:
        schema = build._schema
        paths = schema.key_paths.get(key, (object_path,))
        if _count_objects(build, object_path) == 0:
            return False
        if schema.odd_keys or not _literal(key):
            raise NotArrowable(f"cannot tell from the bytes whether {key!r} is sent")
        pattern = b'"' + key.encode() + b'":'
        # where else the key may be written: objects at its other paths, and objects at this
        # path in the items not kept
        elsewhere = sum(
            _count_objects(build, path, every=True) for path in paths if path != object_path
        )
        elsewhere += _count_objects(build, object_path, every=True) - _count_objects(
            build, object_path
        )
        if elsewhere == 0:  # one occurrence proves it: stop at the first (counting every
            # body, GIL held, was most of a batch's build)
            found = int(any(pattern in body for body in self._bodies))
        else:
            found = sum(body.count(pattern) for body in self._bodies)
        if found > elsewhere:
            return True  # more than the other places can hold
        if found:
            raise NotArrowable(f"{key!r} is sent, but maybe only elsewhere")
        quoted = b'"' + key.encode() + b'"'
        if any(quoted in body for body in self._bodies) or self._ascii_escapes():
            raise NotArrowable(f"cannot prove {key!r} absent")
        return False

    def _ascii_escapes(self) -> bool:
        """Some `\\u00XX` escape writes a printable ASCII character (a key could hide so)."""
        if self._escapes is None:
            self._escapes = any(_has_ascii_escape(body) for body in self._bodies)
        return self._escapes


def _literal(key: str) -> bool:
    """Keys whose bytes in a body are their own (nothing to escape, no leading space)."""
    return (
        bool(key)
        and key.isascii()
        and key.isprintable()
        and not key[0].isspace()
        and not any(char in key for char in '"\\/')
    )


def _has_ascii_escape(body: bytes) -> bool:
    at = body.find(b"\\u00")
    while at >= 0:
        if body[at + 4 : at + 5] in (b"2", b"3", b"4", b"5", b"6", b"7"):
            return True
        at = body.find(b"\\u00", at + 1)
    return False


def _count_objects(build: _Build, object_path: ObjectPath, every: bool = False) -> int:
    """How many objects of the batch sit at `object_path` (items at ("data",)), among the
    items kept or, with `every`, among all items read."""
    count = build._object_counts.get((object_path, every))
    if count is None:
        items = build._read_items if every else build._items
        count = build._object_counts[(object_path, every)] = _objects_at(build, items, object_path)
    return count


def _objects_at(build: _Build, items: pa.Array, object_path: ObjectPath) -> int:
    if not object_path:
        return len(build._parsed)  # the envelopes
    if object_path[0] != DATA:
        return sys.maxsize  # inside the envelope, not counted: no bound
    array: pa.Array = items
    for key in object_path[1:]:
        if not pa.types.is_struct(array.type) or array.type.get_field_index(key) < 0:
            return 0
        array = array.flatten()[array.type.get_field_index(key)]
        while pa.types.is_list(array.type):
            array = pc.list_flatten(array)
    return int(len(array) - array.null_count)


def _joined(arrays: Sequence[pa.Array]) -> pa.Array:
    return arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)
