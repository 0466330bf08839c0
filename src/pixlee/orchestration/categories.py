"""`categories` from the loaded dataset, once every album shard has loaded.

The source counts categories only in a run that scans every album completely (a count over
some albums would be wrong, not partial), and a sharded run never does. Once all shards have
loaded, the dataset holds what such a scan reads: the current media of every album
(`removed_at IS NULL`) and their category tags (`media__tag_album_ids`). Counting the distinct
photos per tag there, with the category albums of `albums` for titles, gives the rows the
unsharded source would emit, built by the same code (`CategoryCounter.rows`), into the same
`categories` table (merge on `id`).

Plain SQL through dlt's client (a join, DISTINCT, identifiers quoted by the destination's own
rules), so it runs on every SQL destination dlt loads to.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.extract.source import DltSource
from dlt.pipeline.pipeline import Pipeline

from pixlee.source.derived import CategoryCounter

CATEGORIES_SCHEMA = "pixlee_categories"
CATEGORY_COLUMNS: dict[str, Any] = {
    "id": {"data_type": "bigint", "nullable": False},
    "title": {"data_type": "text", "nullable": True},
    "media_count": {"data_type": "bigint", "nullable": True},
    "listed_in_albums": {"data_type": "bool", "nullable": True},
    "derived": {"data_type": "bool", "nullable": True},
}


def category_rows(pipeline: Pipeline) -> list[dict[str, Any]]:
    """The `categories` rows of the dataset `pipeline` loads to, as it is now."""
    with pipeline.sql_client() as client:
        counter = CategoryCounter()
        for category_id, photo_id in _tagged_photos(client):
            if isinstance(category_id, int) and isinstance(photo_id, int):
                counter.photos.setdefault(category_id, set()).add(photo_id)
        return counter.rows(_category_albums(client))


def _tagged_photos(client: Any) -> list[tuple[Any, Any]]:
    """(category id, photo id) for every tag of current media; none before media is loaded."""
    media = client.make_qualified_table_name("media")
    tags = client.make_qualified_table_name("media__tag_album_ids")
    column = client.escape_column_name
    sql = (
        f"SELECT DISTINCT t.{column('value')}, m.{column('id')} "
        f"FROM {media} AS m JOIN {tags} AS t "
        f"ON t.{column('_dlt_parent_id')} = m.{column('_dlt_id')} "
        f"WHERE m.{column('removed_at')} IS NULL"
    )
    try:
        return list(client.execute_sql(sql) or [])
    except DatabaseUndefinedRelation:
        return []


def _category_albums(client: Any) -> dict[int, dict[str, Any]]:
    """The category albums loaded in `albums`, by id."""
    albums = client.make_qualified_table_name("albums")
    column = client.escape_column_name
    sql = (
        f"SELECT {column('id')}, {column('title')} FROM {albums} "
        f"WHERE {column('album_type')} = 'category'"
    )
    try:
        found = client.execute_sql(sql) or []
    except DatabaseUndefinedRelation:
        return {}
    return {row[0]: {"title": row[1]} for row in found if isinstance(row[0], int)}


def categories_source(rows: Sequence[dict[str, Any]]) -> DltSource:
    """`rows` as the `categories` table (schema `pixlee_categories`, merge on `id`)."""

    @dlt.source(name=CATEGORIES_SCHEMA, max_table_nesting=0)
    def pixlee_categories() -> Any:
        @dlt.resource(
            name="categories", primary_key="id", write_disposition="merge", columns=CATEGORY_COLUMNS
        )
        def categories() -> Iterator[list[dict[str, Any]]]:
            """Derived: category albums and how many distinct current photos carry each,
            counted over the whole loaded dataset once every album shard has loaded."""
            if rows:
                yield list(rows)

        return categories

    source: DltSource = pixlee_categories()
    return source
