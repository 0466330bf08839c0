"""Bodies that are not what they should be: bad bytes in one caption, not JSON, cut, errors inside.

Before: a lone surrogate or invalid UTF-8 in one caption was retried 8 times as "not JSON" and
reported as "Pixlee or the network is unavailable", so one user's caption blocked the account.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from pixlee import (
    PixleeAuthError,
    PixleeClient,
    PixleeContentError,
    PixleeNotFoundError,
    RetryPolicy,
)
from tests.support.hostile_server import (
    Reply,
    android_fixture,
    hostile_server,
    in_turn,
    real_page,
)
from tests.support.virtual_time import VirtualClock

KEY = "read-K3y-bodies-0001"
CAPTION = "My new go to ~Icon earrings~"


def _client(base_url: str, clock: VirtualClock | None = None, **kwargs: Any) -> PixleeClient:
    clock = clock or VirtualClock()
    return PixleeClient(
        api_key=KEY, base_url=base_url, rate_limit_per_minute=0, sleep=clock.sleep,
        clock=clock, **kwargs,
    )  # fmt: skip


def _page_with_first_caption(raw_caption: bytes) -> bytes:
    """The real page, its first caption replaced by `raw_caption` (bytes as sent, in quotes)."""
    page = real_page(next=False)
    original = json.dumps(page["data"][0]["photo_title"]).encode()
    body = json.dumps(page).encode()
    assert body.index(original) < body.index(b'"title"')  # `photo_title` comes first
    return body.replace(original, b'"' + raw_caption + b'"', 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"caf\xc3\xa9 \xff\xfe broken", "café \ufffd\ufffd broken"),  # invalid UTF-8 bytes
        (b"alone \\ud83d here", "alone \ufffd here"),  # a lone high surrogate escape
        (b"\\udc00 low first", "\ufffd low first"),  # a lone low surrogate escape
        (b"pair \\ud83d\\ude00 ok", "pair \U0001f600 ok"),  # a proper pair stays an emoji
    ],
)
def test_one_bad_caption_does_not_cost_the_page(
    raw: bytes, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = _page_with_first_caption(raw)
    with (
        hostile_server(lambda r: Reply(body=body)) as server,
        caplog.at_level(logging.WARNING, logger="pixlee"),
    ):
        (page,) = list(_client(server.base_url).iter_album_photos(1659473))
    assert len(server.received) == 1  # read once, not retried as a network fault
    assert page.items[0]["photo_title"] == expected
    assert page.items[0]["title"] == real_page()["data"][0]["title"]
    assert page.items[1:] == real_page()["data"][1:]  # the other 27 exactly as sent
    for item in page.items:
        json.dumps(item, ensure_ascii=False).encode("utf-8")  # nothing left that cannot encode
    if expected.startswith("pair"):
        return  # valid JSON: no warning
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage().startswith(
        "GET /albums/1659473/photos page 1: the body is not valid UTF-8 JSON ("
    )
    assert "read with U+FFFD in place of the invalid bytes or lone surrogates" in (
        warning.getMessage()
    )


@pytest.mark.parametrize(
    ("body", "content_type", "shown"),
    [
        (b"<html><body>Down for maintenance</body></html>", "text/html", "<html><body>Down"),
        (b'{"status":200,"data":[1,2,]}', "application/json", '{"status":200,"data":[1,2,]}'),
        (b"Successfully returned album photos", "text/plain", "Successfully returned"),
        (b"", "application/json", ""),
        (b'{"status":200,"next":NaN,"data":[]}', "application/json", '"next":NaN'),
    ],
)
def test_a_body_that_is_not_json_is_a_content_error_read_once(
    body: bytes, content_type: str, shown: str
) -> None:
    reply = Reply(body=body, headers={"Content-Type": content_type})
    good = Reply(body=real_page(next=False))
    with hostile_server(in_turn(good, reply)) as server:
        client = _client(server.base_url)
        list(client.iter_album_photos(4))  # Pixlee answered once: base_url is right
        with pytest.raises(PixleeContentError) as error:
            list(client.iter_album_photos(5, start_page=3))
    assert len(server.received) == 2
    assert (error.value.path, error.value.page) == ("/albums/5/photos", 3)
    assert shown in error.value.excerpt
    assert str(error.value).startswith(
        f"GET /albums/5/photos page 3: HTTP 200 with a body that is not JSON ({content_type})"
    )
    assert "unavailable" not in str(error.value)


def test_a_body_cut_by_the_network_is_retried() -> None:
    page = real_page(next=False)
    cut = Reply(body=page, cut_after=1000)  # Content-Length says more, the connection closes
    clock = VirtualClock()
    with hostile_server(in_turn(cut, Reply(body=page))) as server:
        pages = list(_client(server.base_url, clock).iter_album_photos(1))
    assert [len(p.items) for p in pages] == [28]
    assert len(server.received) == 2 and len(clock.slept) == 1


def test_a_cdn_page_on_5xx_is_retried() -> None:
    html = Reply(
        status=503, body="<html>Service Unavailable</html>", headers={"Content-Type": "text/html"}
    )
    clock = VirtualClock()
    with hostile_server(in_turn(html, html, Reply(body=real_page(next=False)))) as server:
        pages = list(_client(server.base_url, clock).iter_album_photos(1))
    assert len(pages) == 1 and len(clock.slept) == 2


def test_pixlees_own_500_body_with_http_200_is_retried() -> None:
    """The SDK's `{"error":"Internal error.","status":"500"}` (status as a string) in a 200."""
    error_body = android_fixture("test.error.500.json")
    assert error_body == {"error": "Internal error.", "status": "500"}
    clock = VirtualClock()
    with hostile_server(in_turn(Reply(body=error_body), Reply(body=real_page(next=False)))) as s:
        client = _client(s.base_url, clock, retry=RetryPolicy(max_attempts=3))
        pages = list(client.iter_album_photos(1))
    assert len(pages) == 1 and len(s.received) == 2 and client.stats.retries == 1


@pytest.mark.parametrize(
    ("fixture", "status", "error"),
    [
        ("test.error.404.json", 404, PixleeNotFoundError),
        ("test.error.401.json", 401, PixleeAuthError),
        ("test.error.404.json", 200, PixleeNotFoundError),  # the status only in the body
    ],
)
def test_pixlees_error_bodies_are_definite_answers(fixture: str, status: int, error: type) -> None:
    body = android_fixture(fixture)
    with hostile_server(lambda r: Reply(status=status, body=body)) as server, pytest.raises(error):
        list(_client(server.base_url).iter_sku_photos("PTS5"))
    assert len(server.received) == 1


@dataclass(frozen=True)
class _ReadPage:
    items: list[dict[str, Any]]
    has_next: bool


class _Reader:
    """Reads only the bodies in `accepts`; records what it was shown and taught."""

    def __init__(self, *accepts: bytes) -> None:
        self.accepts = accepts
        self.shown: list[bytes] = []
        self.learned: list[Any] = []

    def read(self, body: bytes | bytearray) -> _ReadPage | None:
        self.shown.append(bytes(body))
        return _ReadPage([{"read": len(self.shown)}], True) if body in self.accepts else None

    def learn(self, envelope: Any) -> None:
        self.learned.append(envelope)


def test_a_listing_reader_is_tried_first_and_refused_bodies_are_checked_as_before() -> None:
    """`parse` reads a 2xx body before any decoding; a body it refuses is decoded and checked
    as usual (a cut one retried) and, decoded strictly, taught to it."""
    good = json.dumps(real_page(next=True)).encode()
    last = json.dumps(real_page(2, next=False)).encode()
    reader = _Reader(good)
    replies = in_turn(Reply(body=good[: len(good) // 2]), Reply(body=good), Reply(body=last))
    with hostile_server(replies) as server:
        pages = list(_client(server.base_url).iter_album_photos(1659473, parse=reader))
    assert len(server.received) == 3  # the cut body was refused, then retried as a cut body
    assert reader.shown == [good[: len(good) // 2], good, last]
    assert [page.parsed for page in pages] == [_ReadPage([{"read": 2}], True), None]
    assert pages[0].items == [{"read": 2}] and pages[0].has_next
    assert pages[1].items == real_page()["data"] and not pages[1].has_next
    assert reader.learned == [json.loads(last)]


def test_a_leniently_decoded_body_is_not_taught_to_the_reader() -> None:
    """A body read with U+FFFD in place of bad bytes: its dicts are not what its bytes say."""
    body = _page_with_first_caption(b"alone \\ud83d here")
    reader = _Reader()
    with hostile_server(lambda r: Reply(body=body)) as server:
        (page,) = list(_client(server.base_url).iter_album_photos(1659473, parse=reader))
    assert page.parsed is None and page.items[0]["photo_title"] == "alone \ufffd here"
    assert reader.shown == [body] and reader.learned == []
