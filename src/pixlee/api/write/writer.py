"""Signed writes to Pixlee: content from a URL or a file, albums, products, and bulk submits.

Every POST is serialised once with :func:`pixlee.api.write.signing.minified_json` (``,``/``:``
separators, ``/`` not escaped, non-ASCII kept as UTF-8), those exact bytes are signed and those
exact bytes are sent, so the signature Pixlee recomputes always matches. Inputs are validated
before anything is sent, with an error that names the field.

Retrying a write is only safe when sending it twice cannot create two things. So:

* 429 and failures to *connect* are always retried: nothing reached Pixlee.
* 5xx, read timeouts, resets and cut responses (the body was sent; Pixlee may have acted on it)
  are retried only for idempotent writes: ``POST /media`` with a ``photo_uri`` (re-posting the
  same image changes nothing but tags, per the reference) and product upserts (keyed by
  ``sku``). Album creation and file uploads are not idempotent: such a failure raises
  :class:`PixleeWriteOutcomeUnknown` instead (a file upload can opt in with ``retry_unsafe``).
"""

from __future__ import annotations

import json
import logging
import math
import mimetypes
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError

from pixlee.api.errors import (
    PixleeAuthError,
    PixleeConfigError,
    PixleeError,
    PixleeNotFoundError,
    PixleeRequestError,
    PixleeResponseError,
    PixleeRetriesExhausted,
    PixleeValidationError,
)
from pixlee.api.redaction import redact
from pixlee.api.values import to_int
from pixlee.api.write.signing import Algorithm, minified_json, signature_headers

if TYPE_CHECKING:
    from pixlee.api.client import PixleeClient

logger = logging.getLogger(__name__)

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
ALBUM_TYPES = ("standard", "category")
SIGNATURE_ALGORITHMS = ("sha1", "sha256")
# Pixlee documents no upload limit; 100 MiB keeps a mistaken upload (a whole video archive)
# from being streamed for minutes only to be refused. Raise it per call with `max_file_bytes`.
MAX_FILE_BYTES = 100 * 1024 * 1024
# After this many rows in a row fail with exhausted retries, Pixlee is down: stop trying.
UNAVAILABLE_AFTER = 3
PRODUCT_FIELDS = (
    "sku",
    "name",
    "title",
    "product_photo",
    "buy_now_link_url",
    "buy_now_text",
    "price",
    "stock",
    "currency",
    "region_code",
    "regional_info",
    "variants_json",
    "extra_fields",
)
MEDIA_FIELDS = (
    "album_id",
    "title",
    "photo_uri",
    "approved",
    "email",
    "connected_user_id",
    "username",
    "content_type",
    "avatar_url",
    "vendor_id",
    "product_skus",
    "category_names",
    "connected_user",
)
Outcome = Literal["created", "updated"]
_TEXT = "_text"  # key under which a 2xx body that is not JSON ("Product updated.") is returned
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_PERMANENT_500 = "No usable value"  # Pixlee's plain-text 500 for an unusable photo_uri
_WRITE_KEYS_HELP = (
    "set `private_api_key` and `secret_key` under [sources.pixlee_source] in .dlt/secrets.toml "
    "(or SOURCES__PIXLEE_SOURCE__PRIVATE_API_KEY / SOURCES__PIXLEE_SOURCE__SECRET_KEY); both are "
    "in the Pixlee app under Settings → Pixlee API"
)


class PixleeWriteOutcomeUnknown(PixleeRetriesExhausted):
    """A non-idempotent write failed after its body was sent: it may or may not have happened.

    Not retried, because a second attempt could create a duplicate album or upload.
    """


@dataclass(frozen=True)
class ProductResult:
    """The outcome of one product upsert: Pixlee creates a product album or updates by sku."""

    sku: str
    created: bool
    album_id: int | None = None

    @property
    def status(self) -> Outcome:
        return "created" if self.created else "updated"


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one row of a bulk submit; `row` is the input, for resubmitting failures."""

    index: int
    key: str
    status: Literal["created", "updated", "failed"]
    id: int | None = None
    error: str | None = None
    retryable: bool = False
    row: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class PixleeWriteMixin:
    """Write methods of :class:`pixlee.api.client.PixleeClient` (signed POSTs)."""

    # --- single calls -------------------------------------------------------------------------

    def create_media(
        self,
        album_id: int,
        title: str,
        photo_uri: str,
        approved: bool,
        *,
        email: str | None = None,
        connected_user_id: int | None = None,
        username: str | None = None,
        content_type: str | None = None,
        avatar_url: str | None = None,
        vendor_id: str | None = None,
        product_skus: Iterable[str] | None = None,
        category_names: Iterable[str] | None = None,
        connected_user: Mapping[str, Any] | None = None,
        algorithm: Algorithm | None = None,
    ) -> int:
        """POST /media: add content from a public URL; returns the new `album_photo_id`.

        Idempotent per the reference (the same `photo_uri` again only adds tags), so 5xx and
        resets are retried.
        """
        payload = _media_payload(
            album_id=album_id,
            title=title,
            approved=approved,
            email=email,
            connected_user_id=connected_user_id,
            username=username,
            content_type=content_type,
            avatar_url=avatar_url,
            vendor_id=vendor_id,
            product_skus=product_skus,
            category_names=category_names,
            connected_user=connected_user,
        )
        payload["photo_uri"] = _check_url(photo_uri, "photo_uri")
        body = self._post_signed("/media", payload, idempotent=True, algorithm=algorithm)
        return _id_from(body, "album_photo_id", "POST /media")

    def create_media_from_file(
        self,
        file: str | Path | bytes,
        album_id: int,
        title: str,
        approved: bool,
        *,
        filename: str | None = None,
        email: str | None = None,
        connected_user_id: int | None = None,
        username: str | None = None,
        content_type: str | None = None,
        avatar_url: str | None = None,
        vendor_id: str | None = None,
        product_skus: Iterable[str] | None = None,
        category_names: Iterable[str] | None = None,
        connected_user: Mapping[str, Any] | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
        retry_unsafe: bool = False,
        algorithm: Algorithm | None = None,
    ) -> int:
        """POST /media/file: upload a file (multipart `file` + `json`); the new `album_photo_id`.

        The signature covers the `json` part. An upload has no URL to deduplicate on, so a 5xx
        or reset after the bytes were sent is *not* retried unless `retry_unsafe=True` (which
        accepts that Pixlee may then hold the upload twice).
        """
        data, name = _read_upload(file, filename, max_file_bytes)
        mime = _upload_content_type(data, name, content_type)
        payload = _media_payload(
            album_id=album_id,
            title=title,
            approved=approved,
            email=email,
            connected_user_id=connected_user_id,
            username=username,
            content_type=mime,
            avatar_url=avatar_url,
            vendor_id=vendor_id,
            product_skus=product_skus,
            category_names=category_names,
            connected_user=connected_user,
        )
        client = self._as_client()
        private_key, secret = self._write_credentials()
        body = minified_json(payload)
        headers = signature_headers(secret, body, self._algorithm(algorithm))
        url = client._url("/media/file")
        parts: list[tuple[str, tuple[str | None, bytes] | tuple[str | None, bytes, str]]] = [
            ("file", (name, data, mime)),
            ("json", (None, body)),  # no filename: a form field, signed byte for byte
        ]

        def send() -> requests.Response:
            return client.session.post(
                url,
                params={"api_key": private_key},
                files=parts,
                headers=headers,
                timeout=client.timeout,
            )

        what = "POST /media/file"
        result = client._with_retries(
            lambda: self._send_write(send, what, idempotent=retry_unsafe), what
        )
        return _id_from(result, "album_photo_id", what)

    def create_album(
        self, title: str, album_type: str = "standard", *, algorithm: Algorithm | None = None
    ) -> int:
        """POST /albums: a standard or category album; returns its id.

        Not idempotent (two posts make two albums), so only 429 and connect failures are
        retried. Product albums come from :meth:`upsert_product`.
        """
        title = _require_text(title, "title")
        if album_type not in ALBUM_TYPES:
            raise PixleeValidationError(
                f"album_type must be one of {', '.join(ALBUM_TYPES)} (products: use "
                f"upsert_product), got {album_type!r}"
            )
        payload = {"title": title, "album_type": album_type}
        body = self._post_signed("/albums", payload, idempotent=False, algorithm=algorithm)
        return _id_from(_album_object(body), "id", "POST /albums")

    def upsert_product(
        self,
        sku: str,
        name: str | None = None,
        product_photo: str | None = None,
        buy_now_link_url: str | None = None,
        price: float | str | None = None,
        stock: int | str | None = None,
        currency: str | None = None,
        *,
        title: str | None = None,
        buy_now_text: str | None = None,
        region_code: str | None = None,
        regional_info: Iterable[Mapping[str, Any]] | None = None,
        variants_json: str | Mapping[str, Any] | list[Any] | None = None,
        extra_fields: str | Mapping[str, Any] | None = None,
        algorithm: Algorithm | None = None,
    ) -> ProductResult:
        """POST /albums with a `product`: create the product (and its album) or update by sku.

        Pixlee answers the album JSON on create and the text ``Product updated.`` on update.
        Keyed by sku, so a retry after a 5xx is safe. Numbers may be given as text (CSV cells).
        """
        payload = _product_payload(
            sku=sku,
            name=name,
            title=title,
            product_photo=product_photo,
            buy_now_link_url=buy_now_link_url,
            buy_now_text=buy_now_text,
            price=price,
            stock=stock,
            currency=currency,
            region_code=region_code,
            regional_info=regional_info,
            variants_json=variants_json,
            extra_fields=extra_fields,
        )
        body = self._post_signed("/albums", payload, idempotent=True, algorithm=algorithm)
        return _product_result(payload["product"]["sku"], body)

    # --- bulk -----------------------------------------------------------------------------------

    def submit_products(
        self,
        rows: Iterable[Mapping[str, Any]],
        on_result: Callable[[ItemResult], None] | None = None,
        *,
        algorithm: Algorithm | None = None,
    ) -> list[ItemResult]:
        """Upsert many products; one outcome per row, in order.

        A bad row never stops the batch; a rejected key (401/403) or missing configuration
        stops everything (every other row would fail the same way).
        """

        def upsert(row: Mapping[str, Any]) -> tuple[Outcome, int | None]:
            result = self.upsert_product(**_row_kwargs(row, PRODUCT_FIELDS), algorithm=algorithm)
            return result.status, result.album_id

        return self._submit(rows, upsert, lambda row: str(row.get("sku") or ""), on_result)

    def submit_media(
        self,
        rows: Iterable[Mapping[str, Any]],
        on_result: Callable[[ItemResult], None] | None = None,
        *,
        algorithm: Algorithm | None = None,
    ) -> list[ItemResult]:
        """Create many media from URLs (POST /media per row); one outcome per row, in order."""

        def create(row: Mapping[str, Any]) -> tuple[Outcome, int | None]:
            kwargs = _row_kwargs(row, MEDIA_FIELDS)
            return "created", self.create_media(**kwargs, algorithm=algorithm)

        return self._submit(rows, create, lambda row: str(row.get("photo_uri") or ""), on_result)

    def _submit(
        self,
        rows: Iterable[Mapping[str, Any]],
        write: Callable[[Mapping[str, Any]], tuple[Outcome, int | None]],
        key_of: Callable[[Mapping[str, Any]], str],
        on_result: Callable[[ItemResult], None] | None,
    ) -> list[ItemResult]:
        results: list[ItemResult] = []
        unavailable: str | None = None
        exhausted_in_a_row = 0
        for index, row in enumerate(rows):
            if unavailable is not None:
                result = _failed(index, key_of(row), row, unavailable, retryable=True)
            else:
                result = self._submit_one(index, row, write, key_of)
                exhausted_in_a_row = exhausted_in_a_row + 1 if result.retryable else 0
                if exhausted_in_a_row >= UNAVAILABLE_AFTER:
                    unavailable = (
                        f"not sent: Pixlee failed {UNAVAILABLE_AFTER} rows in a row after "
                        f"retries ({result.error})"
                    )
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results

    def _submit_one(
        self,
        index: int,
        row: Mapping[str, Any],
        write: Callable[[Mapping[str, Any]], tuple[Outcome, int | None]],
        key_of: Callable[[Mapping[str, Any]], str],
    ) -> ItemResult:
        key = key_of(row)
        failure: PixleeError | None = None
        try:
            status, new_id = write(row)
        except (PixleeAuthError, PixleeConfigError):
            raise
        except (
            PixleeValidationError,
            PixleeRequestError,
            PixleeNotFoundError,
            PixleeResponseError,
            PixleeRetriesExhausted,
        ) as exc:
            failure = exc  # this row only; reported, and the batch goes on
        if failure is not None:
            # Exhausted retries may succeed later; an unknown outcome must be checked by a human.
            retryable = isinstance(failure, PixleeRetriesExhausted) and not isinstance(
                failure, PixleeWriteOutcomeUnknown
            )
            return _failed(index, key, row, str(failure), retryable=retryable)
        return ItemResult(index, key, status, new_id, row=row)

    # --- the signed POST ------------------------------------------------------------------------

    def _as_client(self) -> PixleeClient:
        return self  # type: ignore[return-value]

    def _algorithm(self, algorithm: Algorithm | None) -> Algorithm:
        chosen = algorithm or getattr(self, "signature_algorithm", None) or "sha1"
        if chosen not in SIGNATURE_ALGORITHMS:
            raise PixleeConfigError(f"signature algorithm must be sha1 or sha256, got {chosen!r}")
        return cast(Algorithm, chosen)

    def _write_credentials(self) -> tuple[str, str]:
        """The private key and secret, or a config error saying where to put them."""
        client = self._as_client()
        missing = [
            name
            for name, value in (
                ("private_api_key", client.private_api_key),
                ("secret_key", client.secret_key),
            )
            if not value
        ]
        if missing:
            raise PixleeConfigError(
                f"Pixlee writes need {' and '.join(missing)}, which is missing: {_WRITE_KEYS_HELP}."
            )
        assert client.private_api_key is not None and client.secret_key is not None
        return client.private_api_key, client.secret_key

    def _post_signed(
        self,
        path: str,
        payload: Mapping[str, Any],
        *,
        idempotent: bool,
        algorithm: Algorithm | None = None,
    ) -> dict[str, Any]:
        """Serialise once, sign those bytes, send those bytes; retry only what is safe."""
        client = self._as_client()
        private_key, secret = self._write_credentials()
        body = minified_json(payload)
        headers = {
            "Content-Type": "application/json",
            **signature_headers(secret, body, self._algorithm(algorithm)),
        }
        url = client._url(path)

        def send() -> requests.Response:
            return client.session.post(
                url,
                params={"api_key": private_key},
                data=body,
                headers=headers,
                timeout=client.timeout,
            )

        what = f"POST {path}"
        return client._with_retries(lambda: self._send_write(send, what, idempotent), what)

    def _send_write(
        self, send: Callable[[], requests.Response], what: str, idempotent: bool
    ) -> dict[str, Any]:
        """One paced attempt; raises `_TransientError` only when another attempt is safe."""
        from pixlee.api.client import _TransientError

        client = self._as_client()
        client.write_pacer.wait()
        client.stats.add(requests=1)
        failure: str | None = None
        body_may_have_arrived = False
        try:
            response = send()
            content = response.content
        except requests.RequestException as exc:
            failure = f"{what}: {type(exc).__name__}: {redact(str(exc))}"
            body_may_have_arrived = not _failed_before_sending(exc)
        # Raised outside the `except`: the original carries the URL (and its key) in its message.
        if failure is not None:
            if body_may_have_arrived and not idempotent:
                raise _outcome_unknown(what, failure)
            raise _TransientError(failure)
        return self._interpret_write(response, content, what, idempotent)

    def _interpret_write(
        self, response: requests.Response, content: bytes, what: str, idempotent: bool
    ) -> dict[str, Any]:
        """Like the read side's `_interpret`, plus what only writes see.

        A 2xx text body (``Product updated.``) is an answer, not a broken CDN page; 401 and 403
        name the write credentials; a 5xx is retried only when the write is idempotent.
        """
        from pixlee.api.client import _snippet, _TransientError

        client = self._as_client()
        status = response.status_code
        text = content.decode("utf-8", errors="replace")
        if status in (401, 403):
            raise PixleeAuthError(_auth_message(status, what, redact(_snippet(text))))
        if status >= 500 and text.startswith(_PERMANENT_500):
            raise PixleeRequestError(f"Pixlee rejected {what} (HTTP {status}): {_snippet(text)}")
        if status >= 500 and not idempotent:
            raise _outcome_unknown(what, f"HTTP {status}: {redact(_snippet(text))}")
        if 200 <= status < 300 and not _looks_like_json(content):
            return {_TEXT: text.strip()}
        try:
            return client._interpret(response, content, what)
        except _TransientError as exc:
            error = exc
        # A 200 whose JSON was cut: sent, maybe done. Only 429 and 5xx (handled above) remain.
        if error.rate_limited or idempotent:
            raise error
        raise _outcome_unknown(what, redact(str(error)))


# --- validation -------------------------------------------------------------------------------


def _require_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PixleeValidationError(f"{name} is required (a non-empty string), got {value!r}")
    return value


def _check_url(value: Any, name: str) -> str:
    """A URL Pixlee can fetch: http(s), a host, no spaces."""
    text = _require_text(value, name)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in text):
        raise PixleeValidationError(f"{name} must be an http(s) URL, got {value!r}")
    return text


def _optional_url(value: Any, name: str) -> str | None:
    return None if _missing(value) else _check_url(value, name)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _positive_int(value: Any, name: str) -> int:
    number = to_int(value)
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise PixleeValidationError(f"{name} must be a positive integer, got {value!r}")
    return number


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise PixleeValidationError(f"{name} must be true or false, got {value!r}")


def _string_list(value: Any, name: str) -> list[str] | None:
    """A list of strings; a CSV cell may hold a JSON array or comma-separated values."""
    if _missing(value):
        return None
    if isinstance(value, str):
        text = value.strip()
        value = _json_cell(text, name) if text.startswith("[") else text.split(",")
    if not isinstance(value, Iterable) or isinstance(value, Mapping | bytes):
        raise PixleeValidationError(f"{name} must be a list of strings, got {value!r}")
    items = [item.strip() if isinstance(item, str) else item for item in value]
    if not all(isinstance(item, str) and item for item in items):
        raise PixleeValidationError(f"{name} must be a list of non-empty strings, got {value!r}")
    return items


def _json_cell(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise PixleeValidationError(f"{name} is not valid JSON: {text[:80]!r}") from None


def _content_type(value: Any) -> str | None:
    if _missing(value):
        return None
    if value not in CONTENT_TYPES:
        raise PixleeValidationError(
            f"content_type must be one of {', '.join(sorted(CONTENT_TYPES))}, got {value!r}"
        )
    return str(value)


def _user_fields(email: Any, connected_user_id: Any) -> dict[str, Any]:
    """`email` or `connected_user_id` (Pixlee needs one; with both, the id wins there too)."""
    fields: dict[str, Any] = {}
    if not _missing(email):
        if not isinstance(email, str) or not _EMAIL.fullmatch(email.strip()):
            raise PixleeValidationError(f"email must be an email address, got {email!r}")
        fields["email"] = email.strip()
    if not _missing(connected_user_id):
        fields["connected_user_id"] = _positive_int(connected_user_id, "connected_user_id")
    if not fields:
        raise PixleeValidationError("email or connected_user_id is required (one of the two)")
    return fields


def _media_payload(
    *,
    album_id: Any,
    title: Any,
    approved: Any,
    email: Any,
    connected_user_id: Any,
    username: Any,
    content_type: Any,
    avatar_url: Any,
    vendor_id: Any,
    product_skus: Any,
    category_names: Any,
    connected_user: Any,
) -> dict[str, Any]:
    """The metadata shared by POST /media and POST /media/file, validated."""
    payload: dict[str, Any] = {
        "album_id": _positive_int(album_id, "album_id"),
        "title": _require_text(title, "title"),
        "approved": _as_bool(approved, "approved"),
        **_user_fields(email, connected_user_id),
    }
    optional: dict[str, Any] = {
        "username": None if _missing(username) else str(username),
        "content_type": _content_type(content_type),
        "avatar_url": _optional_url(avatar_url, "avatar_url"),
        "vendor_id": None if _missing(vendor_id) else str(vendor_id),
        "product_skus": _string_list(product_skus, "product_skus"),
        "category_names": _string_list(category_names, "category_names"),
        "connected_user": _json_object(connected_user, "connected_user"),
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    return payload


def _json_object(value: Any, name: str) -> dict[str, Any] | None:
    if _missing(value):
        return None
    if isinstance(value, str):
        value = _json_cell(value, name)
    if not isinstance(value, Mapping):
        raise PixleeValidationError(f"{name} must be an object, got {type(value).__name__}")
    return dict(value)


def _number(value: Any, name: str, *, integer: bool) -> int | float | None:
    if _missing(value):
        return None
    number: Any = value
    if isinstance(value, Decimal):  # typed-jsonl and SQL sources hand decimals over
        number = int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        raise PixleeValidationError(f"{name} must be a number, got {value!r}")
    if number < 0:
        raise PixleeValidationError(f"{name} must not be negative, got {value!r}")
    if integer:
        if number != int(number):
            raise PixleeValidationError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    return int(number) if isinstance(number, float) and number.is_integer() else number


def _json_string(value: Any, name: str) -> str | None:
    """`variants_json`/`extra_fields` travel as JSON *strings*; accept an object and encode it."""
    if _missing(value):
        return None
    if isinstance(value, str):
        _json_cell(value, name)
        return value
    if isinstance(value, Mapping | list):
        return minified_json(value).decode("utf-8")
    raise PixleeValidationError(f"{name} must be JSON text or an object, got {value!r}")


def _regional_info(value: Any) -> list[dict[str, Any]] | None:
    if _missing(value):
        return None
    if isinstance(value, str):
        value = _json_cell(value, "regional_info")
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise PixleeValidationError("regional_info must be a list of objects")
    return [dict(v) for v in value]


def _product_payload(
    *,
    sku: Any,
    name: Any,
    title: Any,
    product_photo: Any,
    buy_now_link_url: Any,
    buy_now_text: Any,
    price: Any,
    stock: Any,
    currency: Any,
    region_code: Any,
    regional_info: Any,
    variants_json: Any,
    extra_fields: Any,
) -> dict[str, Any]:
    """`{"title", "album_type": "product", "product": {...}}`, validated."""
    sku_text = _require_text(str(sku) if isinstance(sku, int) else sku, "sku").strip()
    product_name = _require_text(name if not _missing(name) else title, "name")
    if not _missing(currency) and not (isinstance(currency, str) and _CURRENCY.fullmatch(currency)):
        raise PixleeValidationError(f"currency must be a 3-letter code like USD, got {currency!r}")
    fields: dict[str, Any] = {
        "sku": sku_text,
        "name": product_name,
        "product_photo": _optional_url(product_photo, "product_photo"),
        "buy_now_link_url": _optional_url(buy_now_link_url, "buy_now_link_url"),
        "buy_now_text": None if _missing(buy_now_text) else str(buy_now_text),
        "price": _number(price, "price", integer=False),
        "stock": _number(stock, "stock", integer=True),
        "currency": None if _missing(currency) else currency,
        "region_code": None if _missing(region_code) else str(region_code),
        "regional_info": _regional_info(regional_info),
        "variants_json": _json_string(variants_json, "variants_json"),
        "extra_fields": _json_string(extra_fields, "extra_fields"),
    }
    album_title = title if not _missing(title) else product_name
    product = {k: v for k, v in fields.items() if v is not None}
    return {"title": album_title, "album_type": "product", "product": product}


def _row_kwargs(row: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """A row (CSV, JSONL, a dlt table) as keyword arguments.

    Columns starting with ``_`` (``_error`` in a failed-rows file, dlt's own) are dropped
    silently; other unknown columns are refused so a typo (``photo_url``) is not lost quietly.
    """
    unknown = sorted(k for k in row if k not in allowed and not str(k).startswith("_"))
    if unknown:
        raise PixleeValidationError(
            f"unknown column(s) {', '.join(unknown)}; expected some of {', '.join(allowed)}"
        )
    return {k: v for k, v in row.items() if k in allowed and not _missing(v)}


# --- uploads ----------------------------------------------------------------------------------

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF8", "image/gif"),
    (0, b"FLV", "video/x-flv"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "video/x-ms-wmv"),
    (4, b"ftypqt", "video/quicktime"),
    (4, b"ftyp3g", "video/3gpp"),
    (4, b"ftyp", "video/mp4"),
)


def _sniff(data: bytes) -> str | None:
    """The media type from the first bytes (the file's own word beats its name)."""
    if data[:4] == b"RIFF" and data[8:12] in (b"WEBP", b"AVI "):
        return "image/webp" if data[8:12] == b"WEBP" else "video/x-msvideo"
    for offset, magic, mime in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return mime
    return None


def _read_upload(file: str | Path | bytes, filename: str | None, limit: int) -> tuple[bytes, str]:
    """The bytes and a file name; size checked before reading a path into memory."""
    if isinstance(file, bytes | bytearray):
        data, name = bytes(file), filename or "upload"
    else:
        path = Path(file)
        if not path.is_file():
            raise PixleeValidationError(f"file: no such file {str(path)!r}")
        size = path.stat().st_size
        if size > limit:
            raise PixleeValidationError(f"file: {size} bytes is over the {limit}-byte limit")
        data, name = path.read_bytes(), filename or path.name
    if not data:
        raise PixleeValidationError("file: is empty")
    if len(data) > limit:
        raise PixleeValidationError(f"file: {len(data)} bytes is over the {limit}-byte limit")
    return data, name


def _upload_content_type(data: bytes, name: str, declared: str | None) -> str:
    if declared is not None:
        return str(_content_type(declared))
    mime = _sniff(data) or mimetypes.guess_type(name)[0]
    if mime not in CONTENT_TYPES:
        raise PixleeValidationError(
            f"file: type {mime or 'unknown'} is not accepted by Pixlee; accepted: "
            f"{', '.join(sorted(CONTENT_TYPES))} (pass content_type= if the file is one of them)"
        )
    return str(mime)


# --- responses and errors ---------------------------------------------------------------------


def _failed_before_sending(exc: requests.RequestException) -> bool:
    """True only when the connection was never made, so Pixlee cannot have seen the body."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return isinstance(reason, ConnectTimeoutError)  # NewConnectionError is a subclass


def _outcome_unknown(what: str, detail: str) -> PixleeWriteOutcomeUnknown:
    return PixleeWriteOutcomeUnknown(
        f"{what} failed after the request was sent ({detail}). Pixlee may or may not have "
        "applied it; it was not retried because repeating this write could create a duplicate. "
        "Check in the Pixlee app before sending it again."
    )


def _auth_message(status: int, what: str, detail: str) -> str:
    if status == 401:
        return (
            f"Pixlee rejected the private API key (HTTP 401) on {what}: check `private_api_key` "
            f"under [sources.pixlee_source] (or SOURCES__PIXLEE_SOURCE__PRIVATE_API_KEY). "
            f"Response: {detail}"
        )
    return (
        f"Pixlee rejected the request signature (HTTP 403) on {what}: check `secret_key` under "
        f"[sources.pixlee_source] (or SOURCES__PIXLEE_SOURCE__SECRET_KEY) and the signature "
        f"algorithm. Response: {detail}"
    )


def _looks_like_json(content: bytes) -> bool:
    return content.lstrip()[:1] in (b"{", b"[")


def _album_object(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """POST /albums answers the raw album; tolerate a `data` envelope too."""
    data = body.get("data")
    return data if isinstance(data, Mapping) else body


def _id_from(body: Mapping[str, Any], key: str, what: str) -> int:
    """Pixlee sends ids as strings in write responses; callers get ints."""
    value = to_int(body.get(key))
    if not isinstance(value, int) or isinstance(value, bool):
        raise PixleeResponseError(f"{what}: no integer {key!r} in the response")
    return value


def _product_result(sku: str, body: Mapping[str, Any]) -> ProductResult:
    text = body.get(_TEXT)
    if isinstance(text, str):
        if "updated" in text.lower():
            return ProductResult(sku, created=False)
        raise PixleeResponseError(f"POST /albums (sku {sku}): unexpected answer {text[:80]!r}")
    return ProductResult(sku, created=True, album_id=_id_from(_album_object(body), "id", "POST"))


def _failed(
    index: int, key: str, row: Mapping[str, Any], error: str, *, retryable: bool
) -> ItemResult:
    return ItemResult(index, key, "failed", None, redact(error), retryable, row)
