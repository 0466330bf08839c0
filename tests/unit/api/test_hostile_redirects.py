"""Redirects: never to another origin (the key would go with it), never a write, at most 3 hops."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from pixlee import Bounds, PixleeClient, PixleeRedirectError, RetryPolicy
from tests.support.hostile_server import (
    Received,
    Reply,
    hostile_server,
    real_page,
)
from tests.support.virtual_time import VirtualClock

KEY = "read-K3y-redirected-0001"
PRIVATE = "priv-K3y-redirected-0002"
SECRET = "s3cret-redirected-0003"


def _client(base_url: str, **kwargs: Any) -> PixleeClient:
    clock = VirtualClock()
    return PixleeClient(
        api_key=KEY, private_api_key=PRIVATE, secret_key=SECRET, base_url=base_url,
        rate_limit_per_minute=0, write_rate_limit_per_minute=0, sleep=clock.sleep,
        clock=clock, retry=RetryPolicy(max_attempts=3), **kwargs,
    )  # fmt: skip


def _redirect(status: int, location: str) -> Reply:
    return Reply(status=status, headers={"Location": location}, body=b"")


def _assert_clean(message: str) -> None:
    for secret in (KEY, PRIVATE, SECRET):
        assert secret not in message


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_read_is_never_redirected_to_another_origin(status: int) -> None:
    with (
        hostile_server(lambda r: Reply(body=real_page())) as other,
        hostile_server(lambda r: Reply()) as api,
    ):
        target = f"{other.base_url}/albums/1/photos?page=1&api_key={KEY}"
        api.behaviour = lambda r: _redirect(status, target)
        with pytest.raises(PixleeRedirectError) as error:
            list(_client(api.base_url).iter_album_photos(1))
    assert other.received == []  # the other origin never saw a request, so never the key
    assert len(api.received) == 1  # not retried: asking again gets the same redirect
    message = str(error.value)
    assert message.startswith(f"GET /albums/1/photos page 1: Pixlee answered HTTP {status} ")
    assert f"redirecting to http://127.0.0.1:{other.port};" in message
    assert "another origin is never followed" in message
    _assert_clean(message)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("same_origin", [True, False])
def test_a_write_is_never_sent_again_to_a_redirect_target(status: int, same_origin: bool) -> None:
    with (
        hostile_server(lambda r: Reply(body={"id": 1})) as other,
        hostile_server(lambda r: Reply()) as api,
    ):
        origin = api.base_url if same_origin else other.base_url
        api.behaviour = lambda r: _redirect(status, f"{origin}/albums?api_key={PRIVATE}")
        with pytest.raises(PixleeRedirectError) as error:
            _client(api.base_url).create_album("once")
    assert other.received == []
    assert [r.method for r in api.received] == ["POST"]  # sent once, to the API's origin only
    message = str(error.value)
    assert f"POST /albums: Pixlee answered HTTP {status} redirecting to http://127.0.0.1" in message
    assert "a write is never sent again to a redirect target" in message
    _assert_clean(message)


def test_a_redirect_to_another_port_or_scheme_is_another_origin() -> None:
    with hostile_server(lambda r: Reply(body=real_page())) as api:
        for location in (
            f"https://127.0.0.1:{api.port}/api/v2/albums/2/photos",  # scheme
            "http://localhost:1/api/v2/albums/2/photos",  # host
        ):
            api.behaviour = lambda r, location=location: _redirect(302, location)
            with pytest.raises(PixleeRedirectError, match="another origin"):
                list(_client(api.base_url).iter_album_photos(1))


def test_same_origin_redirects_are_followed_up_to_three_hops() -> None:
    def hops(count: int) -> Any:
        def behave(received: Received) -> Reply:
            hop = int(received.query.get("hop", "0"))
            if hop < count:
                return _redirect(302, f"/api/v2/moved?hop={hop + 1}&api_key={KEY}")
            return Reply(body=real_page(next=False))

        return behave

    with hostile_server(hops(3)) as api:
        pages = list(_client(api.base_url).iter_album_photos(1))
    assert [len(p.items) for p in pages] == [28]
    assert [r.query.get("hop") for r in api.received] == [None, "1", "2", "3"]

    with hostile_server(hops(4)) as api, pytest.raises(PixleeRedirectError) as error:
        list(_client(api.base_url).iter_album_photos(1))
    assert len(api.received) == 4  # three hops followed, the fourth refused
    assert str(error.value) == "GET /albums/1/photos page 1: more than 3 redirects"

    with hostile_server(hops(1)) as api, pytest.raises(PixleeRedirectError):
        list(_client(api.base_url, bounds=Bounds(max_redirects=0)).iter_album_photos(1))


def test_every_hop_is_paced_and_counted() -> None:
    def behave(received: Received) -> Reply:
        if received.path.endswith("/photos"):
            return _redirect(301, "/api/v2/elsewhere")
        return Reply(body=real_page(next=False))

    with hostile_server(behave) as api:
        client = _client(api.base_url)
        list(client.iter_album_photos(1))
    assert client.stats.requests == 2 == len(api.received)


def test_the_other_origin_would_have_received_the_key_had_it_been_followed() -> None:
    """The control: requests' own redirect handling does send the query (and key) along."""
    with (
        hostile_server(lambda r: Reply(body={})) as other,
        hostile_server(lambda r: Reply()) as api,
    ):
        api.behaviour = lambda r: _redirect(302, f"{other.base_url}/x?api_key={KEY}")
        requests.get(f"{api.base_url}/albums", params={"api_key": KEY}, timeout=5)
    assert [r.query.get("api_key") for r in other.received] == [KEY]
