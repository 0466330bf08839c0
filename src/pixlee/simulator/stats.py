"""What the simulator saw: request counts by route and status, 429s, peak concurrency, a log.

Tests assert exact call counts against these (a client that re-reads a page or forgets to
back off shows up here), and benchmarks read the peak concurrency to prove a client really
ran requests in parallel.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

MAX_RECORDS = 200_000


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as served; the ``api_key`` query value is masked as ``***``."""

    method: str
    path: str
    route: str
    query: dict[str, str]
    status: int
    fault: str | None
    cache: str | None


class Stats:
    """Thread-safe counters; written by the server thread, read by tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._records: deque[RequestRecord] = deque(maxlen=MAX_RECORDS)
        self._rate_limited = 0
        self._in_flight = 0
        self._max_concurrent = 0
        # wall-clock arrival of the first and the last request: benchmarks tell a client's
        # request pace from its start-up and wind-down with them
        self._first_at: float | None = None
        self._last_at: float | None = None

    def enter(self) -> None:
        """A request started (called before any latency, so overlap is measured)."""
        with self._lock:
            now = time.time()
            self._first_at = self._first_at or now
            self._last_at = now
            self._in_flight += 1
            self._max_concurrent = max(self._max_concurrent, self._in_flight)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._counts[(record.method, record.route, record.status)] += 1
            if record.status == 429:
                self._rate_limited += 1
            self._records.append(record)

    def count(
        self, method: str | None = None, route: str | None = None, status: int | None = None
    ) -> int:
        """Requests matching every given criterion."""
        with self._lock:
            return sum(
                n
                for (m, r, s), n in self._counts.items()
                if (method is None or m == method)
                and (route is None or r == route)
                and (status is None or s == status)
            )

    def by_route_status(self) -> dict[tuple[str, str, int], int]:
        with self._lock:
            return dict(self._counts)

    @property
    def rate_limited(self) -> int:
        with self._lock:
            return self._rate_limited

    @property
    def max_concurrent(self) -> int:
        with self._lock:
            return self._max_concurrent

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def reset(self) -> None:
        """Forget everything (peak concurrency restarts from the requests in flight now)."""
        with self._lock:
            self._counts.clear()
            self._records.clear()
            self._rate_limited = 0
            self._max_concurrent = self._in_flight
            self._first_at = self._last_at = None

    def snapshot(self) -> dict[str, object]:
        """A JSON-able summary for the control plane."""
        with self._lock:
            return {
                "by_route_status": [
                    {"method": m, "route": r, "status": s, "count": n}
                    for (m, r, s), n in sorted(self._counts.items())
                ],
                "total": sum(self._counts.values()),
                "rate_limited": self._rate_limited,
                "max_concurrent": self._max_concurrent,
                "in_flight": self._in_flight,
                "first_request_at": self._first_at,
                "last_request_at": self._last_at,
            }
