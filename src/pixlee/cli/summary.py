"""A short, human summary of what a pipeline holds after a run (used by `pixlee demo`/`run`)."""

from __future__ import annotations

from typing import Any

from dlt.pipeline.pipeline import Pipeline

MAIN_TABLES = ("albums", "media", "product_media", "products", "categories", "statistics")


def safe_row_counts(pipeline: Pipeline) -> dict[str, int]:
    """Rows per table before a run, or {} when nothing was loaded yet (or cannot be read)."""
    try:
        if not pipeline.default_schema_name:
            return {}
        return table_row_counts(pipeline)
    except Exception:
        return {}


def run_report(pipeline: Pipeline, before: dict[str, int], scan: Any) -> str:
    """What the run did: rows written per table (media split into new/updated/removed),
    how each album was read, requests made and 429s waited on."""
    trace = pipeline.last_trace
    written = (
        dict(trace.last_normalize_info.row_counts) if trace and trace.last_normalize_info else {}
    )
    after = safe_row_counts(pipeline)
    lines = []
    for table in [t for t in MAIN_TABLES if t in written]:
        if table == "media" and scan is not None:
            new = after.get("media", 0) - before.get("media", 0)
            removed = scan.removed
            updated = written["media"] - new - removed
            lines.append(
                (
                    table,
                    str(written[table]),
                    f"{new} new, {updated} updated, {removed} marked removed",
                )
            )
        else:
            lines.append((table, str(written[table]), ""))
    parts = ["This run:", _table(lines, ("table", "rows written", "detail"))]
    if scan is not None:
        requests = scan.requests
        parts.append(
            f"  albums: {scan.incremental_scans} incremental, {scan.full_scans} full "
            f"(reconciling) scans; {scan.found_by_lookup} item(s) recovered by lookup"
        )
        if requests is not None:
            parts.append(
                f"  requests: {requests.requests} made, {requests.retries} retried, "
                f"{requests.rate_limited} answered 429 "
                f"({requests.waited_on_429_seconds:.1f}s waited)"
            )
        if scan.not_found:
            parts.append(f"  not found (404, skipped): {', '.join(scan.not_found)}")
    return "\n".join(parts)


def _query(pipeline: Pipeline, sql: str) -> list[tuple[Any, ...]]:
    with pipeline.sql_client() as client, client.execute_query(sql) as cursor:
        return [tuple(row) for row in cursor.fetchall()]


def _table(rows: list[tuple[Any, ...]], headers: tuple[str, ...]) -> str:
    cells = [headers, *[tuple("" if v is None else str(v) for v in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join("  " + line for line in lines)


def table_row_counts(pipeline: Pipeline) -> dict[str, int]:
    """Rows per loaded table (main tables first, then child tables)."""
    schema = pipeline.default_schema
    names = [name for name in schema.data_table_names() if not name.startswith("_dlt")]
    ordered = [n for n in MAIN_TABLES if n in names] + sorted(
        n for n in names if n not in MAIN_TABLES
    )
    with pipeline.sql_client() as client:
        counts = {}
        for name in ordered:
            qualified = client.make_qualified_table_name(name)
            with client.execute_query(f"SELECT count(*) FROM {qualified}") as cursor:
                row = cursor.fetchone()
                counts[name] = int(row[0]) if row else 0
    return counts


def summarize(pipeline: Pipeline) -> str:
    """Rows per table, media by source and content type, and the largest albums."""
    counts = table_row_counts(pipeline)
    parts = [
        "Rows per table:",
        _table(sorted(counts.items(), key=lambda kv: list(counts).index(kv[0])), ("table", "rows")),
    ]
    if "media" in counts:
        with pipeline.sql_client() as client:
            media = client.make_qualified_table_name("media")
            albums = client.make_qualified_table_name("albums")
        by_source = _query(
            pipeline,
            f"SELECT source, content_type, count(*) AS n FROM {media} "
            "GROUP BY 1, 2 ORDER BY n DESC, 1, 2",
        )
        parts += [
            "",
            "Media by source and content type:",
            _table(by_source, ("source", "type", "media")),
        ]
        if "albums" in counts:
            top = _query(
                pipeline,
                f"SELECT a.id, a.title, a.album_type, count(*) AS n FROM {media} m "
                f"JOIN {albums} a ON a.id = m.album_id GROUP BY 1, 2, 3 ORDER BY n DESC, 1 LIMIT 5",
            )
            parts += ["", "Top albums:", _table(top, ("album", "title", "type", "media"))]
    return "\n".join(parts)
