"""Pace requests before they are sent, so that the API's per-key limit is never the one to say no.

Pixlee allows 3600 requests a minute per key, counted apart for GET and for writes, and does not
say how it counts. The pacer is built to be safe under the strictest plausible counter:

* a sliding 60-second window (every 60 s interval, wherever it starts, holds at most the limit),
* a fixed window that resets on the minute (weaker than the sliding one: any interval is),
* a token bucket that refills continuously (strict about bursts, not about minutes).

A GCRA limiter from `pyrate-limiter` (a token bucket kept as one timestamp) admits at most
``burst + rate x D`` requests in any interval of ``D`` seconds, at start, after a pause, anywhere.
So the pacer runs GCRA at ``rate = ceiling - burst`` where ``ceiling = limit x (1 - margin)``:
no 60-second window ever holds more than the ceiling, and a token bucket of at least `burst`
tokens never runs dry. The margin is for what happens between the pacer and the server's
counter: threads that send a granted request late, a network that delivers requests in clumps.
At the default 2% that is about one second of clumping at 1,200 or 3,600/min, while the
sustained rate stays above 97.5% of the limit (measured in `bench/throughput.py`).

One process paces itself in memory. Several pipelines on one key (other albums, other
schedules, other machines) must draw on one budget, or each paces to 3600/min and together they
collect 429s: `rate_limit_backend` (a SQLite file or a Redis URL, see
:mod:`pixlee.api.limiter_stores`) moves the GCRA state where all of them see it. The budget is
named after a hash of the key, never the key itself, plus the kind (`get`/`write`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pyrate_limiter import GCRA, AbstractClock, Duration, Rate, RateItem, StateBucket, StateStore

from pixlee.api.limiter_stores import describe_backend, open_state_store

logger = logging.getLogger(__name__)

DEFAULT_RATE_LIMIT_PER_MINUTE = 3600
DEFAULT_SAFETY_MARGIN = 0.02
DEFAULT_BURST = 5
# the default burst never takes more than this share of a minute's requests (low limits)
_MAX_BURST_SHARE = 1 / 20
_WAKE_JITTER_SECONDS = 0.002
RequestKind = Literal["get", "write"]
_KINDS: tuple[RequestKind, ...] = ("get", "write")

Clock = Callable[[], float]
Sleep = Callable[[float], None]


def budget_name(api_key: str | None, kind: RequestKind) -> str:
    """The shared budget's name: `pixlee:<sha256(key)[:16]>:<kind>`; the key never leaves."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    digest = hashlib.sha256((api_key or "").encode("utf-8")).hexdigest()[:16]
    return f"pixlee:{digest}:{kind}"


@dataclass(frozen=True)
class PacingPlan:
    """The arithmetic of one budget: what the pacer may admit for a configured limit.

    `ceiling_per_minute` is the most the pacer lets into any 60-second interval; `per_minute`
    is the sustained GCRA rate and `burst` its tolerance, so ``per_minute + burst`` equals the
    ceiling. Over a long run the pacer reaches ``per_minute / limit_per_minute`` of the limit.
    """

    limit_per_minute: int
    safety_margin: float
    burst: int
    per_minute: int

    @property
    def ceiling_per_minute(self) -> int:
        return self.per_minute + self.burst


def plan_pacing(
    limit_per_minute: int,
    safety_margin: float = DEFAULT_SAFETY_MARGIN,
    burst: int | None = None,
) -> PacingPlan:
    """Split `limit_per_minute` into a sustained rate and a burst that fit under the margin.

    `burst` (default: 5, at most 1/20 of the ceiling, at least 1) lets a thread that wakes a
    little late still take its slot; it comes out of the rate, never on top of the ceiling.
    """
    if not 0 <= safety_margin < 1:
        raise ValueError(f"safety_margin must be at least 0 and below 1, got {safety_margin!r}")
    ceiling = math.floor(limit_per_minute * (1 - safety_margin) + 1e-9)
    if burst is None:
        burst = min(DEFAULT_BURST, max(1, int(ceiling * _MAX_BURST_SHARE)))
    if burst < 1:
        raise ValueError(f"burst must be at least 1, got {burst}")
    if ceiling - burst < 1:
        raise ValueError(
            f"a limit of {limit_per_minute}/min with a {safety_margin:.0%} safety margin leaves "
            f"no room for a burst of {burst}: raise the limit, or lower the margin or burst"
        )
    return PacingPlan(limit_per_minute, safety_margin, burst, ceiling - burst)


class _InjectedClock(AbstractClock):
    """pyrate-limiter's clock interface over a `() -> seconds` function (e.g. virtual time).

    With `on_wall_time`, readings are moved onto the wall clock (the offset is taken once), so a
    monotonic or virtual clock can time a budget that other processes share in wall-clock time.
    """

    def __init__(self, clock: Clock, *, on_wall_time: bool) -> None:
        self._clock = clock
        self._offset = time.time() - clock() if on_wall_time else 0.0

    def now(self) -> int:
        return int((self._clock() + self._offset) * 1000)


class RequestPacer:
    """Blocks the caller until one more request fits under `per_minute` (the key's limit).

    ``per_minute=0`` (or less) turns pacing off, which tests and benchmarks of the local path use.
    With `backend` (``sqlite:///…`` or ``redis://…``) the budget `budget_name(api_key, kind)` is
    shared by every pacer, in any process, that opens the same backend with the same key and kind;
    they should share the limit, margin and burst too (the defaults do).

    Every wait goes through `sleep`, every reading of time through `clock` (seconds, any origin:
    `time.monotonic` or a test's virtual clock), so tests run in virtual time. A shared budget
    is kept in wall-clock time (its state outlives processes and machines): there `clock`'s
    readings are moved onto the wall clock once, at start. Without `clock`, the store's own.

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
        burst: int | None = None,
        *,
        backend: str | None = None,
        kind: RequestKind = "get",
        api_key: str | None = None,
        safety_margin: float = DEFAULT_SAFETY_MARGIN,
        clock: Clock | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.per_minute = per_minute
        self.kind: RequestKind = kind
        self.backend = backend or None
        self.budget = budget_name(api_key, kind)
        self.plan: PacingPlan | None = None
        self._bucket: StateBucket | None = None
        self._store: StateStore | None = None
        self._sleep = sleep
        self._lock = threading.Lock()
        self._random = random.Random()
        if per_minute > 0:
            self.plan = plan_pacing(per_minute, safety_margin, burst)
            self._bucket = self._open_bucket(self.plan, clock)

    def _open_bucket(self, plan: PacingPlan, clock: Clock | None) -> StateBucket:
        rate = Rate(plan.per_minute, Duration.MINUTE, burst=plan.burst)
        if self.backend:
            self._store = open_state_store(self.backend, self.budget)
            logger.info(
                "pacing %s requests at %d/min (limit %d/min, %.0f%% margin, burst %d) shared "
                "through %s",
                self.kind,
                plan.per_minute,
                plan.limit_per_minute,
                plan.safety_margin * 100,
                plan.burst,
                describe_backend(self.backend),
            )
        injected = None
        if clock is not None:
            injected = _InjectedClock(clock, on_wall_time=self._store is not None)
        return StateBucket([rate], algorithm=GCRA(), store=self._store, clock=injected)

    @property
    def paced_per_minute(self) -> int:
        """The sustained rate the pacer admits (0 when pacing is off)."""
        return self.plan.per_minute if self.plan else 0

    @property
    def shared(self) -> bool:
        """True when the budget lives in a backend other processes can see."""
        return self._store is not None

    def wait(self) -> None:
        """Return once a request may be sent (its slot is taken from the budget)."""
        while (wait_ms := self._take_or_wait_ms()) > 0:
            self._sleep(wait_ms / 1000 + self._random.uniform(0, _WAKE_JITTER_SECONDS))

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
    burst: int | None = None,
    *,
    safety_margin: float = DEFAULT_SAFETY_MARGIN,
    clock: Clock | None = None,
    sleep: Sleep = time.sleep,
) -> RequestPacer:
    """The pacer for one budget: in memory, or shared through `backend` when it is set."""
    return RequestPacer(
        per_minute,
        burst,
        backend=backend,
        kind=kind,
        api_key=api_key,
        safety_margin=safety_margin,
        clock=clock,
        sleep=sleep,
    )
