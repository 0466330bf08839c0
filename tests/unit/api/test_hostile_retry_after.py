"""`Retry-After` as a hostile server sends it, and what the run's counters say about waits.

Before: `Retry-After: -5` or `nan` retried 8 times in 0.3 s (read as 0), `inf` waited the cap,
and `waited_on_429_seconds` counted a wait that never happened (after the last attempt).
"""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any

import pytest

from pixlee import PixleeClient, PixleeRetriesExhausted, RetryPolicy
from pixlee.api.responses import parse_retry_after
from tests.support.hostile_server import Reply, hostile_server, in_turn, real_page
from tests.support.virtual_time import VirtualClock

KEY = "read-K3y-retry-after-0001"


def _client(base_url: str, clock: VirtualClock, **kwargs: Any) -> PixleeClient:
    return PixleeClient(
        api_key=KEY, base_url=base_url, rate_limit_per_minute=0, sleep=clock.sleep,
        clock=clock, **kwargs,
    )  # fmt: skip


def _limited(retry_after: str) -> Reply:
    return Reply(status=429, body={"status": 429}, headers={"Retry-After": retry_after})


@pytest.mark.parametrize(
    "value", ["-5", "nan", "NaN", "inf", "-inf", "1e400", "soon", "", "Wed, 21 Oct 2015 07:28:00"]
)
def test_an_unusable_retry_after_gets_the_normal_backoff(value: str) -> None:
    clock = VirtualClock()
    replies = in_turn(_limited(value), _limited(value), Reply(body=real_page(next=False)))
    with hostile_server(replies) as server:
        client = _client(server.base_url, clock, retry=RetryPolicy(backoff_seconds=2.0))
        pages = list(client.iter_album_photos(1))
    assert len(pages) == 1 and len(server.received) == 3
    first, second = clock.slept
    assert 1.0 <= first <= 2.0 and 2.0 <= second <= 4.0  # equal jitter on 2 s, then 4 s
    assert client.stats.rate_limited == 2
    assert client.stats.waited_on_429_seconds == pytest.approx(first + second)


def test_a_usable_retry_after_is_honoured_as_seconds_or_a_date() -> None:
    clock = VirtualClock()
    in_two_minutes = formatdate(time.time() + 120, usegmt=True)
    replies = in_turn(_limited("7"), _limited(in_two_minutes), Reply(body=real_page(next=False)))
    with hostile_server(replies) as server:
        client = _client(server.base_url, clock)
        list(client.iter_album_photos(1))
    assert clock.slept[0] == 7.0
    assert 100 < clock.slept[1] <= 120  # a date is read against the wall clock


def test_only_waits_that_happened_are_counted() -> None:
    clock = VirtualClock()
    with hostile_server(lambda r: _limited("5")) as server:
        client = _client(server.base_url, clock, retry=RetryPolicy(max_attempts=3))
        with pytest.raises(PixleeRetriesExhausted, match="HTTP 429"):
            list(client.iter_album_photos(1))
    assert len(server.received) == 3
    assert clock.slept == [5.0, 5.0]  # no wait after the last attempt
    assert client.stats.waited_on_429_seconds == 10.0
    assert client.stats.rate_limited == 3 and client.stats.retries == 2


def test_a_429_inside_a_200_body_is_rate_limited_too() -> None:
    clock = VirtualClock()
    replies = in_turn(Reply(body={"status": "429"}), Reply(body=real_page(next=False)))
    with hostile_server(replies) as server:
        client = _client(server.base_url, clock)
        list(client.iter_album_photos(1))
    assert client.stats.rate_limited == 1 and len(clock.slept) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0.0), ("7", 7.0), (" 2.5 ", 2.5), ("-0.1", None), ("nan", None), ("inf", None)],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    assert parse_retry_after(value) == expected
    assert parse_retry_after(formatdate(1000.0 + 30, usegmt=True), now=lambda: 1000.0) == 30.0
