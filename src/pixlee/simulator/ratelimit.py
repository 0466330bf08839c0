"""Per-key request budgets over a sliding 60-second window, reads and writes counted apart.

The documented budget is 3600 requests per minute per API key, with GET and non-GET requests
counted separately. A sliding log is exact (no burst of 2x the limit at a window boundary),
which is the strictest plausible reading; ``Retry-After`` is the whole seconds until the
oldest counted request leaves the window.
"""

from __future__ import annotations

import math
import threading
from collections import deque

from .config import Clock

WINDOW_SECONDS = 60.0


class RateLimiter:
    """``check(key, kind)`` returns None when allowed, else the seconds to wait."""

    def __init__(self, clock: Clock, get_per_minute: int, write_per_minute: int) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limits = {"get": get_per_minute, "write": write_per_minute}
        self._log: dict[tuple[str, str], deque[float]] = {}

    def configure(self, get_per_minute: int | None, write_per_minute: int | None) -> None:
        with self._lock:
            if get_per_minute is not None:
                self._limits["get"] = get_per_minute
            if write_per_minute is not None:
                self._limits["write"] = write_per_minute

    def limits(self) -> dict[str, int]:
        with self._lock:
            return dict(self._limits)

    def check(self, key: str, kind: str) -> float | None:
        """Count the request if it fits the budget; else return seconds until it would."""
        now = self._clock()
        with self._lock:
            log = self._log.setdefault((key, kind), deque())
            horizon = now - WINDOW_SECONDS
            while log and log[0] <= horizon:
                log.popleft()
            limit = self._limits[kind]
            if len(log) < limit:
                log.append(now)
                return None
            oldest = log[len(log) - limit] if limit > 0 else now
            return max(oldest + WINDOW_SECONDS - now, 0.0)

    @staticmethod
    def retry_after_header(wait_seconds: float) -> str:
        return str(max(1, math.ceil(wait_seconds)))

    def reset(self) -> None:
        with self._lock:
            self._log.clear()
