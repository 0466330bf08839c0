"""Retries as predicates on a response's classification, waits through one injected `sleep`.

The loop is `tenacity`'s (as dlt's own requests helper uses); what is retried is decided from
the :class:`pixlee.api.responses.Resolution` alone (`may_retry_read`, `may_retry_write`), like
Airbyte's error handlers returning an `ErrorResolution`. The wait is the server's usable
`Retry-After` (capped, with a warning) or equal-jitter exponential backoff. Retrying stops when
the attempts run out or when the next wait would end past the run's deadline. Waits are counted
where they happen (`before_sleep`), so `waited_on_429_seconds` never counts a wait that was not
taken.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import RetryCallState, Retrying, retry_if_result

from pixlee.api.config import RetryPolicy
from pixlee.api.errors import PixleeDeadlineExceeded
from pixlee.api.redaction import redacting_logger
from pixlee.api.responses import Action, Resolution

logger = redacting_logger(__name__)


@dataclass
class RequestStats:
    """What the client did, for run summaries and tests (thread-safe counters).

    `not_found` lists what answered 404 and was skipped (extra endpoints, albums, SKUs), so the
    run summary can show it.
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_on_429_seconds: float = 0.0
    not_found: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


class RetryLoop:
    """Runs one attempt until its resolution is final, waiting between attempts."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None],
        stats: Callable[[], RequestStats],
        run_time_left: Callable[[], float | None],
        run_deadline_seconds: float | None = None,
    ) -> None:
        self.policy = policy
        self.run_deadline_seconds = run_deadline_seconds
        self._sleep = sleep
        self._stats = stats
        self._run_time_left = run_time_left
        self._random = random.Random()

    def run(
        self, attempt: Callable[[], Resolution], may_retry: Callable[[Resolution], bool]
    ) -> Resolution:
        """The first resolution `may_retry` refuses, or the last one when retrying stops."""
        retrying = Retrying(
            retry=retry_if_result(may_retry),
            stop=self._stop,
            wait=self._backoff,
            before_sleep=self._before_sleep,
            sleep=self._sleep,
            retry_error_callback=self._give_up,
        )
        return retrying(attempt)  # type: ignore[no-any-return]

    def _backoff(self, state: RetryCallState) -> float:
        """`Retry-After` when Pixlee gave a usable one (capped), else equal-jitter backoff."""
        resolution = _outcome(state)
        retry_after = resolution.retry_after if resolution is not None else None
        if retry_after is not None:
            cap = self.policy.max_retry_after_seconds
            if retry_after > cap:
                logger.warning(
                    "Pixlee asked to wait %.0fs (Retry-After); waiting the configured maximum "
                    "%.0fs instead",
                    retry_after,
                    cap,
                )
            return min(retry_after, cap)
        attempt = state.attempt_number
        ceiling = min(
            self.policy.max_backoff_seconds, self.policy.backoff_seconds * 2.0 ** (attempt - 1)
        )
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)  # "equal jitter"

    def _stop(self, state: RetryCallState) -> bool:
        """Out of attempts, or the next wait would end past the run's deadline."""
        if state.attempt_number >= self.policy.max_attempts:
            return True
        left = self._run_time_left()
        return left is not None and state.upcoming_sleep >= left

    def _before_sleep(self, state: RetryCallState) -> None:
        """Runs only when the wait will happen: the one place waits are counted."""
        resolution = _outcome(state)
        wait = state.upcoming_sleep
        stats = self._stats()
        stats.add(retries=1)
        if resolution is not None and resolution.action is Action.RATE_LIMITED:
            stats.add(rate_limited=1, waited_on_429_seconds=wait)
        message = resolution.message if resolution is not None else "?"
        logger.info("retrying in %.2fs after attempt %d: %s", wait, state.attempt_number, message)

    def _give_up(self, state: RetryCallState) -> Resolution:
        resolution = _outcome(state)
        assert resolution is not None  # only called after a result was judged retryable
        if resolution.action is Action.RATE_LIMITED:
            self._stats().add(rate_limited=1)
        if state.attempt_number < self.policy.max_attempts:  # stopped by the run's deadline
            raise PixleeDeadlineExceeded(
                f"{resolution.what}: the run deadline of {self.run_deadline_seconds or 0:g}s "
                "(run_deadline_seconds) would pass before the next attempt; last failure: "
                f"{resolution.message}"
            )
        return resolution


def _outcome(state: RetryCallState) -> Resolution | None:
    if state.outcome is None or state.outcome.failed:
        return None
    result = state.outcome.result()
    return result if isinstance(result, Resolution) else None


def may_retry_read(resolution: Resolution) -> bool:
    return resolution.retryable


def may_retry_write(resolution: Resolution, idempotent: bool) -> bool:
    if resolution.action is Action.RATE_LIMITED:
        return True
    return resolution.action is Action.RETRY and (idempotent or not resolution.reached_server)
