"""Deadlines: one per request (connect + whole body), one optional per run.

Before: a server dripping 1 byte/s held a request past 120 s; one that never answered took
~9 minutes to fail. The per-request tests run on the real clock (a socket cannot be faked) with
deadlines of a fraction of a second, and assert only what holds on a loaded machine: the
attempt ended early (long before the body could have arrived) and said why. The run deadline
is tested in virtual time.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pixlee import (
    Bounds,
    PixleeClient,
    PixleeDeadlineExceeded,
    PixleeRetriesExhausted,
    RetryPolicy,
)
from tests.support.hostile_server import Reply, hostile_server, in_turn, real_page
from tests.support.virtual_time import VirtualClock

KEY = "read-K3y-deadline-0001"
DEADLINE = 0.4
SLACK = 15.0  # what a loaded 2-core machine may add; the unbounded cases took minutes


def _real_time_client(base_url: str, sleeps: list[float], **kwargs: Any) -> PixleeClient:
    """Real clock (socket timeouts are real), recorded retry waits (never slept)."""
    return PixleeClient(
        api_key=KEY, base_url=base_url, rate_limit_per_minute=0, sleep=sleeps.append,
        bounds=Bounds(request_deadline_seconds=DEADLINE), **kwargs,
    )  # fmt: skip


def test_a_dripping_body_fails_at_the_request_deadline_and_is_retried() -> None:
    page = real_page(next=False)
    drip = Reply(body=page, drip_seconds=0.02)  # ~230 KB at 50 bytes/s: more than an hour
    sleeps: list[float] = []
    with hostile_server(in_turn(drip, Reply(body=page))) as server:
        client = _real_time_client(server.base_url, sleeps, retry=RetryPolicy(max_attempts=3))
        started = time.monotonic()
        pages = list(client.iter_album_photos(1))
        elapsed = time.monotonic() - started
    assert [len(p.items) for p in pages] == [28]  # the second attempt got the page
    assert len(server.received) == 2 and len(sleeps) == 1
    assert DEADLINE <= elapsed < DEADLINE + SLACK


def test_a_dripping_body_every_time_exhausts_the_retries_naming_the_deadline() -> None:
    sleeps: list[float] = []
    with hostile_server(lambda r: Reply(body=real_page(), drip_seconds=0.02)) as server:
        client = _real_time_client(server.base_url, sleeps, retry=RetryPolicy(max_attempts=2))
        with pytest.raises(PixleeRetriesExhausted) as error:
            list(client.iter_album_photos(1))
    assert str(error.value).startswith(
        "GET /albums/1/photos page 1 still failing after 2 attempts: GET /albums/1/photos "
        "page 1: no complete answer within the request deadline of 0.4s (request_deadline_seconds)"
    )


def test_a_server_that_never_answers_fails_at_the_deadline() -> None:
    sleeps: list[float] = []
    with hostile_server(lambda r: Reply(hang=True)) as server:
        client = _real_time_client(server.base_url, sleeps, retry=RetryPolicy(max_attempts=2))
        started = time.monotonic()
        with pytest.raises(PixleeRetriesExhausted, match="timed out") as error:
            client.get_json("/albums")
        elapsed = time.monotonic() - started
    assert len(server.received) == 2 and len(sleeps) == 1
    assert 2 * DEADLINE * 0.9 <= elapsed < 2 * DEADLINE + SLACK
    assert KEY not in str(error.value)


def test_headers_then_silence_fails_at_the_deadline() -> None:
    """Headers arrive, the body never does: the socket's wait is cut to the deadline."""
    silent = Reply(body=real_page(), drip_seconds=3600.0)  # one byte, then an hour's pause
    sleeps: list[float] = []
    with hostile_server(lambda r: silent) as server:
        client = _real_time_client(server.base_url, sleeps, retry=RetryPolicy(max_attempts=1))
        started = time.monotonic()
        with pytest.raises(PixleeRetriesExhausted):
            client.get_json("/albums")
    assert time.monotonic() - started < DEADLINE + SLACK


def test_the_request_deadline_comes_from_dlt_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__REQUEST_DEADLINE_SECONDS", "7.5")
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__RUN_DEADLINE_SECONDS", "3600")
    client = PixleeClient(api_key=KEY, base_url="http://127.0.0.1:9/api/v2")
    assert (client.bounds.request_deadline_seconds, client.bounds.run_deadline_seconds) == (
        7.5,
        3600.0,
    )
    assert (
        PixleeClient(api_key=KEY, request_deadline_seconds=3).bounds.request_deadline_seconds == 3
    )


# --- the run deadline, in virtual time ----------------------------------------------------------


def _virtual_client(base_url: str, clock: VirtualClock, **kwargs: Any) -> PixleeClient:
    return PixleeClient(
        api_key=KEY, base_url=base_url, rate_limit_per_minute=0, sleep=clock.sleep,
        clock=clock, **kwargs,
    )  # fmt: skip


def test_no_request_starts_after_the_run_deadline() -> None:
    clock = VirtualClock()
    with hostile_server(lambda r: Reply(body=real_page(next=False))) as server:
        client = _virtual_client(server.base_url, clock, run_deadline_seconds=60)
        assert len(list(client.iter_album_photos(1))) == 1
        clock.now += 60
        with pytest.raises(PixleeDeadlineExceeded) as error:
            list(client.iter_album_photos(2))
        assert len(server.received) == 1
        assert str(error.value) == (
            "GET /albums/2/photos page 1 was not started: the run deadline of 60s "
            "(run_deadline_seconds) has passed. Nothing unfinished was committed as complete; "
            "the next run goes on from the last complete one."
        )
        client.new_run()  # a new run counts from now
        assert len(list(client.iter_album_photos(2))) == 1


def test_retries_stop_before_a_wait_that_would_pass_the_run_deadline() -> None:
    clock = VirtualClock()
    failing = Reply(status=503, body="<html>503</html>", headers={"Content-Type": "text/html"})
    with hostile_server(lambda r: failing) as server:
        client = _virtual_client(
            server.base_url, clock, run_deadline_seconds=10,
            retry=RetryPolicy(max_attempts=20, backoff_seconds=1.0, max_backoff_seconds=4.0),
        )  # fmt: skip
        with pytest.raises(PixleeDeadlineExceeded) as error:
            client.get_json("/albums")
    assert sum(clock.slept) < 10  # every wait taken ended inside the run
    assert len(server.received) == len(clock.slept) + 1
    assert str(error.value).startswith(
        "GET /albums: the run deadline of 10s (run_deadline_seconds) would pass before the next "
        "attempt; last failure: GET /albums: HTTP 503: <html>503</html>"
    )
