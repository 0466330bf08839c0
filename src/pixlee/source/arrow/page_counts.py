"""What the scan and the derived tables take from a page, read from its Arrow items.

The album scanner, `statistics`, `categories` and `products` walk each page's Python dicts
(`pixlee.source.scanning`, `pixlee.source.derived`, `pixlee.source`). A page read by
`JsonPages` has no dicts. These hand that code the few fields it reads
(`pixlee.source.arrow.album_pages`), as the same Python values orjson would have given: Arrow
gives them back unchanged for integer, text, boolean and null columns (and lists of those), so
the dict code's answers stay exactly the same. A double column is declined (a JSON `3` was
read as 3.0, where the dict code counts ints only), as is any other type: the caller then
decodes that page's dicts.

Why Python values and not Arrow kernels: for 100 items a page, ~20 kernel calls cost ~0.5 ms
(call overhead), twice the dict code's loops over ten short lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

_LOSSLESS = (pa.int64(), pa.string(), pa.bool_(), pa.null())


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
