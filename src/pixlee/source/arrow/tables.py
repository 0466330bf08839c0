"""Media as Arrow tables, laid out exactly as dlt's relational normalizer would lay them out.

Why: a media item has ~85 fields and ~7 nested rows (products, their region links, mentions,
tags…). dlt's Python normalizer spends ~0.1 ms on each of those rows, which caps a load near
1,900 media/s on two cores — a third of what one API key can deliver (6,000/s). Built here,
column by column, the same tables (`media`, `media__products`,
`media__products__product_region_links`, …) go to dlt as Arrow, which writes them to parquet
and loads them without touching a row in Python again.

The layout follows dlt's `RelationalNormalizer` for `max_table_nesting` (dicts flattened into
`a__b` columns, lists into child tables, scalar lists into a `value` column, anything past the
nesting limit kept as JSON) and its linkage (`_dlt_id`, `_dlt_parent_id`, `_dlt_list_idx`,
`_dlt_root_id`, `_dlt_load_id`), so the dataset is the one the row path loads and dlt's merge
replaces child rows as usual. Root ids are random per row occurrence, as dlt's are: a page
re-read in the same load carries the same media twice and merge keeps exactly one copy with its
own children. Child ids are derived from the parent id and the list position. Where the merge
strategy matches rows by id across loads (upsert, e.g. Delta tables), root ids are dlt's hash
of the primary key instead, as dlt's normalizer makes them.

Types come from the schema where it pins them (resource hints, earlier loads) and from the data
otherwise. When data does not fit (a field that changes type, a list of lists, a value the
schema pins to another type), `NotArrowable` is raised and the caller hands those items to dlt's
normalizer instead, which makes variant columns and the like; nothing is dropped. One deliberate
difference: an unpinned column mixing ints and floats loads as double, not as a variant column.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from operator import itemgetter
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.json.helpers import get_row_hash
from dlt.common.normalizers.naming import NamingConvention

from pixlee.api.values import to_int
from pixlee.source.records import (
    MEDIA_ID_FIELDS,
    MEDIA_TIME_FIELDS,
    PRODUCT_ID_FIELDS,
    PRODUCT_TIME_FIELDS,
    TS_SUFFIX,
    to_timestamp,
)

ROW_ID = "_dlt_id"
PARENT_ID = "_dlt_parent_id"
ROOT_ID = "_dlt_root_id"
LIST_IDX = "_dlt_list_idx"
LOAD_ID = "_dlt_load_id"
VALUE = "value"

TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")
_MAX_MS = 253402300799999  # 9999-12-31, as in pixlee.source.records

_DLT_TYPES = {
    pa.int64(): "bigint",
    pa.float64(): "double",
    pa.bool_(): "bool",
    pa.string(): "text",
}
_ARROW_TYPES = {
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "text": pa.string(),
}

_EMPTY: Mapping[str, Any] = {}

# Arrow types that refuse every other kind of value, and the pins they satisfy
_PLAIN_PINS: dict[pa.DataType, tuple[str | None, ...]] = {
    pa.string(): (None, "text", "json"),
    pa.bool_(): (None, "bool"),
}
_PLAIN_TYPES = frozenset(_PLAIN_PINS)

# A flattened key: a top-level field name, or the path of a field inside nested dicts.
Key = str | tuple[str, ...]


class NotArrowable(Exception):
    """These items need dlt's own normalizer (type drift, lists of lists, …)."""


@dataclass
class _Rows:
    """One table's rows and their dlt linkage, in row order.

    `rows` are the API's own objects; a table made from lists of scalars has `scalars` (its
    `value` column) instead. The linkage is Arrow: a child table's ids are computed from its
    parents' in a few kernels rather than a Python loop over every element.
    """

    rows: Sequence[Mapping[str, Any]]
    ids: pa.Array
    root_ids: pa.Array
    scalars: list[Any] | None = None
    parent_ids: pa.Array | None = None
    positions: pa.Array | None = None


@dataclass(frozen=True)
class TableSpec:
    """One built table and what dlt needs to know about it."""

    name: str
    parent: str | None
    table: pa.Table
    json_columns: frozenset[str]


class DltNames:
    """Column and child-table names as dlt's normalizer makes them, each worked out once.

    Shared by both Arrow builders (`MediaTables`, `JsonPages`): they must name alike."""

    def __init__(self, naming: NamingConvention) -> None:
        self._naming = naming
        self._columns: dict[Key, str] = {}
        self._tables: dict[tuple[str, str], str] = {}

    def column(self, key: Key) -> str:
        """A field's column (a path inside nested dicts joins its parts with `__`)."""
        name = self._columns.get(key)
        if name is None:
            parts = (key,) if isinstance(key, str) else key
            if any(not part or part.isspace() for part in parts):
                raise NotArrowable("an empty field name")
            normalized = [self._naming.normalize_identifier(part) for part in parts]
            name = self._columns[key] = self._naming.shorten_fragments(*normalized)
        return name

    def child_table(self, parent: str, column: str) -> str:
        """The child table a list field of `parent` makes."""
        name = self._tables.get((parent, column))
        if name is None:
            name = self._naming.shorten_fragments(
                parent, self._naming.normalize_table_identifier(column)
            )
            self._tables[(parent, column)] = name
        return name


class MediaTables:
    """Builds the Arrow tables of a batch of items of one media-shaped root table.

    `known_types(table)` returns the dlt data types already pinned for a table's columns (the
    resource hints and the live schema); columns it does not know are inferred from the data.
    """

    def __init__(
        self,
        root_table: str,
        naming: NamingConvention,
        max_nesting: int,
        known_types: Callable[[str], Mapping[str, str]],
        key_hash: Sequence[str] | None = None,
        required: Sequence[str] = (),
    ) -> None:
        self.root_table = root_table
        # Root ids: random per row (dlt's default) or, for upsert-style merges that match
        # child rows by id across loads, dlt's hash of these primary key fields.
        self._key_hash = tuple(key_hash) if key_hash else None
        # root columns dlt declares NOT NULL (the primary key): Arrow says so too when it holds
        self._required = frozenset(required)
        self._max_nesting = max_nesting
        self._known_types = known_types
        self._dlt_names = DltNames(naming)
        # (table, column) -> the text/bool Arrow type it was built with (see `_plain_column`)
        self._plain: dict[tuple[str, str], pa.DataType] = {}
        products = self._child_table(root_table, "products")
        # as pixlee.source.records.media_row: ids to coerce to int, epoch-ms times to add `_ts` for
        self._id_fields = {root_table: MEDIA_ID_FIELDS, products: PRODUCT_ID_FIELDS}
        self._time_fields = {root_table: MEDIA_TIME_FIELDS, products: PRODUCT_TIME_FIELDS}

    def build(
        self,
        pages: Sequence[tuple[Sequence[Mapping[str, Any]], Mapping[str, Any] | None]],
        load_id: str,
    ) -> list[TableSpec]:
        """The tables of `pages` (items plus extra root columns each), root first.

        Column by column: a table's rows are the API's own dicts (never copied); each field is
        gathered into one list, and only fields holding dicts or lists get more work — dicts
        are flattened into `a__b` columns the same way, lists become the next child table.
        """
        items_in_order, ids, extras = self._root_rows(pages)
        root_ids = pa.array(ids, pa.string())
        root = _Rows(items_in_order, root_ids, root_ids)
        pending: list[tuple[str, str | None, _Rows, int]] = [
            (self.root_table, None, root, self._max_nesting)
        ]
        specs = []
        while pending:
            name, parent, rows, r_lvl = pending.pop(0)
            arrays: dict[str, pa.Array] = {ROW_ID: rows.ids}
            children: dict[str, _Rows] = {}
            json_columns: set[str] = set()
            fields = None if rows.scalars is None else ([VALUE], [rows.scalars])
            self._columns(name, rows.rows, rows, r_lvl, (), arrays, children, json_columns, fields)
            if parent is None:
                for extra_name, extra_values in extras.items():
                    column = self._name(extra_name)
                    array = _array(name, column, extra_values, self._known_types(name).get(column))
                    if array is not None:
                        arrays[column] = array
                arrays[LOAD_ID] = pa.array([load_id] * len(rows.rows), pa.string())
            else:
                assert rows.parent_ids is not None and rows.positions is not None
                arrays[PARENT_ID] = rows.parent_ids
                arrays[LIST_IDX] = rows.positions
                arrays[ROOT_ID] = rows.root_ids
            specs.append(
                TableSpec(
                    name, parent, self._table(arrays, parent is None), frozenset(json_columns)
                )
            )
            pending.extend(
                (child, name, child_rows, r_lvl - 1) for child, child_rows in children.items()
            )
        return specs

    def _root_rows(
        self, pages: Sequence[tuple[Sequence[Mapping[str, Any]], Mapping[str, Any] | None]]
    ) -> tuple[list[Mapping[str, Any]], list[str], dict[str, list[Any]]]:
        """The items of all pages in order, their root ids, and each extra root column."""
        items_in_order: list[Mapping[str, Any]] = []
        ids: list[str] = []
        extras: dict[str, list[Any]] = {}
        prefix = secrets.token_hex(8)
        for items, extra in pages:
            for item in items:
                if self._key_hash:
                    ids.append(self._hashed_id(item, extra))
                else:
                    ids.append(f"{prefix}{len(ids):x}")
                items_in_order.append(item)
            for name, value in (extra or {}).items():
                values = extras.setdefault(name, [None] * (len(items_in_order) - len(items)))
                values.extend([value] * len(items))
        for values in extras.values():
            values.extend([None] * (len(items_in_order) - len(values)))
        return items_in_order, ids, extras

    def _hashed_id(self, item: Mapping[str, Any], extra: Mapping[str, Any] | None) -> str:
        assert self._key_hash is not None
        values = {**item, **(extra or {})}
        key = {name: to_int(values.get(name)) for name in self._key_hash}
        return get_row_hash(key, list(self._key_hash))

    def _columns(
        self,
        table: str,
        objects: Sequence[Mapping[str, Any]],
        rows: _Rows,
        r_lvl: int,
        path: tuple[str, ...],
        arrays: dict[str, pa.Array],
        children: dict[str, _Rows],
        json_columns: set[str],
        fields: tuple[list[str], Iterable[Sequence[Any]]] | None = None,
    ) -> None:
        """Add the columns of `objects` (one per row of `rows`) to `arrays`, as dlt lays them
        (or of `fields`, field names and their values, when given instead)."""
        known = self._known_types(table)
        ids = self._id_fields.get(table, ()) if not path else ()
        times = self._time_fields.get(table, ()) if not path else ()
        keys, columns = _transposed(objects) if fields is None else fields
        claimed: set[str] = set()  # every field's name, whatever it holds (null, object, list)
        for key, values in zip(keys, columns, strict=True):
            column = self._name((*path, key) if path else key)
            if column in arrays or column in claimed:
                # `Title` and `title`: dlt's normalizer keeps both (renamed), even beside a null
                raise NotArrowable(f"{table}: two fields are both named {column!r}")
            claimed.add(column)
            array = self._plain_column(table, column, values, known.get(column))
            if array is not None:  # the same plain type as in earlier batches
                arrays[column] = array
                continue
            kinds = set(map(type, values))
            if dict in kinds or list in kinds:
                if not kinds <= {dict, list, type(None)} or {dict, list} <= kinds:
                    raise NotArrowable(
                        f"{table}.{column} mixes {sorted(k.__name__ for k in kinds)}"
                    )
                if r_lvl <= 0:  # past the nesting limit: dlt keeps it whole, as JSON
                    arrays[column] = pa.array(
                        [None if v is None else orjson.dumps(v).decode() for v in values],
                        pa.string(),
                    )
                    json_columns.add(column)
                elif dict in kinds:
                    nested = [v if v is not None else _EMPTY for v in values]
                    self._columns(table, nested, rows, r_lvl - 1, (*path, key), arrays, children,
                                  json_columns)  # fmt: skip
                else:
                    self._children(table, column, values, rows, children)
                continue
            if column in ids and str in kinds:
                values = [to_int(value) for value in values]
            array = _array(table, column, values, known.get(column))
            if array is None:
                continue  # null on every row and not pinned: dlt would not create it either
            arrays[column] = array
            if column in times:
                arrays[column + TS_SUFFIX] = _timestamps(array, values)
            elif array.type in _PLAIN_TYPES and column not in ids:
                self._plain[(table, column)] = array.type

    def _plain_column(
        self, table: str, column: str, values: Sequence[Any], data_type: str | None
    ) -> pa.Array | None:
        """The column in the text/bool type it had before, if it still holds just that.

        Skips type inference for most media columns. Arrow refuses anything else in a text or
        bool column (numbers, dicts, lists), so any change of shape takes the full path, as does
        a column null on every row (which may need to be left out).
        """
        arrow_type = self._plain.get((table, column))
        if arrow_type is None or data_type not in _PLAIN_PINS[arrow_type]:
            return None
        try:
            array = pa.array(values, arrow_type)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            return None
        return None if array.null_count == len(array) else array

    def _children(
        self,
        parent_table: str,
        column: str,
        lists: Sequence[Any],
        parents: _Rows,
        children: dict[str, _Rows],
    ) -> None:
        """The elements of a list column as rows of the child table (scalars as `value`).

        Child ids are `<parent id>.<position>`, as dlt makes them; the linkage of all elements
        is computed at once in Arrow (a Python loop over each element took ~1/3 of a build).
        """
        table = self._child_table(parent_table, column)
        if table in children:
            raise NotArrowable(f"two list fields both make table {table}")
        present = [values for values in lists if values]
        kinds = set(map(type, chain.from_iterable(present)))
        if list in kinds:
            raise NotArrowable(f"a list of lists in {table}")
        elements = list(chain.from_iterable(present))
        if not elements:
            return  # only empty lists: dlt's normalizer makes no table (and no columns) either
        rows: list[Mapping[str, Any]] = []
        scalars: list[Any] | None = None
        if kinds == {dict}:
            rows = elements
        elif dict in kinds:  # dicts and scalars in one list: scalars become `{"value": …}`
            rows = [v if v.__class__ is dict else {VALUE: v} for v in elements]
        else:
            scalars = elements
        parent_index, positions = _list_positions([len(v) if v else 0 for v in lists])
        parent_ids = parents.ids.take(parent_index)
        children[table] = _Rows(
            rows,
            pc.binary_join_element_wise(parent_ids, positions.cast(pa.string()), "."),
            parents.root_ids.take(parent_index),
            scalars,
            parent_ids,
            positions,
        )

    def _name(self, key: Key) -> str:
        return self._dlt_names.column(key)

    def _child_table(self, parent: str, column: str) -> str:
        return self._dlt_names.child_table(parent, column)

    def _table(self, arrays: dict[str, pa.Array], is_root: bool) -> pa.Table:
        required = self._required if is_root else frozenset()
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
        return pa.Table.from_arrays(list(arrays.values()), schema=pa.schema(fields))


def _list_positions(lengths: list[int]) -> tuple[pa.Array, pa.Array]:
    """For lists of these lengths laid end to end: each element's list (its index in
    `lengths`) and its position in that list."""
    offsets = list(accumulate(lengths, initial=0))
    total = offsets[-1]
    as_lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.nulls(total))
    parent_index = pc.list_parent_indices(as_lists)
    starts = pa.array(offsets[:-1], pa.int64()).take(parent_index)
    return parent_index, pc.subtract(pa.array(range(total), pa.int64()), starts)


def _transposed(
    objects: Sequence[Mapping[str, Any]],
) -> tuple[list[str], Iterable[Sequence[Any]]]:
    """Every field name of `objects` (in order of first appearance) and each one's values
    across them (None where an object lacks it).

    API items of one listing carry the same fields: when every object has as many fields as
    the first and each has the first one's, one C-level pass (itemgetter + zip) does it, about
    twice as fast as a `get` per field and object; otherwise fields are gathered one by one.
    """
    if not objects:
        return [], ()
    first = list(objects[0])
    if len(first) > 1 and set(map(len, objects)) == {len(first)}:
        try:
            return first, zip(*map(itemgetter(*first), objects), strict=True)
        except KeyError:
            pass
    keys = list(dict.fromkeys(chain.from_iterable(objects)))
    return keys, ([obj.get(key) for obj in objects] for key in keys)


def _array(table: str, name: str, values: Sequence[Any], data_type: str | None) -> pa.Array | None:
    """The column as Arrow, in the pinned type if any; None for an all-null unpinned column."""
    try:
        array = pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        raise NotArrowable(f"{table}.{name}: {exc}") from None
    if array.type == pa.null():
        if data_type is None:
            return None
        if data_type == "json":
            return pa.nulls(len(values), pa.string())
        if data_type == "timestamp":
            return pa.nulls(len(values), TIMESTAMP_TYPE)
        if data_type in _ARROW_TYPES:
            return pa.nulls(len(values), _ARROW_TYPES[data_type])
        raise NotArrowable(f"{table}.{name} is pinned to {data_type}")
    inferred = _DLT_TYPES.get(array.type)
    if inferred is None:
        raise NotArrowable(f"{table}.{name} holds {array.type}")
    if data_type is None or data_type == inferred or (data_type, inferred) == ("json", "text"):
        return array
    if (data_type, inferred) == ("double", "bigint"):
        # as dlt's normalizer does (float(value)): an int past 2**53 rounds instead of failing
        return array.cast(pa.float64(), safe=False)
    raise NotArrowable(f"{table}.{name} is {data_type} but holds {inferred}")


def _timestamps(raw: pa.Array, values: Sequence[Any]) -> pa.Array:
    """`<field>_ts` for an epoch-ms column: vectorised for ints, per value otherwise."""
    if pa.types.is_integer(raw.type):
        low, high = (scalar.as_py() for scalar in pc.min_max(raw).values())
        if low is None or (low >= 0 and high <= _MAX_MS):  # the usual case: one kernel, not 4
            return raw.cast(pa.timestamp("ms", tz="UTC")).cast(TIMESTAMP_TYPE)
        plausible = pc.and_(pc.greater_equal(raw, 0), pc.less_equal(raw, _MAX_MS))
        kept = pc.if_else(plausible, raw, pa.scalar(None, pa.int64()))
        return kept.cast(pa.timestamp("ms", tz="UTC")).cast(TIMESTAMP_TYPE)
    return pa.array([to_timestamp(value) for value in values], type=TIMESTAMP_TYPE)
