"""What the scan and the derived tables take from a page, read from its Arrow items.

Today the album scanner, `statistics`, `categories` and `products` walk each page's Python
dicts (`pixlee.source.scanning`, `pixlee.source.derived`, `pixlee.source`). A page read by
`JsonPages` has no dicts. These hand that code the few fields it reads, as the same Python
values orjson would have given: Arrow gives them back unchanged for integer, text, boolean and
null columns (and lists of those), so the dict code's answers stay exactly the same. A double
column is declined (a JSON `3` was read as 3.0, where the dict code counts ints only), as is
any other type: the caller then decodes that page's dicts.

Why Python values and not Arrow kernels: for 100 items a page, ~20 kernel calls cost ~0.5 ms
(call overhead), twice the dict code's loops over ten short lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pixlee.api.values import to_int
from pixlee.source.derived import AlbumStatistics, CategoryCounter

_LOSSLESS = (pa.int64(), pa.string(), pa.bool_(), pa.null())
_STATISTICS_FIELDS = (
    "content_type",
    "has_permission",
    "is_starred",
    "source",
    "native_likes",
    "native_comments",
    "native_shares",
    "native_views",
    "approved_on_date",
)


def field_of(items: pa.Array, name: str) -> pa.Array | None:
    """A top-level field of every item (struct validity applied), None if never seen."""
    index = items.type.get_field_index(name) if pa.types.is_struct(items.type) else -1
    if index < 0:
        return None
    if items.null_count:  # a child alone does not carry its parents' nulls
        return items.flatten()[index]
    return items.field(index)  # all 85 media fields flattened would cost ~0.1 ms a call


def _lossless(data_type: pa.DataType) -> bool:
    """Arrow gives these values back to Python as orjson decoded them."""
    if pa.types.is_list(data_type):
        return _lossless(data_type.value_type)
    return data_type in _LOSSLESS


def _values(items: pa.Array, name: str) -> Sequence[Any] | None:
    values = field_of(items, name)
    if values is None:
        return [None] * len(items)
    return values.to_pylist() if _lossless(values.type) else None


def rows(items: pa.Array, names: Sequence[str]) -> list[dict[str, Any]] | None:
    """Each item as a dict of just these fields (absent keys as None, which the dict code
    reads alike through `.get`); None when some field's Arrow type loses its values."""
    columns: list[Iterable[Any]] = []
    for name in names:
        values = _values(items, name)
        if values is None:
            return None
        columns.append(values)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def keys(items: pa.Array) -> list[Any] | None:
    """Each item's `album_photo_id` as the scanner keys it (`to_int`; None where missing)."""
    values = _values(items, "album_photo_id")
    return None if values is None else [to_int(value) for value in values]


def first_unseen(page_keys: Iterable[Any], seen: set[Any]) -> pa.Array:
    """A mask of the items whose key is not in `seen` nor earlier on the page (the scanner
    hands each key to dlt once per run); adds their keys to `seen`."""
    mask = []
    for key in page_keys:
        fresh = key not in seen
        if fresh:
            seen.add(key)
        mask.append(fresh)
    return pa.array(mask, pa.bool_())


def approved_times(items: pa.Array) -> list[int] | None:
    """Each item's `approved_on_date` as the scanner reads it (not an integer: 0)."""
    values = _values(items, "approved_on_date")
    if values is None:
        return None
    return [value if isinstance(value, int) else 0 for value in map(to_int, values)]


def add_statistics(stats: AlbumStatistics, items: pa.Array) -> bool:
    """`stats.add(dicts)` for a page's Arrow items; False (nothing added) if it cannot."""
    fields = rows(items, _STATISTICS_FIELDS)
    products = field_of(items, "products")
    if fields is None or not (products is None or _is_list_or_null(products.type)):
        return False
    if products is not None and pa.types.is_list(products.type):
        tagged = pc.fill_null(pc.greater(pc.list_value_length(products), 0), False)
        for row, has_products in zip(fields, tagged.to_pylist(), strict=True):
            row["products"] = has_products  # the dict code reads only `bool(products)`
    stats.add(fields)
    return True


def _is_list_or_null(data_type: pa.DataType) -> bool:
    return bool(pa.types.is_list(data_type) or pa.types.is_null(data_type))


def add_categories(counter: CategoryCounter, items: pa.Array) -> bool:
    """`counter.add(dicts)` for a page's Arrow items; False (nothing added) if it cannot."""
    fields = rows(items, ("id", "tag_album_ids"))
    if fields is None:
        return False
    counter.add(fields)
    return True


def unseen_products(items: pa.Array, seen: set[Any]) -> pa.Array | None:
    """Positions, among the page's product tags laid end to end, of each product the run has
    not emitted yet (its first tag), as the `products` resource picks them; adds their ids to
    `seen`. None when product ids are not integers."""
    products = field_of(items, "products")
    if products is None or pa.types.is_null(products.type):
        return pa.array([], pa.int64())
    if not pa.types.is_list(products.type):
        return None
    tags = pc.list_flatten(products)
    if pa.types.is_null(tags.type):
        return pa.array([], pa.int64())
    ids = _values(tags, "id") if pa.types.is_struct(tags.type) else None
    if ids is None:
        return None
    picked = []
    for position, product_id in enumerate(map(to_int, ids)):
        if product_id is not None and product_id not in seen:
            seen.add(product_id)
            picked.append(position)
    return pa.array(picked, pa.int64())
