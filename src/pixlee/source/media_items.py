"""What the media-shaped resources (`media`, `product_media`) hand to dlt for each page.

A page goes to dlt as Arrow tables (the root and each child table, see `pixlee.source.arrow.tables`)
whenever it fits; otherwise, and for rows the source rebuilt itself (media that left an album),
as rows for dlt's own normalizer. Both land in the same tables with the same layout.

Hints travel as table variants of the resource: the root table's variant carries the column
types and key hints, each child table's variant names its parent (so dlt merges it as a nested
table: child rows of a reloaded media item are replaced, not appended). The resource itself
carries no column hints, because every variant starts from a copy of them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import dlt
import pyarrow as pa
from dlt.common.destination.utils import resolve_merge_strategy
from dlt.common.schema.typing import TColumnSchema, TDeleteInsertStrategyDict
from dlt.common.schema.utils import get_columns_names_with_prop
from dlt.common.typing import TTableNames
from dlt.extract.hints import TResourceNestedHints

from pixlee.api.paging import BodyReader
from pixlee.source.arrow import dlt_compat
from pixlee.source.arrow.album_pages import AlbumPageReader
from pixlee.source.arrow.json_pages import JsonPages
from pixlee.source.arrow.json_read import PageReader, ParsedPage
from pixlee.source.arrow.pandas_bridge import load_pandas_bridge
from pixlee.source.arrow.tables import (
    LIST_IDX,
    LOAD_ID,
    PARENT_ID,
    ROOT_ID,
    ROW_ID,
    MediaTables,
    NotArrowable,
    TableSpec,
)
from pixlee.source.columns import Columns
from pixlee.source.destination import running_pipeline_with_destination
from pixlee.source.quarantine import FieldNames

logger = logging.getLogger(__name__)


class _ExpectedJsonHintWarning(logging.Filter):
    """Drops dlt's "hints were different" warning for one Arrow item of one resource.

    Arrow has no JSON type, so JSON columns (kept whole past the nesting limit, as dlt's
    normalizer keeps them) travel as strings under a `json` hint, and dlt 1.31 warns about that
    difference on every such item; it is the intended layout (the per-column detail stays at
    INFO). dlt offers no way to declare it: without the hint, the next Arrow item turns the
    column back into text. So the filter sits on dlt's logger only while the resource's
    generator is suspended handing dlt its items (`quiet_json_hints`), never beyond it.
    """

    def __init__(self, resource: str) -> None:
        super().__init__()
        self._prefix = f"In resource: {resource}, when merging arrow schema with dlt schema"

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self._prefix)


@contextmanager
def quiet_json_hints(resource: str) -> Iterator[None]:
    """Around a resource's `yield`s: dlt handles each item before the generator resumes, so
    the filter is on exactly while dlt takes this resource's items; no filter stays behind."""
    quiet = _ExpectedJsonHintWarning(resource)
    dlt_logger = logging.getLogger("dlt")
    dlt_logger.addFilter(quiet)
    try:
        yield
    finally:
        dlt_logger.removeFilter(quiet)


# Items built into Arrow at once: larger batches walk more memory per column and build slower.
DEFAULT_BATCH_ITEMS = 2000
# Root rows per Arrow item handed to dlt: dlt recomputes and validates a table's hints for
# every item (~4 ms), so built batches are joined into fewer, larger items (up to 6,000 rows
# with 2,000-item batches). At most dlt's `file_max_items` (10,000 here), since an item is
# never split across files: two items make one file.
DEFAULT_YIELD_ROWS = 5_000

# One page of API items and the extra root columns its rows get (e.g. the `sku` it came from).
Page = tuple[Sequence[Mapping[str, Any]], Mapping[str, Any] | None]
# A page as it waits in a batch: its items as dicts, or read as Arrow (no dicts kept).
Pending = tuple[Sequence[Mapping[str, Any]] | ParsedPage, Mapping[str, Any] | None]

_ROW_ID_COLUMN: Columns = {
    ROW_ID: {
        "name": ROW_ID,
        "data_type": "text",
        "nullable": False,
        "unique": True,
        "row_key": True,
    }
}
_ROOT_LINK_COLUMNS: Columns = {
    **_ROW_ID_COLUMN,
    LOAD_ID: {"name": LOAD_ID, "data_type": "text", "nullable": False},
}
_CHILD_LINK_COLUMNS: Columns = {
    **_ROW_ID_COLUMN,
    PARENT_ID: {"name": PARENT_ID, "data_type": "text", "nullable": False, "parent_key": True},
    LIST_IDX: {"name": LIST_IDX, "data_type": "bigint", "nullable": False},
    ROOT_ID: {"name": ROOT_ID, "data_type": "text", "nullable": False, "root_key": True},
}


def _concatenated(parts: list[TableSpec]) -> list[TableSpec]:
    """`parts` of one table as one table, or as they are when their column types differ."""
    if len(parts) == 1:
        return parts
    try:
        table = pa.concat_tables([part.table for part in parts], promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return parts  # dlt reconciles them item by item, as it would per page
    json_columns = frozenset().union(*(part.json_columns for part in parts))
    return [TableSpec(parts[0].name, parts[0].parent, table, json_columns)]


def _destination_loads_parquet() -> bool:
    pipeline = running_pipeline_with_destination()
    if pipeline is None:
        return False
    capabilities = pipeline.destination.capabilities()
    formats: Sequence[str] = capabilities.supported_loader_file_formats or ()
    selector = capabilities.loader_file_format_selector
    if selector is not None and "parquet" in formats:
        # e.g. Postgres loads parquet only with its ADBC driver installed
        _, formats = selector(
            "parquet",
            capabilities.supported_loader_file_formats,
            table_schema={"name": "media", "columns": {}},
        )
    return "parquet" in formats


class MediaItems:
    """Turns pages of one media-shaped table into dlt items (Arrow when possible, rows otherwise).

    `columns` are the root table's column hints, `nested_columns` the hints of child tables by
    their path under the root (e.g. `{"products": PRODUCT_COLUMNS}`), `to_row` shapes an API
    item as a row for dlt's normalizer. Pages are gathered into batches of about `batch_items`
    items before they become Arrow tables: dlt re-validates the table schema for every Arrow
    item it receives (~5 ms), so per-page tables would cost more than building them.

    `unique_per_run`: the caller hands each primary key at most once per run (the album
    scanner drops repeats). The root table then tells dlt its staging rows are already
    deduplicated, so a delete-insert merge skips its ROW_NUMBER pass over the root and every
    child table: measured on 200,000 media, load 11.5 → 9.6 s and, without that window's
    memory, DuckDB loads as fast under a 192 MB cap as under 256 MB.

    Every load is declared a merge, the first one too (an append would insert a resumed job's
    rows twice on dlt's own destinations); the exactly-once destinations turn a deduplicated
    merge into empty tables into copies straight into them (`pixlee.pipeline.exactly_once`).
    """

    def __init__(
        self,
        table: str,
        columns: Columns,
        nested_columns: Mapping[str, Columns],
        max_nesting: int,
        to_row: Callable[[Mapping[str, Any]], dict[str, Any]],
        use_arrow: bool = True,
        batch_items: int = DEFAULT_BATCH_ITEMS,
        yield_rows: int = DEFAULT_YIELD_ROWS,
        unique_per_run: bool = False,
        names: FieldNames | None = None,
    ) -> None:
        self.table = table
        # keys dlt's naming would merge (`Title`/`title`) renamed before dlt's normalizer sees
        # them; the Arrow builder refuses such pages (NotArrowable), so they come here too
        self._names = names
        self._unique_per_run = unique_per_run
        # decided on first use, inside extraction: "deduplicated" or "merge"
        self._disposition: str | None = None
        self._columns = columns
        self._nested_columns = dict(nested_columns)
        self._max_nesting = max_nesting
        self._to_row = to_row
        self._use_arrow = use_arrow
        self._batch_items = batch_items
        self._builder: MediaTables | None = None
        self._child_columns: dict[str, Columns] = {}
        self._variants: set[str] = set()
        self._json_columns: dict[str, frozenset[str]] = {}
        self._arrow_ready: bool | None = None
        self._pending: list[Pending] = []
        self._pending_items = 0
        self._yield_rows = yield_rows
        self._built: dict[str, list[TableSpec]] = {}
        self._built_rows = 0
        # pages read as Arrow in the page threads (see `body_parser`), and their tables' builder
        self.reader = PageReader()
        self._json_pages: JsonPages | None = None
        self.pages_by_path: Counter[str] = Counter()  # "arrow_read", "dicts", "rows"

    def body_parser(self) -> BodyReader | None:
        """Reads album listings as Arrow in the page threads (`PixleeClient.iter_pages`'s
        `parse`), for `page(..., parsed=...)`; None when this run hands dlt rows, not Arrow.
        A body the reader refuses is decoded and teaches it the schema."""
        if not self._arrow_enabled():
            return None
        return AlbumPageReader(self.reader)

    def page(
        self,
        items: Sequence[Mapping[str, Any]],
        extra: Mapping[str, Any] | None = None,
        parsed: ParsedPage | None = None,
    ) -> Iterator[Any]:
        """Take a page; yield dlt items whenever a batch is full.

        `parsed`: the same items read as Arrow (`items` may then hold only some fields); the
        batch keeps that, not the dicts."""
        if not self._arrow_enabled():
            self.pages_by_path["rows"] += 1
            yield from self._as_rows([(items if parsed is None else parsed.dicts(), extra)])
            return
        self._pending.append((items if parsed is None else parsed, extra))
        self._pending_items += len(items)
        if self._pending_items >= self._batch_items:
            yield from self._build_pending()

    def flush(self) -> Iterator[Any]:
        """Yield everything gathered (call at the end of the resource's run)."""
        yield from self._build_pending()
        yield from self._emit_built()
        if self.pages_by_path:  # how the run's pages were built, in the resource's metrics
            dlt.current.resource_metrics().update(
                {f"pages_{path}": count for path, count in self.pages_by_path.items()}
            )
        # a source object run again decides and declares its tables afresh
        self._disposition = None
        self._arrow_ready = None
        self._variants.clear()
        self.pages_by_path.clear()

    def _build_pending(self) -> Iterator[Any]:
        """Build the pending pages into Arrow tables (held until `yield_rows` root rows)."""
        pages, self._pending, self._pending_items = self._pending, [], 0
        for run in _runs(pages):
            yield from self._build_run(run)

    def _build_run(self, pages: Sequence[Pending]) -> Iterator[Any]:
        """Pages of one kind (dicts, or Arrow read under one schema) into Arrow tables; what
        does not fit goes page by page: read pages as their dicts, then as rows."""
        try:
            specs, path = self._build(pages)
        except NotArrowable as exc:
            if len(pages) > 1:  # find the pages that do not fit; the others stay Arrow
                for single in pages:
                    yield from self._build_run([single])
                return
            page, extra = pages[0]
            if isinstance(page, ParsedPage):
                logger.debug("a page of %s is built from its dicts: %s", self.table, exc)
                yield from self._build_run([(page.dicts(), extra)])
                return
            logger.info("a page of %s goes through dlt's normalizer: %s", self.table, exc)
            self.pages_by_path["rows"] += 1
            yield from self._emit_built()  # items reach dlt in the order their pages came
            yield from self._as_rows([(page, extra)])
            return
        self.pages_by_path[path] += len(pages)
        for spec in specs:
            self._built.setdefault(spec.name, []).append(spec)
        self._built_rows += specs[0].table.num_rows
        if self._built_rows >= self._yield_rows:
            yield from self._emit_built()

    def _emit_built(self) -> Iterator[Any]:
        """Hand the held tables to dlt, one item per table where their columns agree."""
        built, self._built, self._built_rows = self._built, {}, 0
        for parts in built.values():
            for spec in _concatenated(parts):
                yield self._mark(spec)

    def _arrow_enabled(self) -> bool:
        """Arrow when asked for and the destination loads parquet.

        Other destinations (Postgres: insert/CSV) get Arrow converted back to text by dlt,
        where an empty string and NULL become one; rows keep them apart.
        """
        if self._arrow_ready is None:
            self._arrow_ready = self._use_arrow and _destination_loads_parquet()
            if self._arrow_ready:
                dlt_compat.install()  # nested tables as Arrow need it (explicit, version-checked)
                load_pandas_bridge()  # here, before the first request: see its module
        return self._arrow_ready

    def removed(self, rows: list[dict[str, Any]]) -> Iterator[Any]:
        """Rows the source rebuilt itself (media that left an album), after what is held."""
        yield from self._emit_built()
        yield self.rows(rows)

    def rows(self, rows: list[dict[str, Any]]) -> Any:
        """Rows for dlt's normalizer, with the root table's hints."""
        if self.table in self._variants:
            return dlt.mark.with_table_name(rows, self.table)
        self._variants.add(self.table)
        return dlt.mark.with_hints(rows, self._root_hints(), create_table_variant=True)

    def _as_rows(self, pages: Sequence[Page]) -> Iterator[Any]:
        for items, extra in pages:
            if self._names is not None:
                for item in items:
                    if isinstance(item, dict):
                        self._names.apply(item, self.table)
            yield self.rows([{**self._to_row(item), **(extra or {})} for item in items])

    def _build(self, pages: Sequence[Pending]) -> tuple[list[TableSpec], str]:
        """The pages' tables, and which way they were built ("arrow_read" or "dicts")."""
        schema = dlt.current.source_schema()
        if self._builder is None:
            self._make_builders(schema)
        assert self._builder is not None
        load_id = dlt.current.load_package_state()["load_id"]
        read = [(page, extra) for page, extra in pages if isinstance(page, ParsedPage)]
        if not read:
            return self._builder.build(cast(Sequence[Page], pages), load_id), "dicts"
        if len(read) != len(pages):
            raise NotArrowable("pages read as Arrow and as dicts in one batch")
        if self._json_pages is None:
            dicts = [(page.dicts(), extra) for page, extra in read]
            return self._builder.build(dicts, load_id), "dicts"
        try:
            return self._json_pages.build(read, load_id), "arrow_read"
        except pa.ArrowException as exc:  # a kernel refusing what Arrow read: build from dicts
            raise NotArrowable(f"Arrow could not lay out pages it read: {exc}") from exc

    def _make_builders(self, schema: dlt.Schema) -> None:
        primary_key, hashed = self._primary_key(schema)

        def known_types(table: str) -> dict[str, str]:
            return self._known_types(schema, table)

        naming, nesting = schema.naming, self._max_nesting
        self._builder = MediaTables(
            self.table,
            naming,
            nesting,
            known_types,
            key_hash=primary_key if hashed else None,
            required=primary_key,
        )
        # root ids hashed from the key: only `MediaTables` makes those (read pages use dicts)
        self._json_pages = None
        if not hashed:
            self._json_pages = JsonPages(
                self.table, naming, nesting, known_types, primary_key, reader=self.reader
            )
        self._child_columns = {
            naming.shorten_fragments(self.table, path): columns
            for path, columns in self._nested_columns.items()
        }

    def _primary_key(self, schema: dlt.Schema) -> tuple[list[str], bool]:
        """The root table's primary key, and whether dlt would hash it into root ids.

        dlt hashes the key into row ids for upsert-style merges (`get_root_row_id_type`); this
        decides it the same way, from the table the resource is about to create, so it holds
        from the first load on.
        """
        strategy, table = self._merge_strategy(schema)
        if strategy == "scd2":
            raise NotArrowable("scd2 merges hash whole rows; dlt's normalizer does that")
        primary_key = get_columns_names_with_prop(table, "primary_key", include_incomplete=True)
        return primary_key, strategy in ("upsert", "insert-only", "cdc")

    def _merge_strategy(self, schema: dlt.Schema) -> tuple[str | None, Any]:
        """The merge strategy dlt will use for the root table, and that table's hints."""
        # the resource's own hints, not the table variant an earlier run of it may have set
        table = dlt.current.resource().compute_table_schema()
        table["name"] = self.table
        return resolve_merge_strategy({**schema.tables, self.table: table}, table), table

    def _write_disposition(self) -> Any:
        """The root table's write disposition for this run: a deduplicated delete-insert, or
        else the resource's own.

        Deduplicated delete-insert only: the strategy dlt picks for DuckDB, Postgres and other
        SQL destinations, the one whose merge deduplicates, and the one with the flag.
        """
        if self._disposition is None:
            self._disposition = self._decide_disposition()
        if self._disposition == "deduplicated":
            merge: TDeleteInsertStrategyDict = {
                "disposition": "merge",
                "strategy": "delete-insert",
                "deduplicated": True,
            }
            return merge
        return dlt.current.resource().write_disposition

    def _decide_disposition(self) -> str:
        if not self._unique_per_run:
            return "merge"
        strategy, _ = self._merge_strategy(dlt.current.source_schema())
        return "deduplicated" if strategy == "delete-insert" else "merge"

    def _known_types(self, schema: dlt.Schema, table: str) -> dict[str, str]:
        hints = self._columns if table == self.table else self._child_columns.get(table, {})
        known = {
            name: str(hint["data_type"]) for name, hint in hints.items() if "data_type" in hint
        }
        if table in schema.tables:
            for name, column in schema.get_table_columns(table).items():
                if "data_type" in column and not column.get("variant"):
                    known[name] = str(column["data_type"])
        return known

    def _mark(self, spec: TableSpec) -> Any:
        """The table with its hints the first time (or when it gains JSON columns), else by name."""
        declared = self._json_columns.get(spec.name, frozenset())
        if spec.name in self._variants and spec.json_columns <= declared:
            return dlt.mark.with_table_name(spec.table, spec.name)
        self._variants.add(spec.name)
        self._json_columns[spec.name] = declared | spec.json_columns
        json_columns: Columns = {
            name: {"name": name, "data_type": "json", "nullable": True}
            for name in self._json_columns[spec.name]
        }
        if spec.parent is None:
            hints = self._root_hints(json_columns)
        else:
            columns: Columns = {
                **_CHILD_LINK_COLUMNS,
                **self._child_columns.get(spec.name, {}),
                **json_columns,
            }
            hints = dlt.mark.make_hints(
                table_name=spec.name,
                parent_table_name=spec.parent,
                write_disposition="merge",
                primary_key=[],
                columns=columns,
            )
        return dlt.mark.with_hints(spec.table, hints, create_table_variant=True)

    def _root_hints(self, extra_columns: Columns | None = None) -> Any:
        # With Arrow items dlt applies a root item's Arrow columns to every nested-hint table
        # too, so nested hints go only to rows-only runs; the Arrow path hints child tables
        # through their own variants (and rows then find their types in the schema).
        nested: dict[TTableNames, TResourceNestedHints] = (
            {}
            if self._use_arrow
            else {path: {"columns": columns} for path, columns in self._nested_columns.items()}
        )
        columns: dict[str, TColumnSchema] = {
            **_ROOT_LINK_COLUMNS,
            **self._columns,
            **(extra_columns or {}),
        }
        return dlt.mark.make_hints(
            table_name=self.table,
            columns=columns,
            nested_hints=nested or None,
            write_disposition=self._write_disposition(),
        )


def _runs(pages: Sequence[Pending]) -> Iterator[list[Pending]]:
    """`pages` cut into runs of one kind, in order: dict pages, or pages read under one
    schema (`JsonPages` builds a batch read under one schema only)."""
    run: list[Pending] = []
    kind: object = None
    for page in pages:
        page_kind = page[0].schema if isinstance(page[0], ParsedPage) else None
        if run and page_kind is not kind:
            yield run
            run = []
        run.append(page)
        kind = page_kind
    if run:
        yield run
