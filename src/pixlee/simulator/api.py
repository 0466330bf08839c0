"""The Pixlee Content API v2 endpoints: auth, validation, envelopes and error bodies.

Handlers take a parsed ``ApiRequest`` and return a ``ApiResponse``; transport concerns (CDN
cache, rate limit, faults, latency) are the app's business, not theirs. Envelopes are
assembled from pre-serialized item bytes so a page of 100 items costs a join, not 100 encodes.
Bodies and status codes follow ``pixlee-api.md``; where Pixlee's behaviour is unknown the
choice is the strictest plausible one and is listed in README.md ("Inferred").
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .auth import keys_match, signature_valid
from .config import SimulatorConfig
from .query import QueryError, parse_filters, parse_sort
from .serialize import dumps
from .world import World

JSON = b"application/json; charset=utf-8"
TEXT = b"text/plain; charset=utf-8"
HTML = b"text/html; charset=utf-8"

AUTH_FAILED = b'{"status":401,"message":"Auth failed.","photos":[]}'
BAD_SIGNATURE = b'{"error":"Signature mismatch.","status":"403"}'
NO_PRODUCT = b'{"error":"Product does not exist.","status":"404"}'
NO_ALBUM = b'{"error":"Album does not exist.","status":"404"}'
NO_PHOTO = b'{"error":"Photo does not exist.","status":"404"}'
NOT_FOUND = b'{"error":"Not found","status":404}'
METHOD_NOT_ALLOWED = b'{"error":"Method not allowed","status":405}'
TOO_MANY = b'{"status":429,"message":"Too Many Requests"}'
NO_PHOTO_URI = (
    b"No usable value for photo_uri\nDid not find value which can be converted into "
    b"java.lang.String"
)
CONTENT_TYPES = frozenset(
    {
        "image/gif",
        "image/jpeg",
        "image/jpg",
        "image/png",
        "image/webp",
        "video/mp4",
        "video/quicktime",
        "video/x-msvideo",
        "video/x-ms-wmv",
        "video/x-flv",
        "video/3gpp",
    }
)
ALBUM_TYPES = ("standard", "category", "product")
_DIGITS = re.compile(r"[0-9]{1,9}")


@dataclass(slots=True)
class ApiRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    form: Callable[[], Awaitable[dict[str, Any]]] | None = None


@dataclass(slots=True)
class ApiResponse:
    status: int
    body: bytes
    content_type: bytes = JSON
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def error(status: int, message: str) -> ApiResponse:
    """Pixlee's error shape: ``{"error": ..., "status": "<code as string>"}``."""
    return ApiResponse(status, dumps({"error": message, "status": str(status)}))


class BadRequest(Exception):
    """Raised inside handlers; becomes the carried response."""

    def __init__(self, response: ApiResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _paging(query: dict[str, str], config: SimulatorConfig) -> tuple[int, int]:
    """``page`` (default 1) and ``per_page`` (default 30, silently capped at the maximum)."""
    values = []
    for name, default in (("page", 1), ("per_page", config.default_per_page)):
        raw = query.get(name)
        if raw is None or raw == "":
            values.append(default)
            continue
        if not _DIGITS.fullmatch(raw) or int(raw) < 1:
            raise BadRequest(error(400, f"{name} must be a positive integer"))
        values.append(int(raw))
    return values[0], min(values[1], config.max_per_page)


def _album_2016(album: dict[str, Any]) -> dict[str, Any]:
    """POST /albums answered with 2016-style string times (``2016-03-11 04:28:45.592``)."""
    out = dict(album)
    for key in ("created_at", "updated_at"):
        stamp = datetime.fromtimestamp(out[key] / 1000, tz=UTC)
        out[key] = stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{stamp.microsecond // 1000:03d}"
    return out


class PixleeApi:
    """Endpoint handlers over one world."""

    def __init__(self, world: World, config: SimulatorConfig) -> None:
        self.world = world
        self.config = config

    # ------------------------------------------------------------------ guards
    def _check_read(self, request: ApiRequest) -> None:
        if not keys_match(request.query.get("api_key"), self.config.api_key):
            raise BadRequest(ApiResponse(401, AUTH_FAILED))

    def _check_write(self, request: ApiRequest, signed: bytes | None = None) -> None:
        """Private key in the query (401), then the signature over the exact bytes (403)."""
        if not keys_match(request.query.get("api_key"), self.config.private_api_key):
            raise BadRequest(ApiResponse(401, AUTH_FAILED))
        self._check_signature(request, request.body if signed is None else signed)

    def _check_signature(self, request: ApiRequest, signed: bytes) -> None:
        if not signature_valid(
            self.config.secret_key,
            signed,
            request.headers.get("signature"),
            request.headers.get("signature-algorithm"),
        ):
            raise BadRequest(ApiResponse(403, BAD_SIGNATURE))

    @staticmethod
    def _json_body(raw: bytes) -> dict[str, Any]:
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise BadRequest(error(400, "Request body is not valid JSON")) from exc
        if not isinstance(value, dict):
            raise BadRequest(error(400, "Request body must be a JSON object"))
        return value

    # ------------------------------------------------------------------ reads
    def _photos_page(self, request: ApiRequest, album_id: int) -> ApiResponse:
        page, per_page = _paging(request.query, self.config)
        try:
            spec = parse_sort(request.query.get("sort"))
            filters_key, preds = parse_filters(request.query.get("filters"))
        except QueryError as exc:
            raise BadRequest(error(400, str(exc))) from exc
        items, has_next = self.world.page(album_id, spec, filters_key, preds, page, per_page)
        head = (
            b'{"account_id":%d,"album_id":%d,"page":%d,"per_page":%d,"total":%d,"next":%s,"data":['
            % (
                self.world.account_id,
                album_id,
                page,
                per_page,
                len(items),
                b"true" if has_next else b"false",
            )
        )
        tail = b'],"message":"Successfully returned album photos","status":200,"sortType":"%s"}' % (
            spec.key.encode()
        )
        return ApiResponse(200, b"".join((head, b",".join(items), tail)))

    def album_photos(self, request: ApiRequest) -> ApiResponse:
        """GET /albums/{album_id}/photos (``sku``/``product_name`` pick the product's album)."""
        self._check_read(request)
        raw_id = request.params["album_id"]
        album = self.world.album(int(raw_id)) if _DIGITS.fullmatch(raw_id) else None
        if album is None:
            raise BadRequest(ApiResponse(404, NO_ALBUM))
        album_id = album.id
        sku, name = request.query.get("sku"), request.query.get("product_name")
        product = (
            self.world.product_by_sku(sku)
            if sku
            else self.world.product_by_name(name)
            if name
            else None
        )
        if product is not None:
            album_id = product.album_id
        return self._photos_page(request, album_id)

    def from_sku(self, request: ApiRequest) -> ApiResponse:
        """GET /albums/from_sku?sku=: the product album's content."""
        self._check_read(request)
        sku = request.query.get("sku")
        if not sku:
            raise BadRequest(error(400, "sku is required"))
        product = self.world.product_by_sku(sku)
        if product is None:
            raise BadRequest(ApiResponse(404, NO_PRODUCT))
        return self._photos_page(request, product.album_id)

    def list_albums(self, request: ApiRequest) -> ApiResponse:
        """GET /albums, paginated like the photos endpoint."""
        self._check_read(request)
        page, per_page = _paging(request.query, self.config)
        albums, has_next = self.world.albums_page(page, per_page)
        envelope = {
            "status": 200,
            "message": "Successfully returned albums",
            "page": page,
            "per_page": per_page,
            "total": len(albums),
            "next": has_next,
            "data": albums,
        }
        return ApiResponse(200, dumps(envelope))

    def media(self, request: ApiRequest) -> ApiResponse:
        """GET /media/{album_photo_id}: one served item under ``data`` (status as a string)."""
        self._check_read(request)
        raw_id = request.params["album_photo_id"]
        item = self.world.media_bytes(int(raw_id)) if _DIGITS.fullmatch(raw_id) else None
        if item is None:
            raise BadRequest(ApiResponse(404, NO_PHOTO))
        return ApiResponse(
            200,
            b'{"status":"200","message":"Successfully returned photo","data":' + item + b"}",
        )

    # ------------------------------------------------------------------ writes
    def _create(self, payload: dict[str, Any], photo_uri: Any, source: str) -> ApiResponse:
        """Shared validation of POST /media and POST /media/file metadata."""
        album_id = payload.get("album_id")
        if album_id is None:
            raise BadRequest(error(400, "album_id is required"))
        if not isinstance(album_id, int) or isinstance(album_id, bool):
            raise BadRequest(error(400, "album_id must be an integer"))
        title = payload.get("title")
        if not isinstance(title, str):
            raise BadRequest(error(400, "title is required"))
        if not isinstance(photo_uri, str) or not photo_uri:
            raise BadRequest(ApiResponse(500, NO_PHOTO_URI, TEXT))
        approved = payload.get("approved")
        if not isinstance(approved, bool):
            raise BadRequest(error(400, "approved is required and must be a boolean"))
        email, user_id = payload.get("email"), payload.get("connected_user_id")
        if not email and user_id is None:
            raise BadRequest(error(400, "Either email or connected_user_id is required"))
        if user_id is not None and (not isinstance(user_id, int) or isinstance(user_id, bool)):
            raise BadRequest(error(400, "connected_user_id must be an integer"))
        if email is not None and not isinstance(email, str):
            raise BadRequest(error(400, "email must be a string"))
        mime = payload.get("content_type", "image/jpeg")
        if mime not in CONTENT_TYPES:
            raise BadRequest(error(400, f"content_type must be one of {sorted(CONTENT_TYPES)}"))
        lists: dict[str, list[str]] = {}
        for name in ("product_skus", "category_names"):
            value = payload.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise BadRequest(error(400, f"{name} must be a list of strings"))
            lists[name] = value
        username = payload.get("username")
        if self.world.album(album_id) is None:
            raise BadRequest(ApiResponse(404, NO_ALBUM))
        album_photo_id, connected_user_id = self.world.create_media(
            album_id=album_id,
            title=title,
            photo_uri=photo_uri,
            approved=approved,
            email=None if user_id is not None else email,
            connected_user_id=user_id,
            username=username if isinstance(username, str) else None,
            content_type="video" if str(mime).startswith("video/") else "image",
            product_skus=lists["product_skus"],
            category_names=lists["category_names"],
            source=source,
        )
        return ApiResponse(
            200,
            dumps(
                {
                    "album_photo_id": str(album_photo_id),
                    "connected_user_id": str(connected_user_id),
                }
            ),
        )

    def create_media(self, request: ApiRequest) -> ApiResponse:
        """POST /media (signed JSON)."""
        self._check_write(request)
        payload = self._json_body(request.body)
        return self._create(payload, payload.get("photo_uri"), "api")

    async def create_media_file(self, request: ApiRequest) -> ApiResponse:
        """POST /media/file: multipart ``file`` + ``json``; the signature covers ``json``."""
        if not keys_match(request.query.get("api_key"), self.config.private_api_key):
            raise BadRequest(ApiResponse(401, AUTH_FAILED))
        if request.form is None or not request.headers.get("content-type", "").startswith(
            "multipart/form-data"
        ):
            raise BadRequest(error(400, "multipart/form-data with file and json parts required"))
        try:
            form = await request.form()
        except Exception as exc:  # noqa: BLE001 - any parser failure is the client's 400
            raise BadRequest(error(400, "malformed multipart body")) from exc
        raw_json = form.get("json")
        if raw_json is None:
            raise BadRequest(error(400, "json part is required"))
        json_bytes = raw_json.encode() if isinstance(raw_json, str) else await raw_json.read()
        self._check_signature(request, json_bytes)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadRequest(error(400, "file part is required"))
        content = await upload.read()
        if not content:
            raise BadRequest(error(400, "file part is empty"))
        payload = self._json_body(json_bytes)
        digest = hashlib.sha1(content).hexdigest()
        name = upload.filename or "upload.jpg"
        uri = f"https://static.pixlee.com/uploads/{digest}/{name}"
        return self._create(payload, uri, "desktop")

    def create_album(self, request: ApiRequest) -> ApiResponse:
        """POST /albums: a standard/category album, or a product (created or updated by sku)."""
        self._check_write(request)
        payload = self._json_body(request.body)
        title = payload.get("title")
        if not isinstance(title, str) or not title:
            raise BadRequest(error(400, "title is required"))
        album_type = payload.get("album_type", "standard")
        if album_type not in ALBUM_TYPES:
            raise BadRequest(error(400, "album_type must be standard, category or product"))
        product = payload.get("product")
        if album_type == "product" or product is not None:
            if not isinstance(product, dict) or not isinstance(product.get("sku"), str | int):
                raise BadRequest(error(400, "product with a sku is required"))
            if isinstance(product.get("sku"), bool) or str(product["sku"]) == "":
                raise BadRequest(error(400, "product with a sku is required"))
            album, created = self.world.upsert_product(title, product)
            if not created:
                return ApiResponse(200, b"Product updated.", TEXT)
        else:
            album = self.world.create_album(title, album_type)
        return ApiResponse(200, dumps(_album_2016(self.world.album_json(album.id))))
