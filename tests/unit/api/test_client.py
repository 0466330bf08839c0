"""The client's contract: pagination on `next`, clear errors, retries that stop, no key leaks."""

from __future__ import annotations

from typing import Any

import pytest

from pixlee import (
    PixleeAuthError,
    PixleeClient,
    PixleeConfigError,
    PixleeContentError,
    PixleeNotFoundError,
    PixleeRetriesExhausted,
    RetryPolicy,
)
from pixlee.simulator import Simulator
from tests.support.canned_server import Canned, canned_server
from tests.support.virtual_time import VirtualClock

KEY = "k3y-never-printed-123"
PAGE = {"status": 200, "page": 1, "per_page": 100, "total": 1, "next": False}


def _client(base_url: str, clock: VirtualClock | None = None, **kwargs: Any) -> PixleeClient:
    """A client in virtual time: its waits are recorded in `clock.slept`, never slept."""
    clock = clock or VirtualClock()
    return PixleeClient(
        api_key=kwargs.pop("api_key", KEY),
        base_url=base_url,
        rate_limit_per_minute=0,
        sleep=clock.sleep,
        clock=clock,
        **kwargs,
    )


def test_pages_until_next_is_false_ignoring_total() -> None:
    pages = [
        Canned(body={**PAGE, "total": 999, "next": True, "data": [{"album_photo_id": 1}]}),
        Canned(
            body={**PAGE, "page": 2, "total": 1, "next": "true", "data": [{"album_photo_id": 2}]}
        ),
        Canned(body={**PAGE, "page": 3, "total": 5000, "next": False, "data": []}),
    ]
    with canned_server(*pages) as server:
        got = list(_client(server.base_url).iter_album_photos(7))
    assert [p.page for p in got] == [1, 2, 3]
    assert [[i["album_photo_id"] for i in p.items] for p in got] == [[1], [2], []]
    assert [p.split("?")[0] for p in server.paths] == ["/api/v2/albums/7/photos"] * 3
    assert [
        next(part for part in p.split("?")[1].split("&") if part.startswith("page="))
        for p in server.paths
    ] == ["page=1", "page=2", "page=3"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**PAGE, "data": {"not": "a list"}}, "'data' is a dict, expected a list"),
        ({**PAGE, "data": [1, 2]}, "2 item(s) are not objects"),
        ({**PAGE, "next": "maybe", "data": []}, "`next` is 'maybe', expected true/false"),
        ({"status": 200, "message": "ok"}, "no 'data' in the response"),
        ({**PAGE, "data": []} | {"next": None}, "`next` is None, expected true/false"),
        ({"status": 200, "data": [{"album_photo_id": 1}]}, "the envelope has no `next`"),
        ([1, 2, 3], "HTTP 200 with JSON that is not an object envelope (list)"),
    ],
)
def test_malformed_envelopes_are_content_errors_naming_path_and_page(
    body: Any, message: str
) -> None:
    with canned_server(Canned(body=body)) as server, pytest.raises(PixleeContentError) as error:
        list(_client(server.base_url).iter_album_photos(7))
    assert message in str(error.value)
    assert str(error.value).startswith("GET /albums/7/photos page 1: ")
    assert (error.value.path, error.value.page) == ("/albums/7/photos", 1)
    assert KEY not in str(error.value) and "\n" not in str(error.value)
    assert len(server.paths) == 1  # a malformed envelope is not retried


def test_status_as_string_in_body_is_understood() -> None:
    body = {"error": "Product does not exist.", "status": "404"}
    with (
        canned_server(Canned(status=200, body=body)) as server,
        pytest.raises(PixleeNotFoundError, match="Product does not exist"),
    ):
        list(_client(server.base_url).iter_sku_photos("X"))


def test_cdn_html_on_5xx_and_cut_bodies_are_retried_then_succeed() -> None:
    html = Canned(
        status=502,
        body="<html><body>Bad gateway</body></html>",
        headers={"Content-Type": "text/html"},
    )
    cut = Canned(status=200, body=b'{"status":200,"data":[{"album_ph')
    good = Canned(body={**PAGE, "data": [{"album_photo_id": 5}]})
    clock = VirtualClock()
    with canned_server(html, cut, good) as server:
        pages = list(_client(server.base_url, clock).iter_album_photos(1))
    assert pages[0].items == [{"album_photo_id": 5}]
    assert len(server.paths) == 3
    assert len(clock.slept) == 2


def test_html_with_200_is_a_content_error_not_a_network_fault() -> None:
    html = Canned(
        status=200,
        body="<html><body>Maintenance</body></html>",
        headers={"Content-Type": "text/html"},
    )
    first = Canned(body={**PAGE, "data": [{"album_photo_id": 1}]})
    with canned_server(first, html) as server:
        client = _client(server.base_url)
        list(client.iter_album_photos(1))  # Pixlee answered: base_url is right (first contact)
        with pytest.raises(PixleeContentError) as error:
            list(client.iter_album_photos(3))
    assert len(server.paths) == 2
    assert "HTTP 200 with a body that is not JSON (text/html)" in str(error.value)
    assert error.value.excerpt == "<html><body>Maintenance</body></html>"
    assert (error.value.path, error.value.page) == ("/albums/3/photos", 1)


@pytest.mark.parametrize("status", ["500", 500, "503", 429])
def test_an_error_status_inside_a_200_body_is_retried(status: Any) -> None:
    """Pixlee answers `"status":"500"` with HTTP 200; that is a server error, retried."""
    failing = Canned(status=200, body={"error": "Internal error.", "status": status})
    good = Canned(body={**PAGE, "data": [{"album_photo_id": 9}]})
    clock = VirtualClock()
    with canned_server(failing, good) as server:
        client = _client(server.base_url, clock)
        pages = list(client.iter_album_photos(1))
    assert [p.items for p in pages] == [[{"album_photo_id": 9}]]
    assert len(server.paths) == 2
    assert len(clock.slept) == 1
    assert client.stats.retries == 1


def test_retry_after_is_honoured_exactly() -> None:
    limited = Canned(status=429, body={"status": 429}, headers={"Retry-After": "7"})
    good = Canned(body={**PAGE, "data": []})
    clock = VirtualClock()
    with canned_server(limited, good) as server:
        client = _client(server.base_url, clock)
        list(client.iter_album_photos(1))
    assert clock.slept == [7.0]
    assert client.stats.rate_limited == 1
    assert client.stats.waited_on_429_seconds == 7.0


def test_retry_after_above_the_cap_is_cut_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    limited = Canned(status=429, body={}, headers={"Retry-After": "3600"})
    good = Canned(body={**PAGE, "data": []})
    clock = VirtualClock()
    with canned_server(limited, good) as server:
        client = _client(server.base_url, clock, retry=RetryPolicy(max_retry_after_seconds=60))
        with caplog.at_level("WARNING", logger="pixlee"):
            list(client.iter_album_photos(1))
    assert clock.slept == [60.0]
    assert "asked to wait 3600s (Retry-After); waiting the configured maximum 60s" in caplog.text


def test_backoff_without_retry_after_grows_with_jitter_and_stops() -> None:
    failures = [Canned(status=503, body="<html>503</html>") for _ in range(4)]
    clock = VirtualClock()
    with canned_server(*failures) as server:
        client = _client(
            server.base_url, clock, retry=RetryPolicy(max_attempts=4, backoff_seconds=1.0)
        )
        with pytest.raises(PixleeRetriesExhausted) as error:
            list(client.iter_album_photos(1))
    assert len(server.paths) == 4
    assert len(clock.slept) == 3
    for attempt, slept in enumerate(clock.slept, start=1):
        ceiling = 1.0 * 2 ** (attempt - 1)
        assert ceiling / 2 <= slept <= ceiling
    assert str(error.value).startswith(
        "GET /albums/1/photos page 1 still failing after 4 attempts: "
        "GET /albums/1/photos page 1: HTTP 503: <html>503</html>."
    )
    assert KEY not in str(error.value) and "api_key" not in str(error.value)


def test_auth_failure_is_one_request_and_never_shows_the_key(shared_sim: Simulator) -> None:
    shared_sim.stats.reset()
    client = _client(shared_sim.base_url, api_key="wrong-" + KEY)
    with pytest.raises(PixleeAuthError) as error:
        list(client.iter_albums())
    message = str(error.value)
    assert message.startswith("Pixlee rejected the API key (HTTP 401)")
    assert "[sources.pixlee_source]" in message
    assert KEY not in message
    assert shared_sim.stats.count() == 1
    assert error.value.__cause__ is None


def test_missing_key_is_a_config_error_before_any_request(shared_sim: Simulator) -> None:
    shared_sim.stats.reset()
    client = PixleeClient(base_url=shared_sim.base_url)
    with pytest.raises(PixleeConfigError) as error:
        list(client.iter_albums())
    assert "[sources.pixlee_source]" in str(error.value)
    assert "SOURCES__PIXLEE_SOURCE__API_KEY" in str(error.value)
    assert shared_sim.stats.count() == 0


def test_single_media_lookup(shared_sim: Simulator) -> None:
    item = shared_sim.truth_media()[0]
    client = _client(shared_sim.base_url, api_key=shared_sim.config.api_key)
    assert client.get_media(item["album_photo_id"]) == item
    with pytest.raises(PixleeNotFoundError):
        client.get_media(1)


def test_bad_base_url_is_a_config_error() -> None:
    with pytest.raises(PixleeConfigError, match="base_url must be an http"):
        PixleeClient(api_key=KEY, base_url="distillery.pixlee.co/api/v2")


def test_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment is read once, when the client is made (not on every request), and a
    proxy set there still carries every request."""
    with canned_server(Canned(body={**PAGE, "data": [{"album_photo_id": 1}]})) as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.base_url.split("/api/v2")[0])
        client = _client("http://pixlee.invalid/api/v2")
        monkeypatch.delenv("HTTP_PROXY")  # already read
        got = list(client.iter_album_photos(7))
    assert [[i["album_photo_id"] for i in p.items] for p in got] == [[1]]
    # a proxy receives the absolute URL of the API
    assert [p.split("?")[0] for p in proxy.paths] == [
        "http://pixlee.invalid/api/v2/albums/7/photos"
    ]
