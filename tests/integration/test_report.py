"""The UGC report of a simulated account: every section's numbers against the simulator's
ground truth and against SQL of our own over the loaded DuckDB file, every query the page shows
re-run to the same rows, and the page itself opened in a real Chromium.

The account is loaded, then changed (content removed and added now, a product and an album
created with hostile titles) and loaded again with reconciliation, so removals, growth,
products without content and products gone quiet all have something to count.
"""

from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline import make_pipeline, run_source
from pixlee.report import ReportError, collect_report, report_sql, write_report
from pixlee.report.model import Report
from pixlee.simulator import Simulator, SimulatorConfig
from pixlee.source import pixlee_source
from tests.conftest import SMALL_ACCOUNT
from tests.support.browser import open_page

HOSTILE = '</script><img src=x onerror="alert(1)">&amp; <b>bold</b>'
NOW_PLUS = timedelta(minutes=5)


@dataclass
class Loaded:
    sim: Simulator
    pipeline: Pipeline
    db: Path
    removed: set[int]
    quiet_product_album: int  # a product created without content
    hostile_album: int


def _source(sim: Simulator, **options: Any) -> Any:
    return pixlee_source(api_key=sim.config.api_key, base_url=sim.base_url, **options)


def _change_the_world(sim: Simulator) -> tuple[int, int]:
    """Remove three placements (one photo deleted everywhere), add content now (one item in
    a product album), create a product without content and an album, both hostile titles."""
    media = sim.truth_media()
    by_album: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in media:
        by_album[item["album_id"]].append(item)
    standard = [a["id"] for a in sim.truth_albums() if a["album_type"] == "standard"]
    sim.world.remove_media(by_album[standard[0]][0]["album_photo_id"], "unapprove")
    sim.world.remove_media(by_album[standard[0]][1]["album_photo_id"], "unapprove")
    sim.world.remove_media(by_album[standard[1]][2]["album_photo_id"], "delete")
    sim.world.add_media(standard[1], count=4)
    product_album = next(a["id"] for a in sim.truth_albums() if a["album_type"] == "product")
    sim.world.add_media(product_album, count=1)
    quiet, _ = sim.world.upsert_product(HOSTILE, {"sku": "NO-UGC-1", "name": HOSTILE})
    hostile = sim.world.create_album(HOSTILE, "standard")
    sim.world.add_media(hostile.id, count=3)
    # an album titled like one that also grew: two bars, not one bar for both
    twin_title = next(a["title"] for a in sim.truth_albums() if a["id"] == standard[1])
    twin = sim.world.create_album(twin_title, "standard")
    sim.world.add_media(twin.id, count=2)
    return quiet.id, hostile.id


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    folder = tmp_path_factory.mktemp("report")
    with Simulator(SimulatorConfig(**SMALL_ACCOUNT)) as sim:  # type: ignore[arg-type]
        pipeline = make_pipeline(
            destination=dlt.destinations.duckdb(str(folder / "pixlee.duckdb")),
            pipeline_name="pixlee_report_test",
            pipelines_dir=str(folder / "pipelines"),
            progress="log",
        )
        run_source(pipeline, _source(sim, skus=sim.skus()[:2]))
        quiet_album, hostile_album = _change_the_world(sim)
        run_source(pipeline, _source(sim, skus=sim.skus()[:2], reconcile="always"))
        yield Loaded(
            sim,
            pipeline,
            folder / "pixlee.duckdb",
            sim.removed_album_photo_ids(),
            quiet_album,
            hostile_album,
        )


# ---------------------------------------------------------------- the truth, computed apart
def _ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _photos(media: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Current content as the simulator serves it, once per photo."""
    return {item["id"]: item for item in media}


def _monday(moment: datetime) -> datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _in_window(moment: datetime | None, report: Report, since: datetime | None) -> bool:
    return moment is not None and (since is None or moment >= since) and moment <= report.as_of


def _since(report: Report, days: int | None) -> datetime | None:
    return None if days is None else _monday(report.as_of - timedelta(days=days))


def _as_utc(moment: datetime) -> datetime:
    """Weeks come back as naive UTC timestamps (`AT TIME ZONE 'UTC'`)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _sql(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Our own connection, in another session time zone than dlt's (UTC): the shown SQL
    must not depend on it."""
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET TimeZone = 'America/Los_Angeles'")
        return [tuple(row) for row in con.execute(sql).fetchall()]


# ---------------------------------------------------------------- what the page shows
class _Shown(HTMLParser):
    """Numbers (`dd[data-key]`), tables (`table[data-table]`) and SQL blocks of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.numbers: dict[tuple[str, str], str] = {}
        self.tables: dict[tuple[str, str], list[list[str]]] = {}
        self.sql: list[str] = []
        self.charts: list[tuple[str, str]] = []
        self._section = ""
        self._table: tuple[str, str] | None = None
        self._cell: list[str] | None = None
        self._in_code = False
        self._code: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("data-section"):
            self._section = str(a["data-section"])
        elif tag == "dd" and a.get("data-key"):
            self.numbers[(self._section, str(a["data-key"]))] = str(a.get("data-value"))
        elif tag == "table" and a.get("data-table"):
            self._table = (self._section, str(a["data-table"]))
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag == "td" and self._table:
            self._cell = []
        elif tag == "code" and not self._in_code:
            self._in_code, self._code = True, []
        elif tag == "div" and a.get("data-chart"):
            self.charts.append((self._section, str(a["data-chart"])))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "code" and self._in_code:
            self._in_code = False
            text = "".join(self._code)
            if text.lstrip().upper().startswith(("SELECT", "WITH")):
                self.sql.append(text)

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_code:
            self._code.append(data)


def _shown(path: Path) -> _Shown:
    parser = _Shown()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _numbers(report: Report, section: str) -> dict[str, Any]:
    return {n.key: n.value for n in report.section(section).numbers}


# ---------------------------------------------------------------- the report over all time
@pytest.fixture(scope="module")
def all_time(loaded: Loaded, tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    report = collect_report(loaded.pipeline, since="all")
    path = write_report(report, tmp_path_factory.mktemp("out") / "report.html")
    return report, path


def test_the_page_shows_what_the_report_computed(all_time: tuple[Report, Path]) -> None:
    report, path = all_time
    shown = _shown(path)
    for section in report.sections:
        for number in section.numbers:
            raw = shown.numbers[(section.key, number.key)]
            expected = (
                number.value.isoformat() if isinstance(number.value, datetime) else number.value
            )
            assert raw == ("" if expected is None else str(expected)), (section.key, number.key)
        assert [c for s, c in shown.charts if s == section.key] == [c.key for c in section.charts]
    assert len(shown.charts) >= 14
    for chart in (c for s in report.sections for c in s.charts):
        for trace in chart.figure.data:
            if getattr(trace, "orientation", None) == "h":  # a category axis: one bar each
                assert len(set(trace.y)) == len(trace.y), (chart.key, trace.y)
    text = path.read_text(encoding="utf-8")
    assert text.count("<script>") == text.count("</script>")
    assert HOSTILE not in text  # escaped wherever it appears
    # nothing for the page to fetch (plotly.js mentions CDN URLs it uses only for maps)
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=|<link\b", text)


def test_every_query_shown_reruns_to_the_same_rows(
    loaded: Loaded, all_time: tuple[Report, Path]
) -> None:
    """An analyst pastes the SQL under a section into DuckDB and gets the report's rows."""
    report, path = all_time
    shown = _shown(path).sql
    page_order = [*(r for s in report.sections for r in s.results), *report.preamble]
    results = [r for r in page_order if r.ok]
    assert len(shown) == len(results) >= 20
    for text, result in zip(shown, results, strict=True):
        assert text == result.executed_sql
        assert _sql(loaded.db, text) == result.rows, result.query.key
    script = report_sql(report)
    assert script.count(";\n") == len(results)
    assert all(r.executed_sql in script for r in results)


def test_content_over_time_matches_the_truth(loaded: Loaded, all_time: tuple[Report, Path]) -> None:
    report, _ = all_time
    photos = _photos(loaded.sim.truth_media())
    numbers = _numbers(report, "content")
    kinds = Counter(p["content_type"] for p in photos.values())
    assert numbers["current_media"] == len(photos)
    assert numbers["images"] == kinds["image"] and numbers["videos"] == kinds["video"]
    assert numbers["collected_in_window"] == len(photos)  # since=all, as of now
    assert numbers["video_pct"] == round(100 * kinds["video"] / len(photos), 1)
    (sql_count,) = _sql(loaded.db, "SELECT count(DISTINCT id) FROM pixlee_data.media "
                        "WHERE removed_at IS NULL")[0]  # fmt: skip
    assert sql_count == len(photos)
    by_source = Counter(p["source"] for p in photos.values())
    table = report.section("content").table("by_source").rows
    assert {row[0]: row[1] for row in table} == dict(by_source)
    assert report.as_of_reason == "now"  # content arrived just now


def test_weekly_numbers_in_a_window_match_the_truth(loaded: Loaded) -> None:
    """As of the generated world's last day, 12 weeks back: the weekly series exactly."""
    as_of = datetime.fromtimestamp(loaded.sim.world.base_epoch_ms / 1000, UTC)
    report = collect_report(loaded.pipeline, since="12w", as_of=as_of)
    since = _since(report, 84)
    assert report.as_of == as_of
    photos = _photos(loaded.sim.truth_media())
    expected: Counter[tuple[datetime, str]] = Counter()
    for photo in photos.values():
        created = _ts(photo["created_at"])
        if _in_window(created, report, since):
            assert created is not None
            expected[(_monday(created), photo["source"])] += 1
    result = report.section("content").result("content_by_week_source")
    got = {(_as_utc(row[0]), row[1]): row[2] for row in result.rows}
    assert got == dict(expected) and got
    numbers = _numbers(report, "content")
    assert numbers["collected_in_window"] == sum(expected.values())
    growing = report.section("albums").result("growing_albums").records()
    cutoff = as_of - timedelta(days=30)
    added: Counter[int] = Counter(
        item["album_id"]
        for item in loaded.sim.truth_media()
        if cutoff < _ts(item["approved_on_date"]) <= as_of  # type: ignore[operator]
    )
    top = sorted(added.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(r["album_id"], r["added_30d"]) for r in growing] == top


def test_rights_and_removals_match_the_truth(loaded: Loaded, all_time: tuple[Report, Path]) -> None:
    report, _ = all_time
    photos = _photos(loaded.sim.truth_media())
    numbers = _numbers(report, "rights")
    permissioned = sum(1 for p in photos.values() if p["has_permission"])
    assert numbers["permissioned"] == permissioned
    assert numbers["permissioned_pct"] == round(100 * permissioned / len(photos), 1)
    assert len(loaded.removed) >= 3
    assert numbers["removed_all_time"] == numbers["removed_in_window"] == len(loaded.removed)
    loaded_removed = _sql(
        loaded.db, "SELECT album_photo_id FROM pixlee_data.media WHERE removed_at IS NOT NULL"
    )
    assert {row[0] for row in loaded_removed} == loaded.removed
    per_source: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for photo in photos.values():
        per_source[photo["source"]][0] += 1
        per_source[photo["source"]][1] += bool(photo["has_permission"])
    rows = report.section("rights").result("permission_by_source").records()
    assert {r["source"]: [r["media"], r["permissioned"]] for r in rows} == dict(per_source)
    assert [c.key for c in report.section("rights").charts] == [
        "permission_by_source",
        "removed_by_week",
    ]


def test_product_coverage_matches_the_truth(loaded: Loaded, all_time: tuple[Report, Path]) -> None:
    report, _ = all_time
    media = loaded.sim.truth_media()
    photos_of: dict[int, set[int]] = defaultdict(set)
    newest: dict[int, datetime] = {}
    album_of: dict[int, int] = {}
    sku_of: dict[int, str] = {}
    for item in media:
        for product in item["products"]:
            photos_of[product["id"]].add(item["id"])
            album_of[product["id"]] = product["album_id"]
            sku_of[product["id"]] = product["sku"]
            created = _ts(item["created_at"])
            assert created is not None
            newest[product["id"]] = max(newest.get(product["id"], created), created)
    product_albums = {a["id"] for a in loaded.sim.truth_albums() if a["album_type"] == "product"}
    assert loaded.quiet_product_album in product_albums
    with_ugc = {album_of[p] for p in photos_of}
    quiet_cutoff = report.as_of - timedelta(days=90)
    numbers = _numbers(report, "products")
    assert numbers["products"] == len(product_albums)
    assert numbers["with_ugc"] == len(with_ugc & product_albums) == len(photos_of)
    assert numbers["without_ugc"] == len(product_albums - with_ugc) >= 1
    assert numbers["quiet"] == sum(1 for t in newest.values() if t < quiet_cutoff)
    assert 0 < numbers["quiet"] < len(photos_of)  # one product got content just now
    top = sorted(photos_of, key=lambda p: (-len(photos_of[p]), p))[:20]
    rows = report.section("products").table("top_products").rows
    assert [(r[0], r[2]) for r in rows] == [(sku_of[p], len(photos_of[p])) for p in top]
    without = report.section("products").table("products_without_ugc").rows
    assert [r[2] for r in without] == [loaded.quiet_product_album]
    assert without[0][1] == HOSTILE  # as loaded; the page escapes it


def test_albums_and_creators_match_the_truth(loaded: Loaded, all_time: tuple[Report, Path]) -> None:
    report, _ = all_time
    media = loaded.sim.truth_media()
    sizes = Counter(item["album_id"] for item in media)
    largest = report.section("albums").result("largest_albums").records()
    expected = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(r["album_id"], r["media"]) for r in largest] == expected
    growing = report.section("albums").result("growing_albums").records()
    assert {r["album_id"]: r["added_30d"] for r in growing}[loaded.hostile_album] == 3
    titles = Counter(r["title"] for r in growing)
    assert max(titles.values()) == 2  # the twin album: told apart on the chart
    photos = _photos(media)
    by_creator = Counter(p["connected_user_id"] for p in photos.values())
    engagement: Counter[int] = Counter()
    for photo in photos.values():
        engagement[photo["connected_user_id"]] += photo["native_likes"] + photo["native_comments"]
    creators = report.section("albums").result("creators_by_media").records()
    top = sorted(by_creator.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(r["connected_user_id"], r["media"]) for r in creators] == top
    engaged = report.section("albums").result("creators_by_engagement").records()
    top_engaged = sorted(engagement.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(r["connected_user_id"], r["engagement"]) for r in engaged] == top_engaged


def _bucket(value: int) -> str:
    if value <= 0:
        return "0"
    return (
        "1-9" if value < 10 else "10-99" if value < 100 else "100-999" if value < 1000 else "1,000+"
    )


def test_engagement_matches_the_truth(loaded: Loaded, all_time: tuple[Report, Path]) -> None:
    report, _ = all_time
    photos = _photos(loaded.sim.truth_media())
    section = report.section("engagement")
    for metric in ("likes", "comments"):
        expected = Counter((p["source"], _bucket(p[f"native_{metric}"])) for p in photos.values())
        rows = section.result(f"{metric}_buckets").rows
        assert {(r[0], r[1]): r[2] for r in rows} == dict(expected)
    ranked = sorted(
        photos.values(), key=lambda p: (-(p["native_likes"] + p["native_comments"]), p["id"])
    )[:10]
    top = section.result("top_media").records()
    assert [(r["id"], r["engagement"]) for r in top] == [
        (p["id"], p["native_likes"] + p["native_comments"]) for p in ranked
    ]
    for row, photo in zip(top, ranked, strict=True):
        cdn = photo["pixlee_cdn_photos"]["medium_url"]
        assert row["thumbnail"] == (cdn or photo["thumbnail_url"])


def test_freshness_without_run_tables_reads_state_and_loads(
    loaded: Loaded, all_time: tuple[Report, Path]
) -> None:
    report, _ = all_time
    if {"_pixlee_runs", "_pixlee_album_scans"} & set(loaded.pipeline.default_schema.tables):
        pytest.skip("the source records _pixlee_runs: see test_report_freshness.py")
    section = report.section("freshness")
    numbers = _numbers(report, "freshness")
    cursors = loaded.pipeline.state["sources"]["pixlee"]["album_cursors"]
    assert numbers["albums_scanned"] == len(cursors) == len(loaded.sim.truth_albums())
    full = min(datetime.fromtimestamp(c["reconciled_at"], UTC) for c in cursors.values())
    assert numbers["oldest_full_scan"] == full
    assert numbers["loads"] == 2
    (last,) = _sql(loaded.db, "SELECT max(inserted_at) FROM pixlee_data._dlt_loads")[0]
    assert numbers["last_load"] == last.astimezone(UTC)
    assert any("_pixlee_runs" in note for note in section.notes)
    assert section.state_sources  # says the scan times came from the pipeline state


# ---------------------------------------------------------------- the page in a browser
def test_the_report_renders_offline_in_chromium(
    chromium: Any,
    all_time: tuple[Report, Path],
    tmp_path: Path,
) -> None:
    report, path = all_time
    page, record = open_page(chromium, path)
    charts = page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-chart]')).map((box) => {
            const svg = box.querySelector('svg.main-svg');
            const marks = box.querySelectorAll(
                '.barlayer .bars path, .scatterlayer .points path, .pielayer .slice path');
            const drawn = Array.from(marks).filter((m) => {
                const r = m.getBoundingClientRect(); return r.width > 0 && r.height > 0; });
            const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
            return [box.dataset.chart, Math.round(r.width), Math.round(r.height), drawn.length,
                    Math.round(box.getBoundingClientRect().width)];
        })"""
    )
    expected = [chart.key for section in report.sections for chart in section.charts]
    assert [c[0] for c in charts] == expected
    for key, width, height, marks, box in charts:
        assert width > 100 and height > 100 and marks > 0, (key, width, height, marks)
        assert width <= box, (key, "wider than its box")
    assert record.errors == []  # no console error, exception, or alert() from a hostile title
    assert record.outside_requests == []
    assert record.requests == [path.resolve().as_uri()]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000


# ---------------------------------------------------------------- bad and empty datasets
def test_a_pipeline_that_loaded_nothing_is_one_clear_error(tmp_path: Path) -> None:
    pipeline = make_pipeline(
        destination=dlt.destinations.duckdb(str(tmp_path / "empty.duckdb")),
        pipeline_name="pixlee_empty",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    with pytest.raises(ReportError, match="has loaded no data"):
        collect_report(pipeline)


def test_missing_tables_become_sections_that_say_no_data(
    shared_sim: Simulator, pipeline: Pipeline, tmp_path: Path
) -> None:
    run_source(pipeline, _source(shared_sim).with_resources("albums"))
    report = collect_report(pipeline)
    for key in ("content", "rights", "products", "albums", "engagement"):
        section = report.section(key)
        assert section.charts == [] and section.numbers == []
        assert section.notes and all(re.search(r"table .*media", n) for n in section.notes)
    freshness = report.section("freshness")
    assert _numbers(report, "freshness")["loads"] == 1 and freshness.charts
    page = write_report(report, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "No data: table media is not in dataset pixlee_data" in html.unescape(page)
