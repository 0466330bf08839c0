"""Writes are confirmed by Pixlee's documented answers only, never guessed.

Before: `upsert_product` reported "updated" for a 200 HTML maintenance page containing the word
"updated", and bulk submit reported every such row updated.
"""

from __future__ import annotations

from typing import Any

import pytest

from pixlee import (
    PixleeClient,
    PixleeRequestError,
    PixleeRetriesExhausted,
    PixleeWriteOutcomeUnknown,
    RetryPolicy,
    sign,
)
from tests.support.hostile_server import Received, Reply, android_fixture, hostile_server, in_turn
from tests.support.virtual_time import VirtualClock

PRIVATE = "priv-K3y-hostile-0001"
SECRET = "s3cret-hostile-0002"
EMAIL = "fan@example.com"
MAINTENANCE = "<html><body>Our site is being updated. Back soon.</body></html>"


def _client(base_url: str, **kwargs: Any) -> PixleeClient:
    clock = VirtualClock()
    return PixleeClient(
        private_api_key=PRIVATE, secret_key=SECRET, base_url=base_url,
        write_rate_limit_per_minute=0, sleep=clock.sleep, clock=clock,
        retry=kwargs.pop("retry", RetryPolicy(max_attempts=3)), **kwargs,
    )  # fmt: skip


def _html(status: int = 200) -> Reply:
    return Reply(status=status, body=MAINTENANCE, headers={"Content-Type": "text/html"})


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        (_html(), "<html><body>Our site is being updated. Back soon.</body></html>"),
        (Reply(body=b""), "an empty body"),
        (Reply(body={"status": 200, "message": "ok"}), "{'status': 200, 'message': 'ok'}"),
        (Reply(body="Product updated. Also: other things"), "Product updated. Also"),
        (Reply(body="product updated."), "product updated."),
        (Reply(body=[{"id": 5}]), '[{"id": 5}]'),
    ],
)
def test_an_undocumented_2xx_is_an_unknown_outcome_not_an_update(reply: Reply, shown: str) -> None:
    with (
        hostile_server(lambda r: reply) as server,
        pytest.raises(PixleeWriteOutcomeUnknown) as error,
    ):
        _client(server.base_url).upsert_product("SKU-1", "Shoe")
    assert len(server.received) == 1
    message = str(error.value)
    assert message.startswith("POST /albums: Pixlee answered HTTP 200 but not with the album JSON")
    assert shown in message
    assert "may or may not have happened" in message


@pytest.mark.parametrize(
    "answer", ["Product updated.", "  Product updated.\n", "Product updated. "]
)
def test_product_updated_is_the_one_text_answer(answer: str) -> None:
    with hostile_server(lambda r: Reply(body=answer, headers={"Content-Type": "text/html"})) as s:
        result = _client(s.base_url).upsert_product("SKU-1", "Shoe")
    assert (result.sku, result.created, result.album_id, result.status) == (
        "SKU-1",
        False,
        None,
        "updated",
    )


@pytest.mark.parametrize("body", [{"id": "4242", "title": "Shoe"}, {"data": {"id": 4242}}])
def test_the_album_json_means_created(body: dict[str, Any]) -> None:
    with hostile_server(lambda r: Reply(body=body)) as server:
        result = _client(server.base_url).upsert_product("SKU-1", "Shoe")
        album = _client(server.base_url).create_album("Summer")
    assert (result.created, result.album_id) == (True, 4242)
    assert album == 4242


def test_media_answers_as_the_sdk_fixture_has_them() -> None:
    answer = android_fixture("test.media.post.json")  # ids as strings
    with hostile_server(lambda r: Reply(body=answer)) as server:
        new_id = _client(server.base_url).create_media(
            1, "t", "https://e.com/a.jpg", True, email=EMAIL
        )
    assert new_id == 387506881
    (request,) = server.received
    assert request.headers["Signature"] == sign(SECRET, request.body)
    assert request.query == {"api_key": PRIVATE}


@pytest.mark.parametrize(
    "reply",
    [
        _html(),
        Reply(body=b""),
        Reply(body={"connected_user_id": "7"}),
        Reply(body={"album_photo_id": "x"}),
    ],
)
def test_media_without_its_id_is_an_unknown_outcome(reply: Reply) -> None:
    with (
        hostile_server(lambda r: reply) as server,
        pytest.raises(PixleeWriteOutcomeUnknown) as error,
    ):
        _client(server.base_url).create_media(1, "t", "https://e.com/a.jpg", True, email=EMAIL)
    assert "not with JSON with an integer 'album_photo_id'" in str(error.value)
    assert len(server.received) == 1


def test_bulk_reports_undocumented_answers_as_failed_rows() -> None:
    replies = in_turn(Reply(body="Product updated."), _html(), Reply(body={"id": 9}))
    rows = [{"sku": f"S{n}", "name": "Shoe"} for n in range(3)]
    with hostile_server(replies) as server:
        results = _client(server.base_url).submit_products(rows)
    assert [r.status for r in results] == ["updated", "failed", "created"]
    failed = results[1]
    assert not failed.retryable  # a human checks Pixlee first: it may have been applied
    assert failed.error is not None and "may or may not have happened" in failed.error
    assert results[2].id == 9
    assert len(server.received) == 3


def test_pixlees_plain_text_500_is_a_rejection_not_retried() -> None:
    text = android_fixture("test.media.post.error.500.json")
    assert text.startswith("No usable value for photo_uri")
    with (
        hostile_server(lambda r: Reply(status=500, body=text)) as server,
        pytest.raises(PixleeRequestError, match="No usable value for photo_uri"),
    ):
        _client(server.base_url).create_media(1, "t", "https://e.com/a.jpg", True, email=EMAIL)
    assert len(server.received) == 1


def _echo_everything(received: Received) -> Reply:
    """A 500 whose body echoes the request: URL with the private key, headers, body."""
    echoed = (
        f"Internal error for {received.raw_target} headers={received.headers} "
        f"body={received.body.decode('utf-8', 'replace')}"
    )
    return Reply(status=500, body=echoed, headers={"Content-Type": "text/plain"})


@pytest.mark.parametrize("write", ["album", "product"])
def test_a_500_echoing_the_url_and_signature_shows_no_secret(write: str) -> None:
    with hostile_server(_echo_everything) as server:
        client = _client(server.base_url, retry=RetryPolicy(max_attempts=2))
        with pytest.raises(PixleeRetriesExhausted) as error:
            if write == "album":
                client.create_album("once")  # not idempotent: unknown outcome, not retried
            else:
                client.upsert_product("SKU-1", "Shoe")  # idempotent: retried, then exhausted
    signatures = {r.headers["Signature"] for r in server.received}
    message = str(error.value)
    assert f"api_key={PRIVATE}" in server.received[0].raw_target  # the echo did carry the key
    assert "api_key=***" in message and "Internal error for /api/v2/albums" in message
    for secret in (PRIVATE, SECRET, *signatures):
        assert secret not in message
    assert isinstance(error.value, PixleeWriteOutcomeUnknown) == (write == "album")
