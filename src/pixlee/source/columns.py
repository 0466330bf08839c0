"""Column types for the fields Pixlee sends, so the schema does not depend on the first page.

Without hints dlt infers types from the data it sees: a field null on every row of a run gets
no column (and a warning), and a rating sent as `0` on one item and `3.8` on the next splits into
a `__v_double` variant column. These hints pin the documented fields (pixlee-api.md, the real
capture) to one type each; unknown new fields still evolve the schema as usual.
"""

from __future__ import annotations

from typing import cast

from dlt.common.data_types.typing import TDataType
from dlt.common.schema.typing import TColumnSchema

from pixlee.source.records import (
    ALBUM_TIME_FIELDS,
    MEDIA_TIME_FIELDS,
    PRODUCT_TIME_FIELDS,
    TS_SUFFIX,
)

Columns = dict[str, TColumnSchema]


def typed(data_type: str, *names: str) -> Columns:
    """Nullable columns of one type."""
    kind = cast(TDataType, data_type)
    return {name: {"name": name, "data_type": kind, "nullable": True} for name in names}


def required(data_type: str, *names: str) -> Columns:
    """NOT NULL columns of one type (keys): a value that does not fit is quarantined, never
    allowed to change the column's type."""
    kind = cast(TDataType, data_type)
    return {name: {"name": name, "data_type": kind, "nullable": False} for name in names}


def _timestamps(fields: tuple[str, ...]) -> Columns:
    return {
        **typed("bigint", *fields),
        **typed("timestamp", *(name + TS_SUFFIX for name in fields)),
    }


MEDIA_COLUMNS: Columns = {
    **_timestamps(MEDIA_TIME_FIELDS),
    # set when the media left its album (unapproved or deleted); NULL while it is current
    **typed("timestamp", "removed_at"),
    **typed("double", "latitude", "longitude", "engagement_rate"),
    **typed(
        "bigint",
        "custom_order",
        "permissioned_by_user_id",
        "instagram_followers",
        "twitter_followers",
        "native_views",
    ),
    **typed(
        "text",
        "action_link",
        "action_link_text",
        "action_link_title",
        "action_link_photo",
        "language",
        "narrow_district",
        "notes",
        "subtype",
        "locality",
        "country",
        "collect_term",
        "media_id",
        "avatar_url",
        "medium_url",
        "big_url",
        "thumbnail_url",
        "data_file_name",
        "email_address",
        "scheduler",
    ),
}

PRODUCT_COLUMNS: Columns = {
    **_timestamps(PRODUCT_TIME_FIELDS),
    **typed("double", "price", "sales_price", "average_rating", "reviews_info__average_rating"),
    **typed("bigint", "stock", "total_reviews", "reviews_info__num_reviews"),
    **typed("text", "currency", "category", "datc_override", "link_text", "description"),
}

ALBUM_COLUMNS: Columns = {
    **_timestamps(ALBUM_TIME_FIELDS),
    **typed("text", "description"),
}


def _without_link_fields(columns: Columns) -> Columns:
    link = {"product_tagged_at", "product_tagged_at" + TS_SUFFIX}
    return {name: hint for name, hint in columns.items() if name not in link}


CATALOGUE_PRODUCT_COLUMNS = _without_link_fields(PRODUCT_COLUMNS)
