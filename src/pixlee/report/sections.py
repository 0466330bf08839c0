"""Sections 1-5 of the report: content, rights, products, albums and creators, engagement.

Each builder runs its queries, keeps every result (the page shows each query under its
section), turns rows into charts and the numbers beside them, and says "no data" (with the
reason) for what could not be read: a dataset without a table still gets a report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pixlee.report import charts
from pixlee.report import queries as q
from pixlee.report.model import Chart, Number, Query, QueryResult, Section, Table
from pixlee.report.reader import DatasetReader
from pixlee.report.window import ReportWindow


def count(value: Any) -> int:
    """SQL SUM() of no rows is NULL: zero, here."""
    return int(value or 0)


def pct(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def utc(value: Any) -> datetime | None:
    """A timestamp from any driver as an aware UTC datetime."""
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def run_all(reader: DatasetReader, section: Section, *queries: Query) -> list[QueryResult]:
    results = [reader.run(query) for query in queries]
    section.results.extend(results)
    return results


def note_empty(section: Section, result: QueryResult, message: str) -> bool:
    """True when `result` has rows; otherwise the section says why there is nothing."""
    if result.ok and result.rows:
        return True
    section.notes.append(f"No data: {result.error}" if result.error else message)
    return False


def numbers_from(result: QueryResult) -> Callable[..., Number]:
    """A Number factory that records which query the number came from."""

    def make(key: str, label: str, value: Any, kind: str = "count") -> Number:
        return Number(key, label, value, result.query.key, kind)

    return make


def weekly(
    records: Sequence[dict[str, Any]], value: str, key: str | None = None, name: str = ""
) -> tuple[list[datetime], dict[str, list[int]]]:
    """Rows of (week, [key,] value) as the weeks that have data and one count per week for
    each key (or one series called `name`), the largest series first (the bottom of a stack)."""
    counts: dict[str, dict[datetime, int]] = defaultdict(dict)
    for row in records:
        week = utc(row["week"])
        if week is not None:
            counts[str(row[key]) if key else name][week] = count(row[value])
    weeks = sorted({week for per_key in counts.values() for week in per_key})
    order = sorted(counts, key=lambda series: (-sum(counts[series].values()), series))
    return weeks, {series: [counts[series].get(week, 0) for week in weeks] for series in order}


def _week_axis(figure: Any, window: ReportWindow) -> None:
    if window.since is not None:
        figure.update_xaxes(range=[charts.plain_utc(window.since), charts.plain_utc(window.as_of)])


# ---------------------------------------------------------------- 1
def content_section(reader: DatasetReader, window: ReportWindow) -> Section:
    section = Section(
        "content", "1. Content over time", "Where does our content come from, and is it growing?"
    )
    totals, by_source_week, by_type_week, by_source = run_all(
        reader,
        section,
        q.content_totals(window),
        q.content_by_week(window, "source"),
        q.content_by_week(window, "content_type"),
        q.content_by_source(window),
    )
    if note_empty(section, totals, "No current media in the dataset."):
        row, number = totals.first(), numbers_from(totals)
        section.numbers += [
            number(
                "current_media", "Current media (photos and videos)", count(row["current_media"])
            ),
            number(
                "collected_in_window", "Collected in the window", count(row["collected_in_window"])
            ),
            number("images", "Images", count(row["images"])),
            number("videos", "Videos", count(row["videos"])),
            number("video_pct", "Share of videos", pct(row["video_pct"]), "percent"),
        ]
    empty = "No current media was collected in the window."
    for result, key, title in (
        (by_source_week, "source", "Current media per week, by source"),
        (by_type_week, "content_type", "Current media per week: images and videos"),
    ):
        if note_empty(section, result, empty if key == "source" else ""):
            weeks, series = weekly(result.records(), "media", key)
            figure = charts.stacked_weeks(title, weeks, series, "media")
            _week_axis(figure, window)
            section.charts.append(Chart(result.query.key, figure, result.query.key))
    if by_source.ok and by_source.rows:
        rows = [(r["source"], count(r["media"]), pct(r["share_pct"])) for r in by_source.records()]
        headers = ("source", "media", "% of window")
        title = "In the window, by source"
        section.tables.append(Table("by_source", title, headers, rows, by_source.query.key))
    section.notes = [note for note in section.notes if note]
    return section


# ---------------------------------------------------------------- 2
def rights_section(reader: DatasetReader, window: ReportWindow) -> Section:
    section = Section(
        "rights",
        "2. Rights and moderation",
        "How much of our content may we use, and how much leaves the program?",
    )
    totals, by_source, removed = run_all(
        reader,
        section,
        q.rights_totals(window),
        q.permission_by_source(),
        q.removed_by_week(window),
    )
    if note_empty(section, totals, "No current media in the dataset."):
        row, number = totals.first(), numbers_from(totals)
        section.numbers += [
            number("permissioned", "Current media with rights", count(row["permissioned"])),
            number(
                "permissioned_pct", "Share with rights", pct(row["permissioned_pct"]), "percent"
            ),
            number("removed_in_window", "Removed in the window", count(row["removed_in_window"])),
            number("removed_all_time", "Removed, all time", count(row["removed_all_time"])),
        ]
    if note_empty(section, by_source, ""):
        records = by_source.records()
        sources = [r["source"] for r in records]
        series = {
            "with rights": [count(r["permissioned"]) for r in records],
            "without": [count(r["media"]) - count(r["permissioned"]) for r in records],
        }
        figure = charts.stacked_bars(
            "Current media with rights, by source", sources, series, "media"
        )
        section.charts.append(Chart(by_source.query.key, figure, by_source.query.key))
        rows = [(r["source"], count(r["media"]), pct(r["permissioned_pct"])) for r in records]
        headers = ("source", "media", "% with rights")
        section.tables.append(
            Table("permission_by_source", "By source", headers, rows, by_source.query.key)
        )
    if note_empty(section, removed, "No content was removed in the window."):
        weeks, series = weekly(removed.records(), "placements_removed", name="removed")
        figure = charts.stacked_weeks("Placements removed per week", weeks, series, "placements")
        _week_axis(figure, window)
        section.charts.append(Chart(removed.query.key, figure, removed.query.key))
    section.notes = [note for note in section.notes if note]
    return section


def _day(value: Any) -> str:
    moment = utc(value)
    return "" if moment is None else f"{moment:%Y-%m-%d}"


# ---------------------------------------------------------------- 3
def products_section(reader: DatasetReader, window: ReportWindow) -> Section:
    section = Section(
        "products",
        "3. Product coverage",
        "Which products have customer content, which have none, which have gone quiet?",
    )
    totals, top, quiet, without = run_all(
        reader,
        section,
        q.coverage_totals(window),
        q.top_products(),
        q.quiet_products(window),
        q.products_without_ugc(),
    )
    if note_empty(section, totals, "No products in the dataset."):
        row, number = totals.first(), numbers_from(totals)
        section.numbers += [
            number("products", "Products known (catalogue)", count(row["products"])),
            number("with_ugc", "With current UGC", count(row["with_ugc"])),
            number("without_ugc", "Without current UGC", count(row["without_ugc"])),
            number(
                "quiet", f"Newest UGC older than {q.QUIET_DAYS} days", count(row["quiet_90_days"])
            ),
        ]
        with_ugc, without_ugc = count(row["with_ugc"]), count(row["without_ugc"])
        if with_ugc + without_ugc:
            figure = charts.donut(
                "Products with and without current UGC",
                ["with UGC", "without UGC"],
                [with_ugc, without_ugc],
            )
            section.charts.append(Chart(totals.query.key, figure, totals.query.key))
    if note_empty(section, top, "No product is tagged on current content."):
        records = top.records()
        names = [r["title"] or r["sku"] or r["product_id"] for r in records]
        figure = charts.horizontal_bars(
            top.query.title,
            names,
            [count(r["media"]) for r in records],
            "media",
            ids=[r["sku"] or r["product_id"] for r in records],
        )
        section.charts.append(Chart(top.query.key, figure, top.query.key))
        section.tables.append(_product_table(top))
    for result in (quiet, without):
        if result.ok and result.rows:
            section.tables.append(_product_table(result))
        elif result.error:
            section.notes.append(f"No data: {result.error}")
    return section


def _product_table(result: QueryResult) -> Table:
    """A list of products: with their UGC count and newest UGC, or their product album."""
    records = result.records()
    if "media" in result.columns:
        headers: tuple[str, ...] = ("sku", "product", "media", "newest")
        rows: list[tuple[Any, ...]] = [
            (r["sku"], r["title"], count(r["media"]), _day(r["newest"])) for r in records
        ]
    else:
        headers = ("sku", "product", "product album")
        rows = [(r["sku"], r["title"], r["album_id"]) for r in records]
    return Table(result.query.key, result.query.title, headers, rows, result.query.key)


# ---------------------------------------------------------------- 4
def albums_section(reader: DatasetReader, window: ReportWindow) -> Section:
    section = Section(
        "albums",
        "4. Albums and creators",
        "Which albums and which creators carry the program?",
    )
    largest, growing, by_media, by_engagement = run_all(
        reader,
        section,
        q.largest_albums(window),
        q.growing_albums(window),
        q.creators_by_media(),
        q.creators_by_engagement(),
    )
    if note_empty(section, largest, "No current media in any album."):
        records = largest.records()
        names = [r["title"] or r["album_id"] for r in records]
        figure = charts.horizontal_bars(
            largest.query.title,
            names,
            [count(r["media"]) for r in records],
            "placements",
            ids=[r["album_id"] for r in records],
        )
        section.charts.append(Chart(largest.query.key, figure, largest.query.key))
    if note_empty(
        section, growing, f"No album grew in the {q.GROWTH_DAYS} days to the as-of date."
    ):
        records = growing.records()
        names = [r["title"] or r["album_id"] for r in records]
        text = [_growth(r["growth_pct"]) for r in records]
        figure = charts.horizontal_bars(
            growing.query.title,
            names,
            [count(r["added_30d"]) for r in records],
            "added",
            text,
            ids=[r["album_id"] for r in records],
        )
        section.charts.append(Chart(growing.query.key, figure, growing.query.key))
        rows = [
            (r["title"], count(r["media"]), count(r["added_30d"]), pct(r["growth_pct"]))
            for r in records
        ]
        headers = ("album", "placements", f"added {q.GROWTH_DAYS}d", "growth %")
        section.tables.append(Table("growing_albums", "Growing", headers, rows, growing.query.key))
    for result, value, unit in (
        (by_media, "media", "approved items"),
        (by_engagement, "engagement", "likes + comments"),
    ):
        if note_empty(section, result, "No creators in the dataset."):
            records = result.records()
            names = [r["user_name"] or r["connected_user_id"] for r in records]
            values = [count(r[value]) for r in records]
            ids = [r["connected_user_id"] for r in records]
            figure = charts.horizontal_bars(result.query.title, names, values, unit, ids=ids)
            section.charts.append(Chart(result.query.key, figure, result.query.key))
    return section


def _growth(value: Any) -> str:
    return "new" if value is None else f"+{float(value):.0f}%"


# ---------------------------------------------------------------- 5
def engagement_section(reader: DatasetReader, window: ReportWindow) -> Section:
    section = Section(
        "engagement",
        "5. Engagement",
        "How do likes and comments spread by source, and which content people engage with most?",
    )
    likes, comments, by_source, top = run_all(
        reader,
        section,
        q.engagement_buckets("likes"),
        q.engagement_buckets("comments"),
        q.engagement_by_source(),
        q.top_media(),
    )
    for result, metric in ((likes, "likes"), (comments, "comments")):
        if note_empty(section, result, "No current media in the dataset."):
            figure = charts.grouped_bars(
                f"Share of each source's media by native {metric} (count)",
                list(q.ENGAGEMENT_BUCKETS),
                _bucket_shares(result.records()),
                "% of the source's media",
            )
            section.charts.append(Chart(result.query.key, figure, result.query.key))
    if by_source.ok and by_source.rows:
        averages = [
            (r["source"], count(r["media"]), _avg(r["avg_likes"]), _avg(r["avg_comments"]))
            for r in by_source.records()
        ]
        headers = ("source", "media", "avg likes", "avg comments")
        section.tables.append(
            Table("by_source", "By source", headers, list(averages), by_source.query.key)
        )
    if note_empty(section, top, ""):
        _top_media(section, top)
    section.notes = [note for note in section.notes if note]
    return section


def _top_media(section: Section, top: QueryResult) -> None:
    """The most engaged media as bars, and as a table with links to thumbnail and post."""
    records = top.records()
    names = [f"{r['user_name'] or '?'} · {r['source']} · {r['id']}" for r in records]
    figure = charts.horizontal_bars(
        top.query.title, names, [count(r["engagement"]) for r in records], "likes + comments"
    )
    section.charts.append(Chart(top.query.key, figure, top.query.key))
    rows = [
        (r["id"], r["user_name"], r["source"], count(r["likes"]), count(r["comments"]),
         "thumbnail" if r["thumbnail"] else "", r["thumbnail"],
         "post" if r["platform_link"] else "", r["platform_link"])
        for r in records
    ]  # fmt: skip
    headers = ("media", "creator", "source", "likes", "comments", "thumbnail", "", "post", "")
    table = Table(
        "top_media", top.query.title, headers, rows, top.query.key, links={5: 6, 7: 8}, wide=True
    )
    section.tables.append(table)


def _avg(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _bucket_shares(records: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    """Per source, the share of its media in each engagement bucket (sources differ in size
    by orders of magnitude; shares compare their shapes), largest source first."""
    shares: dict[str, dict[str, float]] = defaultdict(dict)
    sizes: dict[str, int] = defaultdict(int)
    for row in records:
        shares[str(row["source"])][str(row["bucket"])] = round(float(row["share_pct"]), 1)
        sizes[str(row["source"])] += count(row["media"])
    order = sorted(shares, key=lambda source: (-sizes[source], source))
    return {s: [shares[s].get(b, 0.0) for b in q.ENGAGEMENT_BUCKETS] for s in order}
