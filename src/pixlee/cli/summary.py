"""A short, human summary of what a pipeline holds after a run (used by `pixlee demo`/`run`)."""

from __future__ import annotations

from typing import Any

from dlt.pipeline.pipeline import Pipeline

MAIN_TABLES = ("albums", "media", "product_media", "products", "categories", "statistics")


def run_report(pipeline: Pipeline, metrics: dict[str, Any] | None) -> str:
    """What the run did: rows written per table (media split into new/updated/unchanged/
    removed, from the run's own metrics), how each album was read, requests and 429s."""
    trace = pipeline.last_trace
    written = (
        dict(trace.last_normalize_info.row_counts) if trace and trace.last_normalize_info else {}
    )
    lines = []
    for table in [t for t in MAIN_TABLES if t in written]:
        detail = _media_detail(metrics) if table == "media" and metrics else ""
        lines.append((table, str(written[table]), detail))
    parts = ["This run:", _table(lines, ("table", "rows written", "detail"))]
    if metrics is not None:
        parts.append(
            f"  albums: {metrics['albums_incremental']} incremental, {metrics['albums_full']} "
            f"full (reconciling) scans; {metrics['found_by_lookup']} item(s) recovered by lookup"
        )
        parts.append(
            f"  requests: {metrics['requests']} made, {metrics['retries']} retried, "
            f"{metrics['rate_limited']} answered 429 "
            f"({metrics['waited_on_429_seconds']:.1f}s waited)"
        )
        if metrics["rejected"]:
            parts.append(f"  quarantined: {metrics['rejected']} item(s), see _pixlee_rejected")
        if metrics["not_found"]:
            parts.append(f"  not found (404, skipped): {', '.join(metrics['not_found'])}")
    return "\n".join(parts)


def _media_detail(metrics: dict[str, Any]) -> str:
    removed = f"{metrics['media_removed']} marked removed"
    if metrics.get("media_new") is None:  # the destination could not tell what it held
        return f"{metrics['items_read']} read, {removed}"
    return (
        f"{metrics['media_new']} new, {metrics['media_updated']} updated, "
        f"{metrics['media_unchanged']} unchanged, {removed}"
    )


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
