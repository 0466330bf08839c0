"""Three ways a server may count a per-minute limit, written apart from the client's pacer.

We do not know how Pixlee counts its 3600 requests a minute, so the pacer is tested against
each plausible counter. They share nothing with `pixlee.api.pacing` (a bug in a shared helper
would pass every test) and use plain floats of seconds from whatever clock the caller reads:

* `SlidingWindow`: a log of admitted requests; every interval (t - W, t] holds at most `limit`.
  The strictest reading of "per minute".
* `FixedWindow`: a counter that resets at each multiple of W (plus `phase`): on the minute.
* `TokenBucket`: `capacity` tokens refilling continuously at limit / W a second, full at start.

`admit(now)` counts the request and returns None, or refuses it (counting nothing) and returns
the seconds until a request could be admitted, which the servers send as `Retry-After`.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_right
from collections import deque
from collections.abc import Sequence
from typing import Protocol

WINDOW_KINDS = ("sliding", "fixed", "token_bucket")


class RateWindow(Protocol):
    limit: int
    window_seconds: float

    def admit(self, now: float) -> float | None: ...


class SlidingWindow:
    def __init__(self, limit: int, window_seconds: float = 60.0) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._log: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self, now: float) -> float | None:
        with self._lock:
            while self._log and self._log[0] <= now - self.window_seconds:
                self._log.popleft()
            if len(self._log) < self.limit:
                self._log.append(now)
                return None
            return self._log[len(self._log) - self.limit] + self.window_seconds - now


class FixedWindow:
    def __init__(self, limit: int, window_seconds: float = 60.0, phase: float = 0.0) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.phase = phase
        self._window = -math.inf
        self._count = 0
        self._lock = threading.Lock()

    def admit(self, now: float) -> float | None:
        with self._lock:
            window = math.floor((now - self.phase) / self.window_seconds)
            if window != self._window:
                self._window, self._count = window, 0
            if self._count < self.limit:
                self._count += 1
                return None
            return (window + 1) * self.window_seconds + self.phase - now


class TokenBucket:
    def __init__(self, limit: int, window_seconds: float = 60.0, capacity: int = 10) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.capacity = capacity
        self._per_second = limit / window_seconds
        self._tokens = float(capacity)
        self._updated: float | None = None
        self._lock = threading.Lock()

    def admit(self, now: float) -> float | None:
        with self._lock:
            if self._updated is not None:
                elapsed = max(0.0, now - self._updated)
                self._tokens = min(self.capacity, self._tokens + elapsed * self._per_second)
            self._updated = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            return (1.0 - self._tokens) / self._per_second


def make_window(
    kind: str, limit: int, window_seconds: float = 60.0, *, capacity: int | None = None
) -> RateWindow:
    """`kind` is one of WINDOW_KINDS; a token bucket holds `capacity` (default: 1 s of rate)."""
    if kind == "sliding":
        return SlidingWindow(limit, window_seconds)
    if kind == "fixed":
        return FixedWindow(limit, window_seconds)
    if kind == "token_bucket":
        default = max(1, round(limit / window_seconds))
        return TokenBucket(limit, window_seconds, capacity if capacity is not None else default)
    raise ValueError(f"window kind must be one of {WINDOW_KINDS}, got {kind!r}")


def most_in_any_window(times: Sequence[float], window_seconds: float) -> int:
    """The largest number of `times` inside one interval (t - window, t], wherever t is."""
    ordered = sorted(times)
    most = 0
    for right, t in enumerate(ordered):
        left = bisect_right(ordered, t - window_seconds)
        most = max(most, right - left + 1)
    return most
