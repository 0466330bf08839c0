"""The read pacer in virtual time: never above the limit in any window, of any kind, yet ≥ 95%.

Each long run starts cold (the first seconds are where a burst breaks a sliding window), sends
for 150 s, pauses 40 s (a pause refills a token bucket and lets GCRA burst again), and sends
for 150 s more, as fast as the pacer allows. The server's counter is one of three independent
models (`tests.support.rate_windows`); on top of its 429s, the test counts every 60 s window
itself.
"""

from __future__ import annotations

import itertools

import pytest

from pixlee.api.client import PixleeClient
from pixlee.api.pacing import (
    DEFAULT_SAFETY_MARGIN,
    PacingPlan,
    RequestPacer,
    make_pacer,
    plan_pacing,
)
from pixlee.api.throttle import AdaptiveThrottle
from tests.support.rate_limited_server import Catalogue, rate_limited_server
from tests.support.rate_windows import (
    WINDOW_KINDS,
    FixedWindow,
    RateWindow,
    SlidingWindow,
    TokenBucket,
    most_in_any_window,
)
from tests.support.virtual_time import PacedCaller, VirtualClock

WINDOW = 60.0


def _server_window(kind: str, limit: int, plan: PacingPlan) -> RateWindow:
    """The strictest of each kind the pacer claims to be safe under."""
    if kind == "sliding":
        return SlidingWindow(limit, WINDOW)
    if kind == "fixed":
        return FixedWindow(limit, WINDOW, phase=17.3)  # Pixlee's minute need not be ours
    return TokenBucket(limit, WINDOW, capacity=plan.burst)  # no bigger than the pacer's burst


@pytest.mark.parametrize(("kind", "limit"), list(itertools.product(WINDOW_KINDS, (1200, 3600))))
def test_a_long_run_with_a_pause_stays_under_every_window_and_reaches_95_percent(
    kind: str, limit: int
) -> None:
    clock = VirtualClock()
    pacer = RequestPacer(limit, clock=clock, sleep=clock.sleep)
    assert pacer.plan is not None
    window = _server_window(kind, limit, pacer.plan)
    caller = PacedCaller(pacer, AdaptiveThrottle(clock=clock, sleep=clock.sleep), window, clock)
    caller.send_for(150)
    caller.idle_for(40)
    caller.send_for(150)
    assert caller.refused == []
    assert most_in_any_window(caller.admitted, WINDOW) <= pacer.plan.ceiling_per_minute
    assert pacer.plan.ceiling_per_minute <= limit * (1 - DEFAULT_SAFETY_MARGIN)
    # the first and the last minute, where a burst or a late start would show
    first_minute = [t for t in caller.admitted if t < caller.admitted[0] + WINDOW]
    assert len(first_minute) <= pacer.plan.ceiling_per_minute
    assert caller.share_of(limit) >= 0.95


def test_the_pacer_is_at_the_limit_not_twice_it() -> None:
    """Sustained rate over ten minutes: within a request or two of the plan, of the limit."""
    clock = VirtualClock()
    pacer = make_pacer(1200, "get", clock=clock, sleep=clock.sleep)
    start = clock()
    for _ in range(12_000):
        pacer.wait()
    minutes = (clock() - start) / 60
    assert pacer.plan is not None
    assert 12_000 / minutes <= pacer.plan.ceiling_per_minute
    assert 12_000 / minutes >= 0.97 * 1200


def test_plan_keeps_burst_and_rate_under_the_margin() -> None:
    assert plan_pacing(3600) == PacingPlan(3600, 0.02, 5, 3523)
    assert plan_pacing(1200) == PacingPlan(1200, 0.02, 5, 1171)
    assert plan_pacing(60).burst == 2  # a burst never more than 1/20 of a minute's requests
    assert plan_pacing(10) == PacingPlan(10, 0.02, 1, 8)
    assert plan_pacing(600, safety_margin=0.2, burst=2).ceiling_per_minute == 480
    assert plan_pacing(3600, safety_margin=0).ceiling_per_minute == 3600
    with pytest.raises(ValueError, match="safety_margin must be"):
        plan_pacing(3600, safety_margin=1.0)
    with pytest.raises(ValueError, match="no room for a burst of 9"):
        plan_pacing(10, burst=9)
    with pytest.raises(ValueError, match="burst must be at least 1"):
        plan_pacing(100, burst=0)


@pytest.mark.timeout(10)
def test_every_wait_goes_through_the_injected_sleep_and_clock() -> None:
    """In virtual time a pacer at 60/min takes a minute for 60 requests, and no real time."""
    clock = VirtualClock()
    pacer = RequestPacer(60, clock=clock, sleep=clock.sleep)
    assert pacer.plan == PacingPlan(60, 0.02, 2, 56)
    for _ in range(58):
        pacer.wait()
    # the burst is free, then one request per 60/56 s
    assert clock() - 1000.0 == pytest.approx(56 * 60 / 56, abs=0.2)
    assert len(clock.slept) >= 56


def test_pacing_off_never_sleeps() -> None:
    clock = VirtualClock()
    pacer = RequestPacer(0, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        pacer.wait()
    assert clock.slept == [] and pacer.plan is None and pacer.paced_per_minute == 0


# --- the client's own pacer ----------------------------------------------------------------------


@pytest.fixture()
def clock() -> VirtualClock:
    """Virtual time for the pacer and throttle the client builds from its `clock` and `sleep`."""
    return VirtualClock()


@pytest.mark.timeout(120)
def test_the_client_reads_at_its_configured_limit_under_a_sliding_window(
    clock: VirtualClock,
) -> None:
    """Real HTTP, virtual time: 650 reads at 300/min against a server counting 300 a minute."""
    window = SlidingWindow(300, WINDOW)
    with rate_limited_server(window, catalogue=Catalogue(4, 200), clock=clock) as server:
        client = PixleeClient(
            api_key="k", base_url=server.base_url, per_page=1, rate_limit_per_minute=300,
            sleep=clock.sleep, clock=clock,
        )  # fmt: skip
        start = clock()
        for album_id in server.catalogue.album_ids():
            for _ in client.iter_album_photos(album_id):
                if clock() - start >= 130:
                    break
        client.close()
    admitted = server.arrivals.admitted
    assert server.arrivals.refused == []
    assert most_in_any_window(admitted, WINDOW) <= 300 * (1 - DEFAULT_SAFETY_MARGIN)
    assert len(admitted) / ((admitted[-1] - start) / 60) >= 0.95 * 300
