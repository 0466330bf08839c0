"""The SQL behind every number of the report, one function per question.

Counting rules, the same in every section:
- *current* content is `media` with `removed_at IS NULL`;
- a piece of content is a photo (`media.id`), counted once even when it sits in several
  albums (`media` has one row per album placement, `album_photo_id`); photo fields are the
  same on each placement, so `MAX()` over its placements picks them;
- album sizes and removals count placements: an album's size is its placements, a removal
  is a placement leaving its album;
- content over time is by `created_at_ts` (when Pixlee collected it); album growth by
  `approved_on_date_ts` (when it entered the album).

Only portable SQL: CASE, COALESCE, NULLIF, window sums, DATE_TRUNC and literals that sqlglot
transpiles for each destination. Weeks are cut in UTC whatever the session's time zone
(`AT TIME ZONE 'UTC'`); they start on Monday (on BigQuery, Sunday).
"""

from __future__ import annotations

from pixlee.report.model import Query
from pixlee.report.window import ReportWindow, sql_timestamp

MEDIA = "media"
TAGS = "media__products"
ALBUMS = "albums"
PRODUCTS = "products"
RUNS = "_pixlee_runs"
ALBUM_SCANS = "_pixlee_album_scans"
LOADS = "_dlt_loads"
TOP = 10
TOP_PRODUCTS = 20
LISTED = 50
GROWTH_DAYS = 30
QUIET_DAYS = 90
RECENT_RUNS = 20
ENGAGEMENT_BUCKETS = ("0", "1-9", "10-99", "100-999", "1,000+")  # as `_bucket` labels them

_FLAGS = {"has_permission"}


def _photos(*columns: str) -> str:
    """A CTE of current photos: one row per `media.id` with the photo fields asked for."""
    picks = ",\n    ".join(
        f"MAX(CASE WHEN {c} THEN 1 ELSE 0 END) AS {c}" if c in _FLAGS else f"MAX({c}) AS {c}"
        for c in columns
    )
    return (
        "photos AS (\n  SELECT\n    id,\n    "
        + picks
        + f"\n  FROM {MEDIA}\n  WHERE removed_at IS NULL\n  GROUP BY id\n)"
    )


def _between(column: str, window: ReportWindow, since: bool = True) -> str:
    upper = f"{column} <= {sql_timestamp(window.as_of)}"
    if not since or window.since is None:
        return upper
    return f"{column} >= {sql_timestamp(window.since)} AND {upper}"


def _after(column: str, window: ReportWindow, days: int) -> str:
    start = sql_timestamp(window.days_before(days))
    return f"{column} > {start} AND {column} <= {sql_timestamp(window.as_of)}"


def _source(column: str = "source") -> str:
    return f"COALESCE({column}, '(none)')"


# ---------------------------------------------------------------- 1. content over time
def newest_content() -> Query:
    """What `--as-of auto` measures from: when the newest current content was collected."""
    sql = f"""SELECT
  MAX(created_at_ts) AS newest_collected,
  COUNT(*) AS current_placements
FROM {MEDIA}
WHERE removed_at IS NULL"""
    return Query("newest_content", "Newest current content", sql, (MEDIA,))


def content_totals(window: ReportWindow) -> Query:
    sql = f"""WITH {_photos("source", "content_type", "created_at_ts")}
SELECT
  COUNT(*) AS current_media,
  SUM(CASE WHEN {_between("created_at_ts", window)} THEN 1 ELSE 0 END) AS collected_in_window,
  SUM(CASE WHEN content_type = 'image' THEN 1 ELSE 0 END) AS images,
  SUM(CASE WHEN content_type = 'video' THEN 1 ELSE 0 END) AS videos,
  100.0 * SUM(CASE WHEN content_type = 'video' THEN 1 ELSE 0 END) / NULLIF(COUNT(*), 0)
    AS video_pct,
  COUNT(DISTINCT source) AS sources
FROM photos"""
    return Query("content_totals", "Current media, all time and in the window", sql, (MEDIA,))


def content_by_week(window: ReportWindow, by: str) -> Query:
    """Current media per week, split by `source` or `content_type`."""
    sql = f"""WITH {_photos("source", "content_type", "created_at_ts")}
SELECT
  DATE_TRUNC('week', created_at_ts AT TIME ZONE 'UTC') AS week,
  {_source(by)} AS {by},
  COUNT(*) AS media
FROM photos
WHERE {_between("created_at_ts", window)}
GROUP BY 1, 2
ORDER BY 1, 2"""
    title = f"Current media collected per week, by {by.replace('_', ' ')}"
    return Query(f"content_by_week_{by}", title, sql, (MEDIA,))


def content_by_source(window: ReportWindow) -> Query:
    sql = f"""WITH {_photos("source", "content_type", "created_at_ts")}
SELECT
  {_source()} AS source,
  COUNT(*) AS media,
  100.0 * COUNT(*) / SUM(COUNT(*)) OVER () AS share_pct,
  SUM(CASE WHEN content_type = 'video' THEN 1 ELSE 0 END) AS videos
FROM photos
WHERE {_between("created_at_ts", window)}
GROUP BY 1
ORDER BY media DESC, source"""
    return Query("content_by_source", "Current media in the window, by source", sql, (MEDIA,))


# ---------------------------------------------------------------- 2. rights and moderation
def permission_by_source() -> Query:
    sql = f"""WITH {_photos("source", "has_permission")}
SELECT
  {_source()} AS source,
  COUNT(*) AS media,
  SUM(has_permission) AS permissioned,
  100.0 * SUM(has_permission) / COUNT(*) AS permissioned_pct
FROM photos
GROUP BY 1
ORDER BY media DESC, source"""
    return Query("permission_by_source", "Current media with rights, by source", sql, (MEDIA,))


def rights_totals(window: ReportWindow) -> Query:
    sql = f"""WITH {_photos("has_permission")}
SELECT
  COUNT(*) AS media,
  SUM(has_permission) AS permissioned,
  100.0 * SUM(has_permission) / NULLIF(COUNT(*), 0) AS permissioned_pct,
  (SELECT COUNT(*) FROM {MEDIA} WHERE removed_at IS NOT NULL) AS removed_all_time,
  (SELECT COUNT(*) FROM {MEDIA}
    WHERE removed_at IS NOT NULL AND {_between("removed_at", window)}) AS removed_in_window
FROM photos"""
    return Query("rights_totals", "Rights and removals, totals", sql, (MEDIA,))


def removed_by_week(window: ReportWindow) -> Query:
    sql = f"""SELECT
  DATE_TRUNC('week', removed_at AT TIME ZONE 'UTC') AS week,
  COUNT(*) AS placements_removed,
  COUNT(DISTINCT id) AS photos
FROM {MEDIA}
WHERE removed_at IS NOT NULL AND {_between("removed_at", window)}
GROUP BY 1
ORDER BY 1"""
    return Query("removed_by_week", "Content removed per week (placements)", sql, (MEDIA,))


# ---------------------------------------------------------------- 3. product coverage
def _tagged() -> str:
    return f"""tagged AS (
  SELECT
    t.id AS product_id,
    COUNT(DISTINCT m.id) AS media,
    MAX(m.created_at_ts) AS newest
  FROM {TAGS} AS t
  JOIN {MEDIA} AS m ON t._dlt_parent_id = m._dlt_id
  WHERE m.removed_at IS NULL
  GROUP BY t.id
)"""


def _catalogue() -> str:
    """Every product we know: the `products` table (seen on content) and product albums
    (GET /albums lists one per catalogue product, tagged or not)."""
    return f"""catalogue AS (
  SELECT
    p.id AS product_id,
    COALESCE(p.album_id, a.id) AS album_id,
    COALESCE(p.title, a.title) AS title,
    p.sku AS sku
  FROM {PRODUCTS} AS p
  FULL OUTER JOIN (SELECT id, title FROM {ALBUMS} WHERE album_type = 'product') AS a
    ON a.id = p.album_id
)"""


def coverage_totals(window: ReportWindow) -> Query:
    quiet = sql_timestamp(window.days_before(QUIET_DAYS))
    sql = f"""WITH {_tagged()},
{_catalogue()}
SELECT
  COUNT(*) AS products,
  SUM(CASE WHEN t.media > 0 THEN 1 ELSE 0 END) AS with_ugc,
  SUM(CASE WHEN t.media IS NULL THEN 1 ELSE 0 END) AS without_ugc,
  SUM(CASE WHEN t.newest < {quiet} THEN 1 ELSE 0 END) AS quiet_90_days
FROM catalogue AS c
LEFT JOIN tagged AS t ON t.product_id = c.product_id"""
    return Query(
        "coverage_totals",
        "Products with and without current UGC",
        sql,
        (MEDIA, TAGS, PRODUCTS, ALBUMS),
    )


def top_products() -> Query:
    sql = f"""WITH {_tagged()}
SELECT t.product_id, p.sku, p.title, t.media, t.newest
FROM tagged AS t
LEFT JOIN {PRODUCTS} AS p ON p.id = t.product_id
ORDER BY t.media DESC, t.product_id
LIMIT {TOP_PRODUCTS}"""
    return Query(
        "top_products", f"Top {TOP_PRODUCTS} products by UGC", sql, (MEDIA, TAGS, PRODUCTS)
    )


def quiet_products(window: ReportWindow) -> Query:
    quiet = sql_timestamp(window.days_before(QUIET_DAYS))
    sql = f"""WITH {_tagged()}
SELECT t.product_id, p.sku, p.title, t.media, t.newest
FROM tagged AS t
LEFT JOIN {PRODUCTS} AS p ON p.id = t.product_id
WHERE t.newest < {quiet}
ORDER BY t.newest, t.product_id
LIMIT {LISTED}"""
    title = f"Products whose newest UGC is older than {QUIET_DAYS} days"
    return Query("quiet_products", title, sql, (MEDIA, TAGS, PRODUCTS))


def products_without_ugc() -> Query:
    sql = f"""WITH {_tagged()},
{_catalogue()}
SELECT c.product_id, c.album_id, c.sku, c.title
FROM catalogue AS c
LEFT JOIN tagged AS t ON t.product_id = c.product_id
WHERE t.media IS NULL
ORDER BY c.title, c.album_id
LIMIT {LISTED}"""
    return Query(
        "products_without_ugc", "Products without current UGC", sql, (MEDIA, TAGS, PRODUCTS, ALBUMS)
    )


# ---------------------------------------------------------------- 4. albums and creators
def _albums(window: ReportWindow, order: str, growing_only: bool = False) -> str:
    """Current placements per album, and how many arrived in the last `GROWTH_DAYS` days."""
    added = (
        f"SUM(CASE WHEN {_after('m.approved_on_date_ts', window, GROWTH_DAYS)} THEN 1 ELSE 0 END)"
    )
    having = f"\nHAVING {added} > 0" if growing_only else ""
    return f"""SELECT
  m.album_id,
  MAX(a.title) AS title,
  MAX(a.album_type) AS album_type,
  COUNT(*) AS media,
  {added} AS added_30d,
  100.0 * {added} / NULLIF(COUNT(*) - {added}, 0) AS growth_pct
FROM {MEDIA} AS m
LEFT JOIN {ALBUMS} AS a ON a.id = m.album_id
WHERE m.removed_at IS NULL
GROUP BY m.album_id{having}
ORDER BY {order}, m.album_id
LIMIT {TOP}"""


def largest_albums(window: ReportWindow) -> Query:
    sql = _albums(window, "media DESC")
    title = f"Largest {TOP} albums (current placements)"
    return Query("largest_albums", title, sql, (MEDIA, ALBUMS))


def growing_albums(window: ReportWindow) -> Query:
    sql = _albums(window, "added_30d DESC", growing_only=True)
    title = f"Fastest-growing albums (added in the last {GROWTH_DAYS} days)"
    return Query("growing_albums", title, sql, (MEDIA, ALBUMS))


def _creators(order: str) -> str:
    """Creators (`connected_user_id`) of current media, with their photos' native counts."""
    return f"""WITH {_photos("connected_user_id", "user_name", "native_likes", "native_comments")}
SELECT
  connected_user_id,
  MAX(user_name) AS user_name,
  COUNT(*) AS media,
  SUM(COALESCE(native_likes, 0)) AS likes,
  SUM(COALESCE(native_comments, 0)) AS comments,
  SUM(COALESCE(native_likes, 0) + COALESCE(native_comments, 0)) AS engagement
FROM photos
GROUP BY connected_user_id
ORDER BY {order}, connected_user_id
LIMIT {TOP}"""


def creators_by_media() -> Query:
    sql = _creators("media DESC")
    return Query("creators_by_media", f"Top {TOP} creators by approved items", sql, (MEDIA,))


def creators_by_engagement() -> Query:
    sql = _creators("engagement DESC")
    title = f"Top {TOP} creators by native engagement (likes + comments)"
    return Query("creators_by_engagement", title, sql, (MEDIA,))


# ---------------------------------------------------------------- 5. engagement
def _bucket(column: str) -> str:
    value = f"COALESCE({column}, 0)"
    return (
        f"CASE WHEN {value} <= 0 THEN '0' WHEN {value} < 10 THEN '1-9' "
        f"WHEN {value} < 100 THEN '10-99' WHEN {value} < 1000 THEN '100-999' ELSE '1,000+' END"
    )


def engagement_buckets(metric: str) -> Query:
    """How current media of each source spread over buckets of native likes (or comments)."""
    column = f"native_{metric}"
    sql = f"""WITH {_photos("source", column)}
SELECT
  {_source()} AS source,
  {_bucket(column)} AS bucket,
  COUNT(*) AS media,
  100.0 * COUNT(*) / SUM(COUNT(*)) OVER (PARTITION BY {_source()}) AS share_pct
FROM photos
GROUP BY 1, 2
ORDER BY 1, 2"""
    title = f"Current media by native {metric}, by source"
    return Query(f"{metric}_buckets", title, sql, (MEDIA,))


def engagement_by_source() -> Query:
    sql = f"""WITH {_photos("source", "native_likes", "native_comments")}
SELECT
  {_source()} AS source,
  COUNT(*) AS media,
  AVG(COALESCE(native_likes, 0)) AS avg_likes,
  AVG(COALESCE(native_comments, 0)) AS avg_comments,
  MAX(native_likes) AS max_likes
FROM photos
GROUP BY 1
ORDER BY media DESC, source"""
    return Query("engagement_by_source", "Native engagement per source", sql, (MEDIA,))


def top_media() -> Query:
    columns = (
        "source",
        "content_type",
        "user_name",
        "native_likes",
        "native_comments",
        "pixlee_cdn_photos__medium_url",
        "thumbnail_url",
        "platform_link",
    )
    sql = f"""WITH {_photos(*columns)}
SELECT
  id,
  source,
  content_type,
  user_name,
  COALESCE(native_likes, 0) AS likes,
  COALESCE(native_comments, 0) AS comments,
  COALESCE(native_likes, 0) + COALESCE(native_comments, 0) AS engagement,
  COALESCE(NULLIF(pixlee_cdn_photos__medium_url, ''), thumbnail_url) AS thumbnail,
  platform_link
FROM photos
ORDER BY engagement DESC, id
LIMIT {TOP}"""
    return Query("top_media", f"Top {TOP} media by native likes + comments", sql, (MEDIA,))


# ---------------------------------------------------------------- 6. freshness
def album_scans() -> Query:
    """The last complete scan of each album, incremental and full (reconciling)."""
    sql = f"""SELECT
  s.album_id,
  MAX(a.title) AS title,
  MAX(CASE WHEN s.full_scan THEN s.scanned_at END) AS last_full_scan,
  MAX(CASE WHEN NOT s.full_scan THEN s.scanned_at END) AS last_incremental_scan,
  MAX(s.scanned_at) AS last_scan,
  COUNT(*) AS scans
FROM {ALBUM_SCANS} AS s
LEFT JOIN {ALBUMS} AS a ON a.id = s.album_id
WHERE s.complete OR s.complete IS NULL
GROUP BY s.album_id
ORDER BY last_scan, s.album_id"""
    return Query("album_scans", "Last scans of each album", sql, (ALBUM_SCANS, ALBUMS))


def recent_runs() -> Query:
    sql = f"""SELECT
  load_id,
  started_at,
  finished_at,
  requests,
  retries,
  rate_limited,
  waited_on_429_seconds,
  albums_full,
  albums_incremental,
  items_read
FROM {RUNS}
ORDER BY started_at DESC, load_id DESC
LIMIT {RECENT_RUNS}"""
    return Query("recent_runs", f"Requests spent by the last {RECENT_RUNS} runs", sql, (RUNS,))


def runs_totals() -> Query:
    sql = f"""SELECT
  COUNT(*) AS runs,
  SUM(requests) AS requests,
  SUM(retries) AS retries,
  SUM(rate_limited) AS rate_limited,
  SUM(waited_on_429_seconds) AS waited_on_429_seconds,
  SUM(CASE WHEN rate_limited > 0 THEN 1 ELSE 0 END) AS runs_with_429,
  MAX(finished_at) AS last_finished
FROM (
  SELECT * FROM {RUNS} ORDER BY started_at DESC, load_id DESC LIMIT {RECENT_RUNS}
) AS r"""
    return Query("runs_totals", f"Totals over the last {RECENT_RUNS} runs", sql, (RUNS,))


def recent_loads(schema_name: str) -> Query:
    """dlt's own record of loads: what freshness falls back to without `_pixlee_runs`."""
    sql = f"""SELECT load_id, status, inserted_at
FROM {LOADS}
WHERE schema_name = '{schema_name.replace("'", "''")}'
ORDER BY inserted_at DESC, load_id DESC
LIMIT {RECENT_RUNS}"""
    return Query("recent_loads", f"The last {RECENT_RUNS} loads (dlt's _dlt_loads)", sql, (LOADS,))


def album_titles() -> Query:
    sql = f"SELECT id, title FROM {ALBUMS} ORDER BY id"
    return Query("album_titles", "Album titles", sql, (ALBUMS,))
