"""Pace requests before they are sent, so that the API's per-key limit is never the one to say no.

Pixlee allows 3600 requests a minute per key, counted apart for GET and for writes. A GCRA
limiter from `pyrate-limiter` spaces requests evenly (a small burst, no window edge to pile up
on), so a run at the configured limit sees (almost) no 429s. GET and write budgets are separate
limiters.

One process paces itself in memory. Several pipelines on one key (other albums, other
schedules, other machines) must draw on one budget, or each paces to 3600/min and together they
collect 429s: `rate_limit_backend` (a SQLite file or a Redis URL, see
:mod:`pixlee.api.limiter_stores`) moves the GCRA state where all of them see it. The budget is
named after a hash of the key, never the key itself, plus the kind (`get`/`write`).
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from typing import Literal

from pyrate_limiter import GCRA, Duration, Rate, RateItem, StateBucket, StateStore

from pixlee.api.limiter_stores import describe_backend, open_state_store

logger = logging.getLogger(__name__)

DEFAULT_RATE_LIMIT_PER_MINUTE = 3600
DEFAULT_BURST = 5
_WAKE_JITTER_SECONDS = 0.002
RequestKind = Literal["get", "write"]
_KINDS: tuple[RequestKind, ...] = ("get", "write")


def budget_name(api_key: str | None, kind: RequestKind) -> str:
    """The shared budget's name: `pixlee:<sha256(key)[:16]>:<kind>`; the key never leaves."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    digest = hashlib.sha256((api_key or "").encode("utf-8")).hexdigest()[:16]
    return f"pixlee:{digest}:{kind}"


class RequestPacer:
    """Blocks the caller until one more request fits under `per_minute`.

    ``per_minute=0`` (or less) turns pacing off, which tests and benchmarks of the local path use.
    With `backend` (``sqlite:///…`` or ``redis://…``) the budget `budget_name(api_key, kind)` is
    shared by every pacer, in any process, that opens the same backend with the same key and kind.

    Why `wait` does not use `pyrate_limiter.Limiter(blocking=True)`: in pyrate-limiter 4.5 its
    sync retry loop advances the request's timestamp by the planned delay instead of reading the
    clock again, so a waiter's "now" drifts behind real time by each round's overhead. Alone that
    is harmless; with four processes on one shared budget, the drifting waiters kept losing to
    fresh callers (measured: 149 requests for one process, 0 for three). Each attempt here takes
    a fresh timestamp and sleeps the wait GCRA reports, plus a tiny jitter so that waiters woken
    for the same slot do not always race in the same order.
    """

    def __init__(
        self,
        per_minute: int,
        burst: int = DEFAULT_BURST,
        *,
        backend: str | None = None,
        kind: RequestKind = "get",
        api_key: str | None = None,
    ) -> None:
        self.per_minute = per_minute
        self.kind: RequestKind = kind
        self.backend = backend or None
        self.budget = budget_name(api_key, kind)
        self._bucket: StateBucket | None = None
        self._store: StateStore | None = None
        self._lock = threading.Lock()
        self._random = random.Random()
        if per_minute > 0:
            rate = Rate(per_minute, Duration.MINUTE, burst=max(1, min(burst, per_minute)))
            if self.backend:
                self._store = open_state_store(self.backend, self.budget)
                logger.info(
                    "pacing %s requests at %d/min shared through %s",
                    kind,
                    per_minute,
                    describe_backend(self.backend),
                )
            self._bucket = StateBucket([rate], algorithm=GCRA(), store=self._store)

    @property
    def shared(self) -> bool:
        """True when the budget lives in a backend other processes can see."""
        return self._store is not None

    def wait(self) -> None:
        """Return once a request may be sent (its slot is taken from the budget)."""
        while True:
            wait_ms = self._take_or_wait_ms()
            if wait_ms == 0:
                return
            time.sleep(wait_ms / 1000 + self._random.uniform(0, _WAKE_JITTER_SECONDS))

    def acquire_nowait(self) -> bool:
        """Take one request slot if one is free now; False (taking nothing) otherwise."""
        return self._take_or_wait_ms() == 0

    def _take_or_wait_ms(self) -> int:
        """0 when a slot was taken now, else the milliseconds until one may be free."""
        if self._bucket is None:
            return 0
        with self._lock:  # the bucket records the last decision's wait on itself
            item = RateItem(self.budget, int(self._bucket.now()))  # type: ignore[no-untyped-call]
            if self._bucket.put(item):
                return 0
            wait_ms = int(self._bucket.waiting(item))  # type: ignore[arg-type]
        if wait_ms < 0:
            raise RuntimeError(f"the {self.kind} budget can never admit one request")
        return max(1, wait_ms)

    def close(self) -> None:
        """Release the backend connection (a SQLite file handle or a Redis client)."""
        if self._store is not None:
            self._store.close()
            self._store = None
        self._bucket = None


def make_pacer(
    per_minute: int,
    kind: RequestKind = "get",
    backend: str | None = None,
    api_key: str | None = None,
    burst: int = DEFAULT_BURST,
) -> RequestPacer:
    """The pacer for one budget: in memory, or shared through `backend` when it is set."""
    return RequestPacer(per_minute, burst, backend=backend, kind=kind, api_key=api_key)
