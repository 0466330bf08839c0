"""Adaptive slow-down on top of the configured pacer, for a key whose budget others share.

`RequestPacer` spaces requests to the configured limit, which is right when this process is the
key's only consumer. When another consumer eats part of the budget, Pixlee answers 429 and
pacing at the configured rate would keep colliding. So, as TCP does with congestion: each 429
halves an effective fraction of the configured rate (at most once per `cooldown`, since the
requests already in flight all meet the same full budget), the fraction recovers additively
with time, and a `Retry-After` pauses every thread of the process, not only the one that got it.
The pacer itself is not changed: it may be shared with other processes (`limiter_backends`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)

MIN_FRACTION = 1 / 64
RECOVERY_PER_SECOND = 0.02  # from half to full rate in 25 s
COOLDOWN_SECONDS = 1.0


class Pacer(Protocol):
    """What the throttle needs of a pacer (`pixlee.api.pacing.RequestPacer` fits)."""

    per_minute: int

    def wait(self) -> None: ...


class AdaptiveThrottle:
    """Multiplicative decrease on 429, additive recovery, a shared pause for `Retry-After`."""

    def __init__(
        self,
        *,
        min_fraction: float = MIN_FRACTION,
        recovery_per_second: float = RECOVERY_PER_SECOND,
        cooldown_seconds: float = COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.min_fraction = min_fraction
        self.recovery_per_second = recovery_per_second
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._fraction = 1.0
        self._updated = clock()
        self._last_decrease = float("-inf")
        self._pause_until = 0.0
        self._next_slot = 0.0
        self.decreases = 0

    @property
    def fraction(self) -> float:
        """The share of the configured rate currently used (1.0 when no 429 was seen lately)."""
        with self._lock:
            return self._recover(self._clock())

    def wait(self, pacer: Pacer) -> None:
        """Hold the caller for any pause and the reduced rate, then take the pacer's slot."""
        while True:
            with self._lock:
                now = self._clock()
                delay = self._pause_until - now
                reserved = False
                if delay <= 0:
                    fraction = self._recover(now)
                    if fraction >= 1.0 or pacer.per_minute <= 0:
                        break
                    slot = max(now, self._next_slot)
                    self._next_slot = slot + 60.0 / (pacer.per_minute * fraction)
                    delay, reserved = slot - now, True
            if delay > 0:
                self._sleep(delay)
            if reserved:
                break
        pacer.wait()

    def rate_limited(self, retry_after: float | None) -> None:
        """A 429 came back: slow down, and pause everyone for `retry_after` seconds if given."""
        with self._lock:
            now = self._clock()
            fraction = self._recover(now)
            if now - self._last_decrease >= self.cooldown_seconds:
                self._fraction = max(self.min_fraction, fraction / 2)
                self._last_decrease = now
                self.decreases += 1
                logger.info(
                    "HTTP 429: pacing reads at %.0f%% of the configured rate (another consumer "
                    "may share the key); recovering gradually",
                    self._fraction * 100,
                )
            if retry_after:
                self._pause_until = max(self._pause_until, now + retry_after)

    def _recover(self, now: float) -> float:
        """Additive recovery since the last look; the caller holds the lock."""
        if self._fraction < 1.0:
            self._fraction = min(
                1.0, self._fraction + (now - self._updated) * self.recovery_per_second
            )
        self._updated = now
        return self._fraction
