"""Signed writes against the simulator, which verifies every signature byte for byte."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from pixlee import (
    PixleeAuthError,
    PixleeClient,
    PixleeConfigError,
    PixleeRetriesExhausted,
    PixleeValidationError,
    RetryPolicy,
)
from pixlee.api.errors import PixleeWriteOutcomeUnknown
from pixlee.api.write.bulk import ItemResult
from pixlee.api.write.signing import minified_json, sign
from pixlee.api.write.writer import ProductResult
from pixlee.simulator import FakeClock, Simulator, SimulatorConfig

PRIVATE = "priv-K3y-never-shown-0001"
SECRET = "s3cret-never-shown-0002"
EMAIL = "fan@example.com"
MEDIA_ROUTE, FILE_ROUTE, ALBUMS_ROUTE = "/api/v2/media", "/api/v2/media/file", "/api/v2/albums"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00JFIF" + bytes(range(256)) * 4
UNICODE_TITLE = "Café ☕ — 東京 \U0001f600 line\nbreak"
SLASHY_URI = "https://cdn.example.com/a/b/c/photo.jpg?size=large&v=1/2"


def _config(**overrides: Any) -> SimulatorConfig:
    base: dict[str, Any] = dict(
        seed=1, albums=2, media_per_album=50, products=5, categories=1,
        api_key="read-key-0003", private_api_key=PRIVATE, secret_key=SECRET,
    )  # fmt: skip
    return SimulatorConfig(**{**base, **overrides})


@pytest.fixture()
def wsim() -> Iterator[Simulator]:
    with Simulator(_config()) as sim:
        yield sim


def _client(sim: Simulator, sleeps: list[float] | None = None, **kwargs: Any) -> PixleeClient:
    recorded = sleeps if sleeps is not None else []
    return PixleeClient(
        private_api_key=kwargs.pop("private_api_key", PRIVATE),
        secret_key=kwargs.pop("secret_key", SECRET),
        base_url=sim.base_url,
        write_rate_limit_per_minute=kwargs.pop("write_rate_limit_per_minute", 0),
        retry=kwargs.pop("retry", RetryPolicy(max_attempts=4, backoff_seconds=0.001)),
        sleep=kwargs.pop("sleep", recorded.append),
        **kwargs,
    )


def _standard_album(sim: Simulator) -> int:
    return int(next(a["id"] for a in sim.truth_albums() if a["album_type"] == "standard"))


def _by_id(sim: Simulator, album_id: int) -> dict[int, dict[str, Any]]:
    return {m["album_photo_id"]: m for m in sim.truth_media([album_id])}


class _Recorder(HTTPAdapter):
    """Keeps every prepared request as sent (body bytes, headers, URL)."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(request)
        return super().send(request, *args, **kwargs)


def _record(client: PixleeClient) -> _Recorder:
    recorder = _Recorder()
    client.transport.http.mount("http://", recorder)
    return recorder


# --- create_media ---------------------------------------------------------------------------


def test_create_media_signs_the_exact_bytes_it_sends(wsim: Simulator) -> None:
    album_id = _standard_album(wsim)
    before = _by_id(wsim, album_id)
    client = _client(wsim)
    recorder = _record(client)

    new_id = client.create_media(album_id, UNICODE_TITLE, SLASHY_URI, True, email=EMAIL)

    assert isinstance(new_id, int)
    (request,) = recorder.sent
    body = request.body
    assert isinstance(body, bytes)
    assert body == minified_json(
        {"album_id": album_id, "title": UNICODE_TITLE, "approved": True, "email": EMAIL,
         "photo_uri": SLASHY_URI}
    )  # fmt: skip
    assert b"\\/" not in body and b'", "' not in body and b'": ' not in body
    assert "東京".encode() in body and b"\\u" not in body  # UTF-8, not \u escapes
    assert request.headers["Signature"] == sign(SECRET, body)
    assert "Signature-Algorithm" not in request.headers
    assert request.headers["Content-Type"] == "application/json"
    assert parse_qs(urlsplit(str(request.url)).query) == {"api_key": [PRIVATE]}

    after = _by_id(wsim, album_id)
    assert set(after) - set(before) == {new_id}
    assert after[new_id]["title"] == UNICODE_TITLE
    assert after[new_id]["source_url"] == SLASHY_URI
    assert wsim.stats.count(method="POST", route=MEDIA_ROUTE, status=200) == 1
    assert wsim.stats.count() == 1


def test_sha256_variant(wsim: Simulator) -> None:
    album_id = _standard_album(wsim)
    client = _client(wsim)
    client.signature_algorithm = "sha256"  # type: ignore[attr-defined]
    recorder = _record(client)
    new_id = client.create_media(album_id, "sha256 ✓", SLASHY_URI, True, connected_user_id=42)
    (request,) = recorder.sent
    assert request.headers["Signature-Algorithm"] == "hmac-sha256"
    assert request.headers["Signature"] == sign(SECRET, request.body or b"", "sha256")
    assert len(base64.b64decode(request.headers["Signature"])) == 32
    assert new_id in _by_id(wsim, album_id)
    # per call, too
    album = client.create_album("per-call sha1", algorithm="sha1")
    assert "Signature-Algorithm" not in recorder.sent[-1].headers
    assert album in {a["id"] for a in wsim.truth_albums()}


def test_reposting_the_same_photo_uri_creates_nothing_new_but_adds_tags(wsim: Simulator) -> None:
    album_id = _standard_album(wsim)
    sku = wsim.skus()[0]
    before = len(wsim.truth_media([album_id]))
    client = _client(wsim)
    first = client.create_media(album_id, "once", SLASHY_URI, True, email=EMAIL)
    second = client.create_media(
        album_id, "once", SLASHY_URI, True, email=EMAIL, product_skus=[sku]
    )
    assert first == second
    media = _by_id(wsim, album_id)
    assert len(media) == before + 1
    assert [p["sku"] for p in media[first]["products"]] == [sku]
    assert wsim.stats.count(method="POST", route=MEDIA_ROUTE, status=200) == 2


# --- files, albums, products ----------------------------------------------------------------


def test_create_media_from_file_path_and_bytes(wsim: Simulator, tmp_path: Path) -> None:
    album_id = _standard_album(wsim)
    path = tmp_path / "shot.jpg"
    path.write_bytes(JPEG)
    client = _client(wsim)
    recorder = _record(client)
    from_path = client.create_media_from_file(path, album_id, UNICODE_TITLE, True, email=EMAIL)
    from_bytes = client.create_media_from_file(
        JPEG[:-1] + b"\x01", album_id, "bytes", True, filename="b.jpg", email=EMAIL
    )
    assert isinstance(from_path, int) and isinstance(from_bytes, int) and from_path != from_bytes
    media = _by_id(wsim, album_id)
    assert media[from_path]["title"] == UNICODE_TITLE
    assert media[from_path]["content_type"] == "image"
    assert wsim.stats.count(method="POST", route=FILE_ROUTE, status=200) == 2
    body = recorder.sent[0].body
    assert isinstance(body, bytes)
    signed = minified_json(
        {"album_id": album_id, "title": UNICODE_TITLE, "approved": True, "email": EMAIL,
         "content_type": "image/jpeg"}
    )  # fmt: skip
    assert signed in body and JPEG in body
    assert recorder.sent[0].headers["Signature"] == sign(SECRET, signed)


def test_create_album_returns_the_new_id(wsim: Simulator) -> None:
    client = _client(wsim)
    standard = client.create_album("Summer / 2026 ☀")
    category = client.create_album("Shoes", album_type="category")
    albums = {a["id"]: a for a in wsim.truth_albums()}
    assert (albums[standard]["title"], albums[standard]["album_type"]) == (
        "Summer / 2026 ☀",
        "standard",
    )
    assert albums[category]["album_type"] == "category"
    assert wsim.stats.count(method="POST", route=ALBUMS_ROUTE, status=200) == 2


def test_upsert_product_creates_then_updates(wsim: Simulator) -> None:
    album_id = _standard_album(wsim)
    client = _client(wsim)
    albums_before = len(wsim.truth_albums())
    created = client.upsert_product(
        "SKU-9", "Trail Shoe", "https://cdn.example.com/p/shoe.jpg",
        "https://shop.example.com/p/shoe", "19.90", "3", "USD", buy_now_text="Shop",
    )  # fmt: skip
    assert created.created and created.status == "created"
    assert isinstance(created.album_id, int)
    updated = client.upsert_product("SKU-9", "Trail Shoe", stock=9, price=25)
    assert updated == ProductResult("SKU-9", created=False, album_id=None)
    assert updated.status == "updated"
    assert wsim.skus().count("SKU-9") == 1
    assert len(wsim.truth_albums()) == albums_before + 1
    tagged = client.create_media(
        album_id, "tagged", "https://x.example.com/t.jpg", True, email=EMAIL,
        product_skus=["SKU-9"],
    )  # fmt: skip
    (product,) = _by_id(wsim, album_id)[tagged]["products"]
    assert (product["sku"], product["stock"], product["price"], product["title"]) == (
        "SKU-9", 9, 25, "Trail Shoe",
    )  # fmt: skip


# --- validation: nothing is sent --------------------------------------------------------------

GOOD_MEDIA: dict[str, Any] = dict(
    album_id=1, title="t", photo_uri="https://example.com/a.jpg", approved=True, email=EMAIL
)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"photo_uri": "ftp://example.com/a.jpg"}, "photo_uri"),
        ({"photo_uri": "not a url"}, "photo_uri"),
        ({"photo_uri": "https://exa mple.com/a.jpg"}, "photo_uri"),
        ({"email": None}, "email or connected_user_id"),
        ({"email": "not-an-email"}, "email"),
        ({"content_type": "image/bmp"}, "content_type"),
        ({"album_id": 0}, "album_id"),
        ({"album_id": "abc"}, "album_id"),
        ({"approved": "maybe"}, "approved"),
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"product_skus": [1, 2]}, "product_skus"),
        ({"connected_user": "[1]"}, "connected_user"),
    ],
)
def test_media_validation_names_the_field(
    wsim: Simulator, override: dict[str, Any], field: str
) -> None:
    args = {**GOOD_MEDIA, **override}
    with pytest.raises(PixleeValidationError) as error:
        _client(wsim).create_media(
            args.pop("album_id"), args.pop("title"), args.pop("photo_uri"), args.pop("approved"),
            **args,
        )  # fmt: skip
    assert field in str(error.value)
    assert wsim.stats.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sku": ""}, "sku"),
        ({"name": None}, "name"),
        ({"price": "abc"}, "price"),
        ({"stock": -1}, "stock"),
        ({"stock": "1.5"}, "stock"),
        ({"currency": "usd"}, "currency"),
        ({"product_photo": "shoe.jpg"}, "product_photo"),
        ({"buy_now_link_url": "www.example.com"}, "buy_now_link_url"),
        ({"regional_info": {"a": 1}}, "regional_info"),
        ({"variants_json": "{not json"}, "variants_json"),
    ],
)
def test_product_validation_names_the_field(
    wsim: Simulator, kwargs: dict[str, Any], field: str
) -> None:
    args = {"sku": "S1", "name": "Shoe", **kwargs}
    with pytest.raises(PixleeValidationError) as error:
        _client(wsim).upsert_product(**args)
    assert str(error.value).startswith(field)
    assert wsim.stats.count() == 0


def test_file_and_album_validation(wsim: Simulator, tmp_path: Path) -> None:
    client = _client(wsim)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    cases: list[tuple[Any, dict[str, Any], str]] = [
        (tmp_path / "missing.jpg", {}, "no such file"),
        (empty, {}, "is empty"),
        (JPEG, {"max_file_bytes": 10}, "over the 10-byte limit"),
        (text, {}, "type text/plain is not accepted"),
        (JPEG, {"content_type": "application/pdf"}, "content_type must be one of"),
    ]
    for file, extra, message in cases:
        with pytest.raises(PixleeValidationError, match=message):
            client.create_media_from_file(file, 1, "t", True, email=EMAIL, **extra)
    with pytest.raises(PixleeValidationError, match="album_type must be one of standard, cat"):
        client.create_album("x", album_type="product")
    with pytest.raises(PixleeValidationError, match="title is required"):
        client.create_album("  ")
    assert wsim.stats.count() == 0


def test_missing_write_keys_fail_before_sending(wsim: Simulator) -> None:
    client = PixleeClient(base_url=wsim.base_url)  # no keys anywhere (dlt config is isolated)
    with pytest.raises(PixleeConfigError) as error:
        client.create_album("x")
    message = str(error.value)
    assert "private_api_key and secret_key" in message
    assert "SOURCES__PIXLEE_SOURCE__PRIVATE_API_KEY" in message
    assert "SOURCES__PIXLEE_SOURCE__SECRET_KEY" in message
    assert wsim.stats.count() == 0


# --- authentication and signatures ------------------------------------------------------------


class _Tamper(HTTPAdapter):
    """A proxy that changes one byte of the body after it was signed."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        assert isinstance(request.body, bytes)
        request.body = request.body.replace(b'"title":"t', b'"title":"T')
        return super().send(request, *args, **kwargs)


def test_tampered_body_is_rejected_and_not_retried(wsim: Simulator) -> None:
    album_id = _standard_album(wsim)
    before = len(wsim.truth_media([album_id]))
    client = _client(wsim)
    client.transport.http.mount("http://", _Tamper(max_retries=0))
    with pytest.raises(PixleeAuthError, match=r"signature \(HTTP 403\).*secret_key"):
        client.create_media(album_id, "tampered", SLASHY_URI, True, email=EMAIL)
    assert wsim.stats.count(method="POST", route=MEDIA_ROUTE, status=403) == 1
    assert wsim.stats.count() == 1
    assert len(wsim.truth_media([album_id])) == before


@pytest.mark.parametrize(
    ("keys", "status", "names"),
    [
        ({"secret_key": "wrong-secret-0004"}, 403, "secret_key"),
        ({"private_api_key": "wrong-private-0005"}, 401, "private_api_key"),
    ],
)
def test_wrong_keys_are_rejected_clearly(
    wsim: Simulator, keys: dict[str, str], status: int, names: str
) -> None:
    client = _client(wsim, None, **keys)
    with pytest.raises(PixleeAuthError) as error:
        client.upsert_product("S-1", "Shoe")
    message = str(error.value)
    assert f"HTTP {status}" in message and names in message
    for secret in (PRIVATE, SECRET, *keys.values()):
        assert secret not in message
    assert wsim.stats.count(method="POST", route=ALBUMS_ROUTE, status=status) == 1
    assert wsim.stats.count() == 1
    assert "S-1" not in wsim.skus()


# --- retries: only what is safe ---------------------------------------------------------------


class _Healer:
    """A client `sleep` that ends the fault spell at the first back-off, recording waits."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sim.set_faults(fault_rate=0.0)


def _fail_once(sim: Simulator, kind: str) -> _Healer:
    """Every request fails with `kind` until the client's first back-off sleep."""
    sim.set_faults(fault_rate=1.0, fault_kinds=(kind,), seed=3)
    return _Healer(sim)


@pytest.mark.parametrize("kind", ["503", "500", "reset", "truncate"])
def test_idempotent_media_post_is_retried_and_lands_once(wsim: Simulator, kind: str) -> None:
    album_id = _standard_album(wsim)
    before = len(wsim.truth_media([album_id]))
    heal = _fail_once(wsim, kind)
    client = _client(wsim, sleep=heal)
    new_id = client.create_media(album_id, "retried", SLASHY_URI, True, email=EMAIL)
    assert len(heal.sleeps) == 1
    assert [r.fault for r in wsim.stats.requests] == [kind, None]
    media = _by_id(wsim, album_id)
    assert len(media) == before + 1 and new_id in media


@pytest.mark.parametrize("kind", ["503", "reset", "truncate"])
def test_album_create_is_not_retried_after_the_body_was_sent(wsim: Simulator, kind: str) -> None:
    heal = _fail_once(wsim, kind)
    albums_before = len(wsim.truth_albums())
    client = _client(wsim, sleep=heal)
    with pytest.raises(PixleeWriteOutcomeUnknown, match="may or may not have applied it"):
        client.create_album("only once")
    assert heal.sleeps == []
    assert wsim.stats.count() == 1
    # a truncated answer means Pixlee did create it: the client must not make a second one
    assert len(wsim.truth_albums()) == albums_before + (1 if kind == "truncate" else 0)


def test_file_upload_retries_only_when_asked(wsim: Simulator) -> None:
    album_id = _standard_album(wsim)
    heal = _fail_once(wsim, "502")
    client = _client(wsim, sleep=heal)
    with pytest.raises(PixleeWriteOutcomeUnknown, match="POST /media/file"):
        client.create_media_from_file(JPEG, album_id, "f", True, email=EMAIL)
    assert wsim.stats.count() == 1
    heal = _fail_once(wsim, "502")
    client = _client(wsim, sleep=heal)
    new_id = client.create_media_from_file(
        JPEG, album_id, "f", True, email=EMAIL, retry_unsafe=True
    )
    assert new_id in _by_id(wsim, album_id)
    assert wsim.stats.count(method="POST", route=FILE_ROUTE, status=502) == 2
    assert wsim.stats.count(method="POST", route=FILE_ROUTE, status=200) == 1


def test_connect_failures_are_retried_even_for_albums() -> None:
    sleeps: list[float] = []
    with Simulator(_config()) as sim:
        client = PixleeClient(
            private_api_key=PRIVATE, secret_key=SECRET, base_url=sim.base_url,
            write_rate_limit_per_minute=0, sleep=sleeps.append,
            retry=RetryPolicy(max_attempts=3, backoff_seconds=0.001),
        )  # fmt: skip
        client.create_album("first")  # Pixlee answered: a refusal later is a network fault
    # the port is closed now: nothing can have been sent
    with pytest.raises(PixleeRetriesExhausted) as error:
        client.create_album("x")
    assert not isinstance(error.value, PixleeWriteOutcomeUnknown)
    assert len(sleeps) == 2
    assert PRIVATE not in str(error.value)


# --- bulk -------------------------------------------------------------------------------------


def _product_rows(count: int, prefix: str = "B") -> list[dict[str, Any]]:
    return [
        {"sku": f"{prefix}{i:03d}", "name": f"Product {i}", "price": str(10 + i), "stock": str(i),
         "currency": "EUR", "product_photo": f"https://cdn.example.com/p/{i}.jpg"}
        for i in range(count)
    ]  # fmt: skip


def test_bulk_products_survive_429s(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    with Simulator(_config(clock=clock, write_rate_limit=5)) as sim:
        client = _client(sim, sleep=clock.advance, retry=RetryPolicy(max_attempts=5))
        seen: list[ItemResult] = []
        results = client.submit_products(_product_rows(12), on_result=seen.append)
        assert seen == results
        assert [r.status for r in results] == ["created"] * 12
        assert [r.key for r in results] == [f"B{i:03d}" for i in range(12)]
        assert sim.stats.count(method="POST", route=ALBUMS_ROUTE, status=200) == 12
        assert sim.stats.count(method="POST", route=ALBUMS_ROUTE, status=429) == 2
        assert client.stats.rate_limited == 2
        assert [s for s in sim.skus() if s.startswith("B")] == [f"B{i:03d}" for i in range(12)]


def test_bulk_reports_each_row_and_never_stops_on_a_bad_one(wsim: Simulator) -> None:
    rows = _product_rows(5)
    rows[1]["product_photo"] = "nope"
    rows[3] = {**rows[3], "colour": "red"}
    existing = wsim.skus()[0]
    rows.append({"sku": existing, "name": "Renamed", "_error": "from an earlier run"})
    results = _client(wsim).submit_products(rows)
    assert [r.status for r in results] == [
        "created", "failed", "created", "failed", "created", "updated"
    ]  # fmt: skip
    assert results[1].error is not None and results[1].error.startswith("product_photo")
    assert results[3].error is not None and "unknown column(s) colour" in results[3].error
    assert not results[1].retryable
    assert results[1].row is rows[1]
    assert isinstance(results[0].id, int) and results[5].id is None
    assert wsim.stats.count(method="POST", route=ALBUMS_ROUTE, status=200) == 4
    assert wsim.stats.count() == 4


def test_bulk_aborts_on_auth_failure(wsim: Simulator) -> None:
    with pytest.raises(PixleeAuthError):
        _client(wsim, secret_key="wrong-secret-0006").submit_products(_product_rows(5))
    assert wsim.stats.count() == 1


def test_bulk_stops_sending_when_pixlee_is_down(wsim: Simulator) -> None:
    wsim.set_faults(fault_rate=1.0, fault_kinds=("503",), seed=1)
    client = _client(wsim, retry=RetryPolicy(max_attempts=2, backoff_seconds=0.001))
    results = client.submit_products(_product_rows(6))
    assert [r.status for r in results] == ["failed"] * 6
    assert all(r.retryable for r in results)
    assert "not sent: Pixlee failed 3 rows in a row" in (results[3].error or "")
    assert wsim.stats.count(method="POST", route=ALBUMS_ROUTE, status=503) == 6  # 3 rows x 2


def test_bulk_media(wsim: Simulator) -> None:
    album_id = _standard_album(wsim)
    before = len(wsim.truth_media([album_id]))
    rows = [
        {"album_id": str(album_id), "title": f"m{i}", "photo_uri": f"https://e.com/{i}.jpg",
         "approved": "true", "email": EMAIL, "product_skus": json.dumps(wsim.skus()[:1])}
        for i in range(3)
    ]  # fmt: skip
    rows.append({**rows[0], "email": ""})
    results = _client(wsim).submit_media(rows + [rows[0]])
    assert [r.status for r in results] == ["created", "created", "created", "failed", "created"]
    assert results[4].id == results[0].id  # idempotent re-post
    assert len(wsim.truth_media([album_id])) == before + 3


# --- secrets ----------------------------------------------------------------------------------


def test_write_secrets_never_reach_logs_or_errors(
    wsim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    album_id = _standard_album(wsim)
    messages: list[str] = []
    wsim.set_faults(fault_rate=0.5, fault_kinds=("500", "reset", "503"), seed=5)
    with caplog.at_level(logging.DEBUG):
        client = _client(wsim, retry=RetryPolicy(max_attempts=10, backoff_seconds=0.001))
        for i in range(6):
            client.create_media(album_id, f"s{i}", f"https://e.com/s{i}.jpg", True, email=EMAIL)
        calls: list[Callable[[], int]] = [
            lambda: client.create_album("a"),
            lambda: _client(wsim, secret_key="bad-secret-0007").create_album("a"),
            lambda: _client(wsim, private_api_key="bad-private-0008").create_album("a"),
        ]
        for call in calls:
            try:
                call()
            except Exception as exc:  # noqa: BLE001 - any error's text is what we check
                messages += [str(exc), repr(exc), str(exc.__context__), str(exc.__cause__)]
    assert any(r.fault for r in wsim.stats.requests)
    assert len(messages) >= 8
    text = caplog.text + "\n".join(messages)
    assert "api_key=***" in caplog.text or "api_key" not in caplog.text
    for secret in (PRIVATE, SECRET, "bad-secret-0007", "bad-private-0008"):
        assert secret not in text
