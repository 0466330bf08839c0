"""Pace requests before they are sent, so that the API's per-key limit is never the one to say no.

Pixlee allows 3600 requests a minute per key, counted apart for GET and for writes. A GCRA
limiter from `pyrate-limiter` spaces requests evenly (a small burst, no window edge to pile up
on), so a run at the configured limit sees (almost) no 429s. GET and write budgets are separate
limiters.
"""

from __future__ import annotations

from pyrate_limiter import GCRA, Duration, Limiter, Rate, StateBucket

DEFAULT_RATE_LIMIT_PER_MINUTE = 3600


class RequestPacer:
    """Blocks the caller until one more request fits under `per_minute`.

    ``per_minute=0`` (or less) turns pacing off, which tests and benchmarks of the local path use.
    """

    def __init__(self, per_minute: int, burst: int = 5) -> None:
        self.per_minute = per_minute
        self._limiter: Limiter | None = None
        if per_minute > 0:
            rate = Rate(per_minute, Duration.MINUTE, burst=max(1, min(burst, per_minute)))
            self._limiter = Limiter(StateBucket([rate], algorithm=GCRA()), buffer_ms=1)

    def wait(self) -> None:
        """Return once a request may be sent."""
        if self._limiter is not None:
            self._limiter.try_acquire("pixlee", blocking=True)
