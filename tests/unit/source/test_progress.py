"""The read progress on dlt's display: media read out of the account's size, requests, 429s, ETA."""

from __future__ import annotations

from typing import Any

from pixlee.api.retries import RequestStats
from pixlee.source.progress import MEDIA_COUNTER, REQUESTS_COUNTER, ReadProgress


class Display:
    """dlt's collector interface, recording each update."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, dict[str, Any]]] = []
        self.counts: dict[str, int] = {}
        self.totals: dict[str, int | None] = {}

    def update(self, name: str, inc: int = 1, total: Any = None, inc_total: Any = None,
               message: Any = None, label: str = "") -> None:  # fmt: skip
        self.updates.append((name, {"inc": inc, "total": total, "inc_total": inc_total,
                                    "message": message}))  # fmt: skip
        if name not in self.counts:
            self.counts[name], self.totals[name] = 0, total
        elif inc_total:
            self.totals[name] = (self.totals[name] or 0) + inc_total
        self.counts[name] += inc


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _progress(display: Display, stats: RequestStats, clock: Clock) -> ReadProgress:
    return ReadProgress(display, lambda: stats, clock=clock)  # type: ignore[arg-type]


def test_the_total_comes_from_num_photos_and_converges_as_albums_end() -> None:
    display, stats, clock = Display(), RequestStats(), Clock()
    progress = _progress(display, stats, clock)
    albums = [{"id": 1, "num_photos": 300}, {"id": 2, "num_photos": "200"}, {"id": 3}]
    progress.expect(albums, [1, 2, 3, 4])  # album 4 is not listed: it adds nothing up front
    assert display.totals[MEDIA_COUNTER] == 500

    stats.add(requests=3)
    clock.now += 10
    progress.media(1, 250)
    assert display.counts[MEDIA_COUNTER] == 250
    assert display.counts[REQUESTS_COUNTER] == 3
    assert display.updates[-2][1]["message"] == "ETA 10s"  # 250 left at 25 a second

    progress.album_done(1)  # album 1 held 250, not 300 (an incremental scan reads fewer)
    progress.media(4, 20)
    progress.album_done(4)
    assert display.totals[MEDIA_COUNTER] == 500 - 50 + 20


def test_requests_and_429s_follow_the_client() -> None:
    display, stats, clock = Display(), RequestStats(), Clock()
    progress = _progress(display, stats, clock)
    progress.expect([], [])
    stats.add(requests=5, rate_limited=2)
    progress.requests_made()
    assert display.counts[REQUESTS_COUNTER] == 5
    assert display.updates[-1][1]["message"] == "2 answered 429"


def test_without_a_listing_it_counts_without_a_total_or_eta() -> None:
    display, stats, clock = Display(), RequestStats(), Clock()
    progress = _progress(display, stats, clock)
    progress.expect([], [7])
    clock.now += 5
    progress.media(7, 40)
    assert display.totals[MEDIA_COUNTER] is None
    assert display.counts[MEDIA_COUNTER] == 40
    assert all(update["message"] is None for name, update in display.updates
               if name == MEDIA_COUNTER)  # fmt: skip
