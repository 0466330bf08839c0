"""No credential survives any error branch: message, repr, chained exceptions, traceback, logs.

One case per branch of the read and write side, each against a server that echoes what it got
(the URL with `api_key=`, the headers with `Signature`, the body) wherever it can. The keys used
here are fresh per case and never registered beforehand, so what masks them is the choke point
(`PixleeError` and the response classification redact on creation), not a test's setup.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from pixlee import Bounds, PixleeClient, PixleeError, RetryPolicy
from tests.support.hostile_server import Received, Reply, hostile_server, real_page
from tests.support.virtual_time import VirtualClock


@dataclass(frozen=True)
class Keys:
    read: str
    private: str
    secret: str


def _keys() -> Keys:
    tag = uuid.uuid4().hex[:10]
    return Keys(f"read-{tag}-key", f"priv-{tag}-key", f"secr-{tag}-key")


def _echo(received: Received) -> str:
    body = received.body.decode("utf-8", "replace")
    return f"you sent {received.method} {received.raw_target} {received.headers} {body}"


def _echo_reply(status: int, **kwargs: Any) -> Callable[[Received], Reply]:
    return lambda r: Reply(
        status=status, body=_echo(r), headers={"Content-Type": "text/plain"}, **kwargs
    )


def _json_echo(status: int) -> Callable[[Received], Reply]:
    return lambda r: Reply(status=status, body={"status": str(status), "error": _echo(r)})


def _redirect_echo(received: Received) -> Reply:
    return Reply(status=307, headers={"Location": f"http://localhost:1{received.raw_target}"})


READS: dict[str, Callable[[Received], Reply]] = {
    "5xx echo": _echo_reply(500),
    "401 echo": _echo_reply(401),
    "403 echo": _echo_reply(403),
    "404 echo": _echo_reply(404),
    "400 echo": _echo_reply(400),
    "in-body 500": _json_echo(200),
    "in-body 404": lambda r: Reply(body={"status": "404", "error": _echo(r)}),
    "200 not JSON": _echo_reply(200),
    "200 cut JSON": lambda r: Reply(body=b'{"error":"' + _echo(r).encode()),
    "redirect": _redirect_echo,
    "too large": lambda r: Reply(body=_echo(r) * 400),
    "next garbage": lambda r: Reply(body={**real_page(), "next": _echo(r)}),
    "data garbage": lambda r: Reply(body={"next": False, "data": _echo(r)}),
    "deadline": _echo_reply(200, drip_seconds=0.05),
}
WRITES: dict[str, Callable[[Received], Reply]] = {
    "5xx echo": _echo_reply(503),
    "401 echo": _echo_reply(401),
    "403 echo": _echo_reply(403),
    "400 echo": _echo_reply(400),
    "in-body 500": _json_echo(200),
    "200 undocumented": _echo_reply(200),
    "200 undocumented JSON": lambda r: Reply(body={"echo": _echo(r)}),
    "redirect": _redirect_echo,
}


def _client(base_url: str, keys: Keys) -> PixleeClient:
    clock = VirtualClock()
    return PixleeClient(
        api_key=keys.read, private_api_key=keys.private, secret_key=keys.secret,
        base_url=base_url, rate_limit_per_minute=0, write_rate_limit_per_minute=0,
        sleep=clock.sleep, retry=RetryPolicy(max_attempts=2),
        bounds=Bounds(max_response_bytes=20_000, request_deadline_seconds=0.3),
    )  # fmt: skip


def _everything_shown(error: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    shown = [str(error), repr(error), "".join(traceback.format_exception(error)), caplog.text]
    shown += [str(vars(error))]
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            shown += [str(linked), repr(linked)]
    return "\n".join(shown)


def _assert_nothing_secret(text: str, keys: Keys, signatures: set[str]) -> None:
    for secret in (keys.read, keys.private, keys.secret, *signatures):
        assert secret not in text


@pytest.mark.parametrize("branch", sorted(READS))
def test_read_errors_keep_every_secret_out(branch: str, caplog: pytest.LogCaptureFixture) -> None:
    keys = _keys()
    with (
        hostile_server(READS[branch]) as server,
        caplog.at_level(logging.DEBUG),
        pytest.raises(PixleeError) as error,
    ):
        list(_client(server.base_url, keys).iter_album_photos(7))
    assert any(keys.read in r.raw_target for r in server.received)  # the key went out, for real
    _assert_nothing_secret(_everything_shown(error.value, caplog), keys, set())


@pytest.mark.parametrize("branch", sorted(WRITES))
@pytest.mark.parametrize("write", ["album", "product", "media"])
def test_write_errors_keep_every_secret_out(
    branch: str, write: str, caplog: pytest.LogCaptureFixture
) -> None:
    keys = _keys()
    with (
        hostile_server(WRITES[branch]) as server,
        caplog.at_level(logging.DEBUG),
        pytest.raises(PixleeError) as error,
    ):
        client = _client(server.base_url, keys)
        if write == "album":
            client.create_album("a")
        elif write == "product":
            client.upsert_product("SKU", "Shoe")
        else:
            client.create_media(1, "t", "https://e.com/a.jpg", True, email="a@b.co")
    signatures = {r.headers["Signature"] for r in server.received}
    assert signatures and all(keys.private in r.raw_target for r in server.received)
    _assert_nothing_secret(_everything_shown(error.value, caplog), keys, signatures)


@pytest.mark.parametrize("side", ["read", "write"])
def test_a_connection_error_naming_the_url_keeps_the_key_out(
    side: str, caplog: pytest.LogCaptureFixture
) -> None:
    """urllib3's message for a refused connection quotes the URL, query and key included."""
    keys = _keys()
    with hostile_server(lambda r: Reply(body={"status": 200, "data": []})) as server:
        client = _client(server.base_url, keys)
        client.get_json("/albums")  # an answer first: a refusal later is a network fault
    # the server is closed now: every connection is refused
    with caplog.at_level(logging.DEBUG), pytest.raises(PixleeError) as error:
        if side == "read":
            client.get_json("/albums")
        else:
            client.create_album("a")
    assert "Connection refused" in str(error.value) or "ConnectionError" in str(error.value)
    assert "/api/v2/albums?" in str(error.value)  # the URL is quoted, its key masked
    assert "api_key=***" in str(error.value)
    _assert_nothing_secret(_everything_shown(error.value, caplog), keys, set())
