"""Keys, signatures (with the documented HMAC test vector) and the signed write endpoints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from pixlee.simulator import (
    DEMO_API_KEY,
    DEMO_PRIVATE_API_KEY,
    DEMO_SECRET_KEY,
    Simulator,
)

from .conftest import get, standard_album

VECTOR_BODY = (
    b'{"album_id":12345,"title":"Testing Photo Upload","approved":true,'
    b'"email":"test@example.com","username":"Submitter Person",'
    b'"photo_uri":"https://example.com/test.jpg"}'
)
VECTOR_SIGNATURE = "epBvDlHbQho/rNDdQVJowWMtGsg="
SPACED_SIGNATURE = "3oMQDGKTCwblRY26NaGIDBimtmc="
ESCAPED_SIGNATURE = "ZIu5XJEB5N0ZTGNVl7Qur/bQehw="
AUTH_FAILED = {"status": 401, "message": "Auth failed.", "photos": []}
BAD_SIGNATURE = {"error": "Signature mismatch.", "status": "403"}


def sign(body: bytes, secret: str = DEMO_SECRET_KEY, digest: Any = hashlib.sha1) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, digest).digest()).decode()


def post(
    http: requests.Session,
    sim: Simulator,
    path: str,
    body: bytes,
    signature: str | None = None,
    key: str = DEMO_PRIVATE_API_KEY,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    sent = {"Content-Type": "application/json", **(headers or {})}
    sent["Signature"] = sign(body) if signature is None else signature
    return http.post(
        sim.base_url + path, params={"api_key": key}, data=body, headers=sent, timeout=10
    )


def minified(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


@pytest.fixture
def vector_sim(make_sim: Callable[..., Simulator]) -> Simulator:
    return make_sim(albums=1, media_per_album=5, first_album_id=12345, secret_key="ABCDEFG")


def test_hmac_test_vector_is_accepted(vector_sim: Simulator, http: requests.Session) -> None:
    assert sign(VECTOR_BODY, "ABCDEFG") == VECTOR_SIGNATURE
    response = post(http, vector_sim, "/media", VECTOR_BODY, VECTOR_SIGNATURE)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["album_photo_id", "connected_user_id"]
    assert all(isinstance(v, str) and v.isdigit() for v in body.values())
    served = vector_sim.truth_media([12345])[0]
    assert served["album_photo_id"] == int(body["album_photo_id"])
    assert served["title"] == "Testing Photo Upload"
    assert served["source_url"] == "https://example.com/test.jpg"


@pytest.mark.parametrize("signature", [SPACED_SIGNATURE, ESCAPED_SIGNATURE])
def test_hmac_negative_controls_are_rejected(
    vector_sim: Simulator, http: requests.Session, signature: str
) -> None:
    response = post(http, vector_sim, "/media", VECTOR_BODY, signature)
    assert (response.status_code, response.json()) == (403, BAD_SIGNATURE)
    assert len(vector_sim.truth_media([12345])) == 5


def test_the_signature_covers_the_bytes_sent(vector_sim: Simulator, http: requests.Session) -> None:
    spaced = VECTOR_BODY.replace(b'","', b'", "').replace(b'":', b'": ').replace(b',"', b', "')
    assert post(http, vector_sim, "/media", spaced, VECTOR_SIGNATURE).status_code == 403
    escaped = VECTOR_BODY.replace(b"/", b"\\/")
    assert post(http, vector_sim, "/media", escaped, VECTOR_SIGNATURE).status_code == 403


def test_sha256_variant(vector_sim: Simulator, http: requests.Session) -> None:
    sha256 = sign(VECTOR_BODY, "ABCDEFG", hashlib.sha256)
    algo = {"Signature-Algorithm": "hmac-sha256"}
    assert post(http, vector_sim, "/media", VECTOR_BODY, sha256, headers=algo).status_code == 200
    wrong = post(http, vector_sim, "/media", VECTOR_BODY, VECTOR_SIGNATURE, headers=algo)
    assert wrong.status_code == 403
    assert post(http, vector_sim, "/media", VECTOR_BODY, sha256).status_code == 403


def test_read_and_write_keys(sim: Simulator, http: requests.Session) -> None:
    album = f"/albums/{standard_album(sim)}/photos"
    for key in ("wrong", DEMO_PRIVATE_API_KEY):
        response = get(http, sim, album, api_key=key)
        assert (response.status_code, response.json()) == (401, AUTH_FAILED)
    missing = http.get(sim.base_url + album, timeout=5)
    assert (missing.status_code, missing.json()) == (401, AUTH_FAILED)
    body = minified({"title": "x"})
    for key in ("wrong", DEMO_API_KEY):
        response = post(http, sim, "/albums", body, key=key)
        assert (response.status_code, response.json()) == (401, AUTH_FAILED)
    unsigned = http.post(
        sim.base_url + "/albums", params={"api_key": DEMO_PRIVATE_API_KEY}, data=body, timeout=5
    )
    assert (unsigned.status_code, unsigned.json()) == (403, BAD_SIGNATURE)
    assert post(http, sim, "/albums", body, signature="not base64!").status_code == 403


def media_payload(sim: Simulator, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "album_id": standard_album(sim),
        "title": "Hello \u2728\nworld",
        "approved": True,
        "email": "new.person@example.com",
        "photo_uri": "https://example.com/new.jpg",
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


@pytest.mark.parametrize(
    ("overrides", "status", "expected"),
    [
        ({"email": None}, 400, {"error": "Either email or connected_user_id is required", "status": "400"}),  # noqa: E501
        ({"album_id": None}, 400, {"error": "album_id is required", "status": "400"}),
        ({"title": None}, 400, {"error": "title is required", "status": "400"}),
        ({"approved": "yes"}, 400, {"error": "approved is required and must be a boolean", "status": "400"}),  # noqa: E501
        ({"album_id": 1}, 404, {"error": "Album does not exist.", "status": "404"}),
        ({"product_skus": "abc"}, 400, {"error": "product_skus must be a list of strings", "status": "400"}),  # noqa: E501
    ],
)  # fmt: skip
def test_create_media_validation(
    sim: Simulator,
    http: requests.Session,
    overrides: dict[str, Any],
    status: int,
    expected: dict[str, Any],
) -> None:
    response = post(http, sim, "/media", minified(media_payload(sim, **overrides)))
    assert (response.status_code, response.json()) == (status, expected)


def test_create_media_other_errors(sim: Simulator, http: requests.Session) -> None:
    no_uri = post(http, sim, "/media", minified(media_payload(sim, photo_uri=None)))
    assert no_uri.status_code == 500
    assert no_uri.headers["content-type"].startswith("text/plain")
    assert no_uri.text.startswith("No usable value for photo_uri\n")
    bad_type = post(http, sim, "/media", minified(media_payload(sim, content_type="text/html")))
    assert bad_type.status_code == 400
    bad_json = post(http, sim, "/media", b"{not json")
    assert (bad_json.status_code, bad_json.json()["status"]) == (400, "400")


def test_create_media_is_idempotent_and_adds_tags(sim: Simulator, http: requests.Session) -> None:
    album_id = standard_album(sim)
    before = len(sim.truth_media([album_id]))
    first = post(http, sim, "/media", minified(media_payload(sim))).json()
    sku = sim.skus()[0]
    again = post(
        http, sim, "/media", minified(media_payload(sim, product_skus=[sku], title="other"))
    ).json()
    assert first == again
    items = sim.truth_media([album_id])
    assert len(items) == before + 1
    new = next(i for i in items if i["album_photo_id"] == int(first["album_photo_id"]))
    assert items[0] == new  # newest approved content is at the head
    assert [p["sku"] for p in new["products"]] == [sku]
    assert new["title"] == "Hello \u2728\nworld"  # a re-post changes nothing but tags
    assert new["id"] in {i["id"] for i in sim.truth_sku_media(sku)}
    by_user = post(
        http,
        sim,
        "/media",
        minified(media_payload(sim, photo_uri="https://e.com/2.jpg", connected_user_id=4242)),
    ).json()
    assert by_user["connected_user_id"] == "4242"


def test_unapproved_upload_is_not_served(sim: Simulator, http: requests.Session) -> None:
    album_id = standard_album(sim)
    before = sim.truth_media([album_id])
    body = post(http, sim, "/media", minified(media_payload(sim, approved=False))).json()
    assert sim.truth_media([album_id]) == before
    assert get(http, sim, f"/media/{body['album_photo_id']}").status_code == 404


def test_create_media_from_file(sim: Simulator, http: requests.Session) -> None:
    meta = media_payload(sim, photo_uri=None, content_type="image/png")
    meta_json = json.dumps(meta, separators=(",", ":"))
    params = {"api_key": DEMO_PRIVATE_API_KEY}
    files: dict[str, Any] = {
        "file": ("pic.png", b"\x89PNG fake bytes", "image/png"),
        "json": (None, meta_json),
    }
    ok = http.post(
        sim.base_url + "/media/file",
        params=params,
        files=files,
        headers={"Signature": sign(meta_json.encode())},
        timeout=10,
    )
    assert ok.status_code == 200, ok.text
    item = next(
        i
        for i in sim.truth_media([meta["album_id"]])
        if i["album_photo_id"] == int(ok.json()["album_photo_id"])
    )
    assert item["source"] == "desktop" and item["source_url"].endswith("/pic.png")
    bad_sig = http.post(
        sim.base_url + "/media/file",
        params=params,
        files=files,
        headers={"Signature": sign(b"something else")},
        timeout=10,
    )
    assert (bad_sig.status_code, bad_sig.json()) == (403, BAD_SIGNATURE)
    no_file = http.post(
        sim.base_url + "/media/file",
        params=params,
        files={"json": (None, meta_json.encode())},
        headers={"Signature": sign(meta_json.encode())},
        timeout=10,
    )
    assert (no_file.status_code, no_file.json()) == (
        400,
        {"error": "file part is required", "status": "400"},
    )


def test_create_albums_and_products(sim: Simulator, http: requests.Session) -> None:
    created = post(http, sim, "/albums", minified({"title": "Summer", "album_type": "category"}))
    assert created.status_code == 200
    album = created.json()
    assert "data" not in album
    assert (album["title"], album["album_type"], album["num_photos"]) == ("Summer", "category", 0)
    assert len(album["created_at"]) == len("2016-03-11 04:28:45.592")
    assert album["id"] in [a["id"] for a in sim.truth_albums()]

    product = {
        "sku": "PTS5",
        "name": "Pixlee Tshirt",
        "product_photo": "https://pixlee.com/shirt.jpg",
        "buy_now_link_url": "https://pixlee.com/tshirt",
        "price": 234,
        "stock": 12,
        "currency": "USD",
    }
    body = {"title": "Pixlee Tshirt", "album_type": "product", "product": product}
    first = post(http, sim, "/albums", minified(body))
    assert first.status_code == 200 and first.json()["album_type"] == "product"
    assert "PTS5" in sim.skus()
    assert get(http, sim, "/albums/from_sku", sku="PTS5").json()["data"] == []
    update = post(http, sim, "/albums", minified({**body, "product": {**product, "price": 199}}))
    assert (update.status_code, update.text) == (200, "Product updated.")
    assert update.headers["content-type"].startswith("text/plain")
    for bad in (
        {"album_type": "standard"},
        {"title": "x", "album_type": "weird"},
        {"title": "x", "album_type": "product"},
        {"title": "x", "album_type": "product", "product": {"name": "no sku"}},
    ):
        assert post(http, sim, "/albums", minified(bad)).status_code == 400
