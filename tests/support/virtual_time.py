"""Virtual time for tests: a clock that moves only when something sleeps on it."""

from __future__ import annotations

import math
import threading

from pixlee.api.throttle import AdaptiveThrottle, Pacer
from tests.support.rate_windows import RateWindow


class VirtualClock:
    """`clock()` reads the time in seconds; `clock.sleep(s)` records the sleep and moves time on.

    Shared by every thread of a test, so a sleep in one thread moves time for all: tests that
    use threads sequence them (one runs while the other sleeps) to stay deterministic.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += max(0.0, seconds)


class PacedCaller:
    """One caller that sends as fast as its throttle and pacer allow, in virtual time.

    It stands for a client with enough requests in flight to keep the pacer busy (the case at
    the ceiling). Each request is counted by `window` (a server's counter) the moment it is
    granted; a refusal is handled as the client handles a 429: the throttle hears of it, the
    caller sleeps `Retry-After` (whole seconds, at least 1) and sends the request again.
    """

    def __init__(
        self, pacer: Pacer, throttle: AdaptiveThrottle, window: RateWindow, clock: VirtualClock
    ) -> None:
        self.pacer = pacer
        self.throttle = throttle
        self.window = window
        self.clock = clock
        self.admitted: list[float] = []
        self.refused: list[float] = []
        self.active_seconds = 0.0

    def send_for(self, seconds: float) -> None:
        started = self.clock()
        end = started + seconds
        while self.clock() < end:
            self.throttle.wait(self.pacer)
            now = self.clock()
            retry_after = self.window.admit(now)
            if retry_after is None:
                self.admitted.append(now)
                continue
            self.refused.append(now)
            pause = float(max(1, math.ceil(retry_after)))
            self.throttle.rate_limited(pause)
            self.clock.sleep(pause)
        self.active_seconds += self.clock() - started

    def idle_for(self, seconds: float) -> None:
        self.clock.sleep(seconds)

    def share_of(self, limit_per_minute: int) -> float:
        """Admitted requests ÷ what the limit allows over the time spent sending."""
        return len(self.admitted) / (self.active_seconds * limit_per_minute / 60)
