"""A wrong `base_url` is said at once, naming it; a network blip later keeps its retries.

Before: a closed port cost ~1 minute of retries and ended in "Pixlee or the network is
unavailable … running again later is safe"; an HTML server's 404 said "Pixlee answered 404".
Neither named `base_url`, the setting to fix.
"""

from __future__ import annotations

import socket

import pytest

from pixlee import PixleeClient, PixleeConfigError, PixleeRetriesExhausted, RetryPolicy
from tests.support.hostile_server import Reply, hostile_server, in_turn, real_page
from tests.support.virtual_time import VirtualClock

KEY = "read-K3y-first-contact-01"


def _client(base_url: str, clock: VirtualClock) -> PixleeClient:
    return PixleeClient(
        api_key=KEY,
        base_url=base_url,
        rate_limit_per_minute=0,
        retry=RetryPolicy(max_attempts=3),
        sleep=clock.sleep,
        clock=clock,
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the probe closes


def test_a_closed_port_names_base_url_without_retrying() -> None:
    clock = VirtualClock()
    base_url = f"http://127.0.0.1:{_closed_port()}/api/v2"
    with pytest.raises(PixleeConfigError) as raised:
        list(_client(base_url, clock).iter_albums())
    message = str(raised.value)
    assert message.startswith(f"cannot reach Pixlee at {base_url} (connection refused)")
    assert "check base_url under [sources.pixlee_source]" in message
    assert KEY not in message
    assert clock.slept == []  # not one retry


@pytest.mark.parametrize("status", [200, 404])
def test_a_web_server_that_is_not_the_api_names_base_url(status: int) -> None:
    clock = VirtualClock()
    page = Reply(status, b"<html><body>It works!</body></html>", {"Content-Type": "text/html"})
    with hostile_server(in_turn(page)) as server:
        with pytest.raises(PixleeConfigError) as raised:
            list(_client(server.base_url, clock).iter_albums())
        assert len(server.received) == 1
    assert str(raised.value).startswith(
        f"{server.base_url} does not answer like the Pixlee API (GET /albums page 1: HTTP "
        f"{status}, text/html, not JSON): check base_url"
    )
    assert clock.slept == []


def test_a_cdn_error_page_on_the_first_request_is_still_retried() -> None:
    clock = VirtualClock()
    outage = Reply(503, b"<html>Service Unavailable</html>", {"Content-Type": "text/html"})
    with hostile_server(in_turn(outage, Reply(200, real_page(next=False)))) as server:
        pages = list(_client(server.base_url, clock).iter_albums())
    assert len(pages) == 1 and len(clock.slept) == 1


def test_after_an_answer_a_refused_connection_is_a_network_fault_and_retried() -> None:
    clock = VirtualClock()
    with hostile_server(in_turn(Reply(200, real_page(next=True)))) as server:
        client = _client(server.base_url, clock)
        pages = client.iter_albums()
        assert next(pages).has_next
    # the server is gone now: page 2 is refused, as in an outage after the run started
    with pytest.raises(PixleeRetriesExhausted) as raised:
        next(pages)
    assert "still failing after 3 attempts" in str(raised.value)
    assert len(clock.slept) == 2
