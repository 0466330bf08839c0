"""The source's tables as data: names, keys, column hints and the state it keeps.

Read this file to know what a run writes; `pixlee.source` wires these into resources.
"""

from __future__ import annotations

from typing import Any

from pixlee.source.columns import (
    ALBUM_COLUMNS,
    CATALOGUE_PRODUCT_COLUMNS,
    MEDIA_COLUMNS,
    PRODUCT_COLUMNS,
    Columns,
    required,
    typed,
)

SOURCE_NAME = "pixlee"
CONFIG_SECTION = "pixlee_source"  # [sources.pixlee_source]
MAX_TABLE_NESTING = 2
# dlt source state: per-album scan cursors (watermark, last reconciliation, query fingerprint)
CURSORS_STATE_KEY = "album_cursors"

ALBUMS = "albums"
MEDIA = "media"
PRODUCT_MEDIA = "product_media"
PRODUCTS = "products"
STATISTICS = "statistics"
CATEGORIES = "categories"
RUNS = "_pixlee_runs"
ALBUM_SCANS = "_pixlee_album_scans"
REJECTED = "_pixlee_rejected"

# The key of each table fed by API items. A key is pinned to its type and NOT NULL, so an item
# whose key is not an integer is quarantined instead of turning the column into DOUBLE or TEXT.
ITEM_KEYS: dict[str, tuple[str, ...]] = {
    ALBUMS: ("id",),
    MEDIA: ("album_photo_id",),
    PRODUCT_MEDIA: ("album_photo_id",),  # plus the `sku` the source adds
    PRODUCTS: ("id",),
}

ALBUMS_HINTS: dict[str, Any] = {
    "primary_key": "id",
    "write_disposition": "merge",
    "columns": {**ALBUM_COLUMNS, **required("bigint", "id")},
}
MEDIA_ROOT_COLUMNS: Columns = {**MEDIA_COLUMNS, **required("bigint", "album_photo_id")}
PRODUCT_MEDIA_ROOT_COLUMNS: Columns = {
    **MEDIA_COLUMNS,
    **required("bigint", "album_photo_id"),
    **required("text", "sku"),
}
NESTED_MEDIA_COLUMNS: dict[str, Columns] = {"products": PRODUCT_COLUMNS}
MEDIA_HINTS: dict[str, Any] = {"primary_key": "album_photo_id", "write_disposition": "merge"}
PRODUCT_MEDIA_HINTS: dict[str, Any] = {
    "primary_key": ("sku", "album_photo_id"),
    "write_disposition": "merge",
}
PRODUCTS_HINTS: dict[str, Any] = {
    "primary_key": "id",
    "write_disposition": "merge",
    "columns": {**CATALOGUE_PRODUCT_COLUMNS, **required("bigint", "id")},
}
STATISTICS_HINTS: dict[str, Any] = {
    "primary_key": ("album_id", "snapshot_at"),
    "write_disposition": "merge",
    "columns": {
        **required("bigint", "album_id"),
        **required("timestamp", "snapshot_at"),
        **typed("timestamp", "latest_approved_at"),
    },
}
CATEGORIES_HINTS: dict[str, Any] = {
    "primary_key": "id",
    "write_disposition": "merge",
    "columns": required("bigint", "id"),
}

# The counters of a run, in `_pixlee_runs` column order: the requests', then the run's own;
# the internal ones are counted (summary, resource metrics) but are not columns.
REQUEST_COUNTERS = ("requests", "retries", "rate_limited")
RUN_COLUMN_COUNTERS = (
    "albums_full",
    "albums_incremental",
    "albums_incomplete",
    "items_read",
    "media_new",
    "media_updated",
    "media_unchanged",
    "media_removed",
    "rejected",
)
INTERNAL_RUN_COUNTERS = ("found_by_lookup", "head_rechecks")
# One row per run: what it read and did (the report, Dagster and `pixlee run` read it).
RUNS_HINTS: dict[str, Any] = {
    "primary_key": "load_id",
    "write_disposition": "merge",
    "columns": {
        **required("text", "load_id"),
        **typed("timestamp", "started_at", "finished_at"),
        **typed("bigint", *REQUEST_COUNTERS, *RUN_COLUMN_COUNTERS),
        **typed("double", "waited_on_429_seconds"),
        **typed("json", "not_found", "incomplete"),
    },
}
# One row per album and run: how it was read.
ALBUM_SCANS_HINTS: dict[str, Any] = {
    "primary_key": ("load_id", "album_id"),
    "write_disposition": "merge",
    "columns": {
        **required("text", "load_id"),
        **required("bigint", "album_id"),
        **typed("timestamp", "scanned_at"),
        **typed("bool", "full_scan", "complete"),
        **typed("bigint", "pages", "items", "removed"),
    },
}
# Items (or whole pages) that could not load as they are; every other item loads.
REJECTED_HINTS: dict[str, Any] = {
    "write_disposition": "append",
    "columns": {
        **required("text", "load_id", "table", "reason"),
        **typed("bigint", "album_id", "page"),
        **typed("text", "sku", "key", "raw_json"),
        **typed("timestamp", "rejected_at"),
    },
}
