"""The report's time frame: the instant it is "as of" and the window its weekly charts cover.

Every time-relative number (content per week, removals, growth over 30 days, products gone
quiet for 90 days) is measured against one instant, `as_of`, written into the SQL as a literal
so a query copied from the report returns the same numbers tomorrow. `--since` sets how far
back the weekly charts reach; weeks start on Monday (UTC), and the window starts on the Monday
of the week it reaches into, so the first bar is a whole week like the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pixlee.report.errors import ReportError

SINCE_ALL = "all"
AS_OF_CHOICES = ("auto", "now", "latest")
_SINCE_PATTERN = re.compile(r"^\s*(\d+)\s*([dw])\s*$", re.IGNORECASE)
_UNIT_DAYS = {"d": 1, "w": 7}


def parse_since(text: str | timedelta | None) -> timedelta | None:
    """`90d`, `12w` or `all` (None: no lower bound) as a window length."""
    if text is None or isinstance(text, timedelta):
        return text
    if text.strip().lower() == SINCE_ALL:
        return None
    match = _SINCE_PATTERN.match(text)
    if not match or int(match.group(1)) == 0:
        raise ReportError(
            f"--since takes a number of days or weeks such as 90d or 12w, or 'all'; got {text!r}"
        )
    return timedelta(days=int(match.group(1)) * _UNIT_DAYS[match.group(2).lower()])


def parse_as_of(text: str | datetime | None) -> str | datetime:
    """`auto`, `now`, `latest`, or a date (`2024-06-30`) or ISO time (UTC unless it says)."""
    if text is None:
        return "auto"
    if isinstance(text, datetime):
        return _utc(text)
    if text.strip().lower() in AS_OF_CHOICES:
        return text.strip().lower()
    try:
        return _utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise ReportError(
            f"--as-of takes auto, now, latest, or a date such as 2024-06-30; got {text!r}"
        ) from None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def week_start(value: datetime) -> datetime:
    """Monday 00:00 UTC of the week `value` falls in (what SQL's date_trunc('week') gives)."""
    day = _utc(value).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def sql_timestamp(value: datetime) -> str:
    """A UTC instant as a SQL literal every destination reads the same way."""
    return f"CAST('{_utc(value).isoformat()}' AS TIMESTAMPTZ)"


@dataclass(frozen=True)
class ReportWindow:
    """The instant the report is as of, and the first week its weekly charts show."""

    as_of: datetime
    since: datetime | None  # None: since the first content
    window: timedelta | None
    as_of_reason: str  # said in the report's header: why this instant

    @classmethod
    def resolve(
        cls,
        window: timedelta | None,
        as_of: str | datetime,
        newest_content: datetime | None,
        now: datetime,
    ) -> ReportWindow:
        """Pick the instant: `auto` is now, unless no content arrived within the window
        before now (a dormant account, or the simulator's fixed 2021-2023 world): then the
        newest content's time, so the charts show the last active weeks and say so."""
        instant, reason = cls._instant(window, as_of, newest_content, _utc(now))
        since = None if window is None else week_start(instant - window)
        return cls(as_of=instant, since=since, window=window, as_of_reason=reason)

    @staticmethod
    def _instant(
        window: timedelta | None,
        as_of: str | datetime,
        newest: datetime | None,
        now: datetime,
    ) -> tuple[datetime, str]:
        if isinstance(as_of, datetime):
            return as_of, "as asked (--as-of)"
        if as_of == "now" or newest is None:
            return now, "now"
        newest = _utc(newest)
        if as_of == "latest":
            return newest, "the newest content (--as-of latest)"
        reach = window or timedelta(days=90)
        if newest >= now - reach:
            return now, "now"
        return newest, (
            f"the newest content: nothing was collected in the {reach.days} days before now "
            f"({now:%Y-%m-%d}); pass --as-of now to measure from today"
        )

    def describe(self) -> str:
        start = "the first content" if self.since is None else f"{self.since:%Y-%m-%d}"
        return f"weeks from {start} to {self.as_of:%Y-%m-%d %H:%M} UTC"

    def days_before(self, days: int) -> datetime:
        return self.as_of - timedelta(days=days)
