"""Slow down in proportion to the 429s a key draws, and pause every thread for a `Retry-After`.

`RequestPacer` keeps this process under the configured limit, so a 429 means the server counts
something the pacer cannot see: another consumer of the key, a run that ended seconds ago, or a
limit lower than configured. The throttle answers in three parts:

* **A pause for everyone.** `Retry-After` is the server's demand on the key, not on one thread:
  every thread of the process waits it out, including threads already granted a slot (they
  take a fresh one afterwards, so the pause does not end in a clump).
* **A cut in proportion.** Each 429 removes its own share of the requests sent in the last
  second (at most 1/20 of the rate): a 429 among 60 requests costs 1/60, forty of them cost
  half. The rate falls by what the server refused, not by a fixed half.
* **Hold, then recover.** A window counter needs a whole window (a minute) to show the lower
  rate, so the rate holds for `hold_seconds` after the last 429 and then recovers additively.
  A consumer that keeps sharing the key thus costs about one 429 a minute, not one a second.

The pacer itself is not changed: it may be shared with other processes (`limiter_stores`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)

MIN_FRACTION = 1 / 64
RECOVERY_PER_SECOND = 0.01  # from 90% back to full in 10 s, once the hold is over
HOLD_SECONDS = 60.0  # one window of a per-minute limit
CUT_HORIZON_SECONDS = 1.0  # a 429 is weighed against the requests of the last second …
MIN_CUT_SAMPLE = 20  # … counting at least this many, so one 429 never costs more than 5%


class Pacer(Protocol):
    """What the throttle needs of a pacer (`pixlee.api.pacing.RequestPacer` fits)."""

    @property
    def paced_per_minute(self) -> int: ...

    def wait(self) -> None: ...


class AdaptiveThrottle:
    """Proportional decrease on 429, hold and additive recovery, a shared `Retry-After` pause."""

    def __init__(
        self,
        *,
        min_fraction: float = MIN_FRACTION,
        recovery_per_second: float = RECOVERY_PER_SECOND,
        hold_seconds: float = HOLD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.min_fraction = min_fraction
        self.recovery_per_second = recovery_per_second
        self.hold_seconds = hold_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._fraction = 1.0
        self._updated = clock()
        self._last_429 = float("-inf")
        self._pause_until = float("-inf")
        self._pause_epoch = 0  # +1 each time a 429 extends the pause
        self._next_slot = float("-inf")
        self._sent: deque[float] = deque()

    @property
    def fraction(self) -> float:
        """The share of the pacer's rate currently used (1.0 when no 429 was seen lately)."""
        with self._lock:
            return self._recover(self._clock())

    def wait(self, pacer: Pacer) -> None:
        """Hold the caller for any pause and the reduced rate, then take the pacer's slot.

        If a 429 starts a new pause while the caller waits for its slot, the slot is given up
        and the caller waits out the pause and takes a fresh one: everyone honours the pause.
        """
        while True:
            with self._lock:
                epoch = self._pause_epoch
                pause = self._pause_until - self._clock()
            if pause > 0:
                self._sleep(pause)
            self._hold_for_reduced_rate(pacer)
            pacer.wait()
            with self._lock:
                if self._pause_epoch == epoch:
                    now = self._clock()
                    self._sent.append(now)
                    self._sent_since(now - CUT_HORIZON_SECONDS)  # keeps the record short
                    return

    def rate_limited(self, retry_after: float | None) -> None:
        """A 429 came back: cut the rate by its share, pause everyone for `retry_after` if given."""
        with self._lock:
            now = self._clock()
            fraction = self._recover(now)
            share = 1 / max(MIN_CUT_SAMPLE, self._sent_since(now - CUT_HORIZON_SECONDS))
            self._fraction = max(self.min_fraction, fraction * (1 - share))
            self._last_429 = now
            if retry_after and now + retry_after > self._pause_until:
                self._pause_until = now + retry_after
                self._pause_epoch += 1
            cut_to = self._fraction
        logger.info(
            "HTTP 429: pacing reads at %.1f%% of the configured rate for the next %.0f s "
            "(another consumer may share the key), then recovering",
            cut_to * 100,
            self.hold_seconds,
        )

    def _hold_for_reduced_rate(self, pacer: Pacer) -> None:
        """Below full rate, space callers evenly at the reduced rate (before the pacer)."""
        with self._lock:
            now = self._clock()
            fraction = self._recover(now)
            rate = pacer.paced_per_minute * fraction
            if fraction >= 1.0 or rate <= 0:
                return
            slot = max(now, self._next_slot)
            self._next_slot = slot + 60.0 / rate
        if slot > now:
            self._sleep(slot - now)

    def _sent_since(self, since: float) -> int:
        """Requests sent after `since` (the caller holds the lock); older ones are forgotten."""
        while self._sent and self._sent[0] <= since:
            self._sent.popleft()
        return len(self._sent)

    def _recover(self, now: float) -> float:
        """Additive recovery once the hold is over; the caller holds the lock."""
        if self._fraction < 1.0:
            since = max(self._updated, self._last_429 + self.hold_seconds)
            if now > since:
                self._fraction = min(1.0, self._fraction + (now - since) * self.recovery_per_second)
        self._updated = now
        return self._fraction
