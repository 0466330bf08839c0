"""What a run is doing, on dlt's own progress display (the running pipeline's collector).

dlt shows one counter per resource, which for this source means nothing until the end (every
resource is a transformer over one read stream). So the read stream reports what a user waits
for: media read out of the account's size, known up front because GET /albums gives each album's
`num_photos`, the requests made and the 429s, and an estimate of the time left. The total is
corrected as each album's scan ends (an incremental scan reads only the album's new content),
so the estimate converges. With `progress="log"` dlt prints it every second; with `tqdm`, a bar.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

import dlt
from dlt.common.runtime.collector import NULL_COLLECTOR
from dlt.common.runtime.collector_base import Collector

from pixlee.api.retries import RequestStats
from pixlee.api.values import to_int

MEDIA_COUNTER = "Pixlee media read"
REQUESTS_COUNTER = "Pixlee requests"


def running_collector() -> Collector:
    """The progress display of the pipeline running this code (a no-op outside a run)."""
    try:
        return dlt.current.pipeline().collector
    except Exception:
        return NULL_COLLECTOR


class ReadProgress:
    """Counts media and requests on `collector`, as the main thread sees the read events."""

    def __init__(
        self,
        collector: Collector,
        stats: Callable[[], RequestStats],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._collector = collector
        self._stats = stats
        self._clock = clock
        self._started = clock()
        self._expected: dict[int, int] = {}
        self._read: dict[int, int] = {}
        self._requests = 0
        self._total = 0

    def expect(self, albums: Iterable[Mapping[str, Any]], album_ids: Iterable[int]) -> None:
        """The run will scan `album_ids`; `albums` (GET /albums rows) tell how big each is."""
        sizes = {album.get("id"): to_int(album.get("num_photos")) for album in albums}
        for album_id in album_ids:
            size = sizes.get(album_id)
            self._expected[album_id] = size if isinstance(size, int) and size > 0 else 0
        self._total = sum(self._expected.values())
        # dlt's counters take None for "no total" (and "no message"), typed as int and str
        self._collector.update(MEDIA_COUNTER, inc=0, total=cast(int, self._total or None))
        self.requests_made()

    def media(self, album_id: int, count: int) -> None:
        """`count` items of `album_id` were read."""
        self._read[album_id] = self._read.get(album_id, 0) + count
        self._collector.update(MEDIA_COUNTER, inc=count, message=cast(str, self._eta()))
        self.requests_made()

    def album_done(self, album_id: int) -> None:
        """The album's scan ended: what it read replaces what was expected of it."""
        correction = self._read.get(album_id, 0) - self._expected.get(album_id, 0)
        self._expected[album_id] = self._read.get(album_id, 0)
        if correction and self._total:
            self._total += correction
            self._collector.update(MEDIA_COUNTER, inc=0, inc_total=correction)

    def requests_made(self) -> None:
        """Bring the request counter up to the client's (429s in its message)."""
        stats = self._stats()
        delta, self._requests = stats.requests - self._requests, stats.requests
        message = f"{stats.rate_limited} answered 429" if stats.rate_limited else None
        if delta or message:
            self._collector.update(REQUESTS_COUNTER, inc=max(0, delta), message=cast(str, message))

    def _eta(self) -> str | None:
        """Time left at the rate so far, once there is a total and a rate to go by."""
        done = sum(self._read.values())
        elapsed = self._clock() - self._started
        if not self._total or done <= 0 or elapsed <= 0:
            return None
        left = max(0.0, (self._total - done) / (done / elapsed))
        minutes, seconds = divmod(round(left), 60)
        return f"ETA {minutes}m{seconds:02d}s" if minutes else f"ETA {seconds}s"
