"""Virtual time for the client: `sleep` moves the clock instead of waiting, and is recorded.

Give both to the client (`PixleeClient(sleep=clock.sleep, clock=clock.now)`): every wait it makes
(retry backoff, a 429's pause, deadlines) is then instant and exact, and a test can read the
sleeps it asked for.
"""

from __future__ import annotations

import threading


class VirtualClock:
    """A monotonic clock that only `sleep` (or `advance`) moves; thread-safe."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
