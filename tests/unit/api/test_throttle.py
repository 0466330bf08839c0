"""The 429 side of pacing, in virtual time: a cut in proportion, a hold, a recovery, and a
`Retry-After` that pauses every thread of the process (not only the one that got the 429)."""

from __future__ import annotations

import threading

import pytest

from pixlee.api.client import PixleeClient
from pixlee.api.pacing import RequestPacer
from pixlee.api.throttle import HOLD_SECONDS, AdaptiveThrottle
from tests.support.rate_limited_server import Catalogue, rate_limited_server
from tests.support.rate_windows import WINDOW_KINDS, RateWindow, make_window, most_in_any_window
from tests.support.virtual_time import PacedCaller, VirtualClock

WINDOW = 60.0


class _Pacer:
    """A pacer that admits at once and counts its callers (the throttle's own effect alone)."""

    paced_per_minute = 600  # one request per 0.1 s

    def __init__(self) -> None:
        self.calls = 0

    def wait(self) -> None:
        self.calls += 1


def _sent(throttle: AdaptiveThrottle, pacer: _Pacer, count: int, clock: VirtualClock) -> None:
    """`count` requests evenly spread over the last second."""
    for _ in range(count):
        throttle.wait(pacer)
        clock.sleep(1 / count)


def test_each_429_cuts_its_share_of_the_last_seconds_requests_not_half() -> None:
    clock = VirtualClock()
    throttle = AdaptiveThrottle(clock=clock, sleep=clock.sleep)
    _sent(throttle, _Pacer(), 60, clock)
    throttle.rate_limited(None)
    assert throttle.fraction == pytest.approx(1 - 1 / 60)
    for _ in range(19):
        throttle.rate_limited(None)  # twenty refused out of sixty: a third less, in proportion
    assert throttle.fraction == pytest.approx((1 - 1 / 60) ** 20)
    assert 0.7 < throttle.fraction < 0.72


def test_a_429_among_few_requests_costs_at_most_a_twentieth() -> None:
    clock = VirtualClock()
    throttle = AdaptiveThrottle(clock=clock, sleep=clock.sleep)
    throttle.rate_limited(None)
    assert throttle.fraction == pytest.approx(0.95)


def test_the_cut_holds_for_a_window_then_recovers_additively() -> None:
    clock = VirtualClock()
    throttle = AdaptiveThrottle(clock=clock, sleep=clock.sleep, recovery_per_second=0.01)
    throttle.rate_limited(None)
    clock.sleep(HOLD_SECONDS - 1)
    assert throttle.fraction == pytest.approx(0.95)
    clock.sleep(3)  # two seconds past the hold: +2%
    assert throttle.fraction == pytest.approx(0.97)
    clock.sleep(10)
    assert throttle.fraction == 1.0


def test_below_full_rate_callers_are_spaced_at_the_reduced_rate() -> None:
    clock = VirtualClock()
    throttle = AdaptiveThrottle(clock=clock, sleep=clock.sleep, min_fraction=0.5)
    pacer = _Pacer()
    for _ in range(14):
        throttle.rate_limited(None)  # 0.95 ** 14 < 0.5: held at the floor
    assert throttle.fraction == 0.5
    start = clock()
    for _ in range(11):
        throttle.wait(pacer)
    assert clock() - start == pytest.approx(10 * 0.2)  # 300/min: one per 0.2 s
    assert pacer.calls == 11


@pytest.mark.timeout(10)
def test_retry_after_pauses_a_caller_that_arrives_later() -> None:
    clock = VirtualClock()
    throttle = AdaptiveThrottle(clock=clock, sleep=clock.sleep)
    throttle.rate_limited(3.0)
    throttle.wait(_Pacer())
    assert clock.slept == [pytest.approx(3.0)]


@pytest.mark.timeout(10)
def test_retry_after_pauses_a_thread_already_waiting_for_its_slot() -> None:
    """Thread B holds a slot when thread A's 429 arrives: B gives it up, waits, takes another."""
    clock = VirtualClock()
    throttle = AdaptiveThrottle(clock=clock, sleep=clock.sleep)
    in_pacer, may_leave = threading.Event(), threading.Event()

    class BlockingPacer(_Pacer):
        def wait(self) -> None:
            super().wait()
            if self.calls == 1:
                in_pacer.set()
                assert may_leave.wait(5)

    pacer = BlockingPacer()
    waiter = threading.Thread(target=throttle.wait, args=(pacer,))
    waiter.start()
    assert in_pacer.wait(5)
    throttle.rate_limited(30.0)  # thread A's 429
    may_leave.set()
    waiter.join(5)
    assert not waiter.is_alive()
    assert pacer.calls == 2
    assert clock.slept == [pytest.approx(30.0)]


# --- long runs against each window kind --------------------------------------------------------


def _caller(limit: int, window: RateWindow, clock: VirtualClock) -> PacedCaller:
    pacer = RequestPacer(limit, clock=clock, sleep=clock.sleep)
    return PacedCaller(pacer, AdaptiveThrottle(clock=clock, sleep=clock.sleep), window, clock)


class _SharedWindow:
    """`window`, with another consumer sending `per_minute` evenly from `start` to `end`."""

    def __init__(self, window: RateWindow, per_minute: int, start: float, end: float) -> None:
        self.limit, self.window_seconds = window.limit, window.window_seconds
        self._window = window
        self._next = start
        self._end = end
        self._interval = 60 / per_minute
        self.admitted: list[float] = []

    def admit(self, now: float) -> float | None:
        while self._next <= min(now, self._end):
            if self._window.admit(self._next) is None:  # the other's refused requests are lost
                self.admitted.append(self._next)
            self._next += self._interval
        return self._window.admit(now)


@pytest.mark.parametrize("kind", WINDOW_KINDS)
def test_another_consumers_burst_costs_a_few_429s_and_under_5_percent(kind: str) -> None:
    """Someone else spends the key at 1,200/min for 2 s, mid-run: the run still reaches 95%.

    (One second of it would not even draw a 429 from a window: the margin absorbs 20 requests.)
    """
    clock = VirtualClock()
    start = clock()
    window = _SharedWindow(
        make_window(kind, 1200, WINDOW, capacity=5), 1200, start + 150, start + 152
    )
    caller = _caller(1200, window, clock)
    caller.send_for(300)
    assert 1 <= len(caller.refused) <= 3
    if kind == "sliding":  # the other kinds' counters allow more in some 60 s intervals
        assert most_in_any_window(caller.admitted + window.admitted, WINDOW) <= 1200
    # measured: one 429 and 96.4% (sliding, fixed); two and 95.05% (the bucket stays empty while
    # both draw on it). Each 429 costs its 1 s pause and 5% of the rate held for a minute.
    assert caller.share_of(1200) >= 0.95
    assert caller.throttle.fraction == 1.0  # recovered before the end


@pytest.mark.parametrize("kind", WINDOW_KINDS)
def test_a_consumer_sharing_the_key_costs_few_429s_and_the_rate_comes_back(kind: str) -> None:
    """A quarter of the key is taken for five minutes: we yield it, then take it back."""
    clock = VirtualClock()
    start = clock()
    window = _SharedWindow(make_window(kind, 1200, WINDOW), 300, start + 60, start + 360)
    caller = _caller(1200, window, clock)
    caller.send_for(360)
    during = [t for t in caller.admitted if start + 120 <= t < start + 360]
    assert len(caller.refused) <= 20  # about one a minute once yielded (measured: 5 to 12)
    assert len(during) / 4 >= 0.95 * 900  # 900/min is what the other consumer leaves
    caller.send_for(240)
    after = [t for t in caller.admitted if t >= start + 540]
    assert len(after) >= 0.95 * 1200  # the last minute is at full rate again


# --- the client: a 429 in one thread pauses the others -----------------------------------------


class _FirstRequestRefused:
    """A server counter that refuses the first request with `Retry-After: 30`, then admits all."""

    limit, window_seconds = 1, 60.0

    def __init__(self) -> None:
        self.refused = False

    def admit(self, now: float) -> float | None:
        if self.refused:
            return None
        self.refused = True
        return 30.0


@pytest.mark.timeout(30)
def test_a_429_in_one_client_thread_pauses_the_other_threads() -> None:
    """Thread A's GET draws `Retry-After: 30`; thread B, starting while A waits, waits too."""
    clock = VirtualClock()
    with rate_limited_server(_FirstRequestRefused(), catalogue=Catalogue(2, 1), clock=clock) as srv:
        first, second = srv.catalogue.album_ids()
        thread_b = threading.Thread(target=lambda: list(client.iter_album_photos(second)))

        def retry_sleep(seconds: float) -> None:
            """Thread A's wait before its retry: thread B runs all its request meanwhile."""
            if not thread_b.is_alive() and srv.arrivals.admitted == []:
                thread_b.start()
                thread_b.join(10)
            clock.sleep(seconds)

        client = PixleeClient(  # its throttle and pacer wait with the same clock and sleep
            api_key="k", base_url=srv.base_url, rate_limit_per_minute=0, sleep=retry_sleep,
            clock=clock,
        )  # fmt: skip
        list(client.iter_album_photos(first))
        client.close()
    [refused_at] = srv.arrivals.refused
    second_at, first_retry_at = srv.arrivals.admitted
    assert second_at >= refused_at + 30  # B honoured A's Retry-After
    assert first_retry_at >= second_at
