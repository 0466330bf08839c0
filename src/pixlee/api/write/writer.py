"""Signed writes to Pixlee: content from a URL or a file, albums, and products.

Every POST is serialised once with :func:`pixlee.api.write.signing.minified_json` (``,``/``:``
separators, ``/`` not escaped, non-ASCII kept as UTF-8), those exact bytes are signed and those
exact bytes are sent, so the signature Pixlee recomputes always matches. Inputs are validated
(:mod:`pixlee.api.write.payloads`) before anything is sent.

Sending is the session's (:mod:`pixlee.api.session`: pacing, retries, bounds). Retrying a write
is only safe when sending it twice cannot create two things. So:

* 429 and failures to *connect* are always retried: nothing reached Pixlee.
* 5xx, read timeouts, resets and cut responses (the body was sent; Pixlee may have acted on it)
  are retried only for idempotent writes: ``POST /media`` with a ``photo_uri`` (re-posting the
  same image changes nothing but tags, per the reference) and product upserts (keyed by
  ``sku``). Album creation and file uploads are not idempotent: such a failure raises
  :class:`PixleeWriteOutcomeUnknown` instead (a file upload can opt in with ``retry_unsafe``).

Success is confirmed, never guessed: only Pixlee's documented answers count (JSON with
`album_photo_id` for media, with `id` for albums and created products, or exactly
``Product updated.``). Any other 2xx answer raises :class:`PixleeWriteOutcomeUnknown`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Unpack, cast

from pixlee.api.errors import PixleeConfigError, PixleeWriteOutcomeUnknown
from pixlee.api.responses import Resolution, snippet
from pixlee.api.session import Outgoing, PixleeSession
from pixlee.api.values import to_int
from pixlee.api.write.payloads import (
    AlbumPayload,
    MediaOptions,
    MediaPayload,
    ProductOptions,
    ProductPayload,
    check_url,
)
from pixlee.api.write.signing import Algorithm, minified_json, signature_headers
from pixlee.api.write.uploads import MAX_FILE_BYTES, read_upload, upload_content_type

SIGNATURE_ALGORITHMS = ("sha1", "sha256")
PRODUCT_UPDATED = "Product updated."  # Pixlee's whole answer to an update of an existing sku
Outcome = Literal["created", "updated"]
_WRITE_KEYS_HELP = (
    "set `private_api_key` and `secret_key` under [sources.pixlee_source] in .dlt/secrets.toml "
    "(or SOURCES__PIXLEE_SOURCE__PRIVATE_API_KEY / SOURCES__PIXLEE_SOURCE__SECRET_KEY); both are "
    "in the Pixlee app under Settings → Pixlee API"
)


@dataclass(frozen=True)
class ProductResult:
    """The outcome of one product upsert: Pixlee creates a product album or updates by sku."""

    sku: str
    created: bool
    album_id: int | None = None

    @property
    def status(self) -> Outcome:
        return "created" if self.created else "updated"


class PixleeWriter:
    """Signed POSTs through a :class:`PixleeSession`, with the private key and the secret."""

    def __init__(
        self,
        session: PixleeSession,
        *,
        private_api_key: str | None,
        secret_key: str | None,
        signature_algorithm: Algorithm = "sha1",
    ) -> None:
        self.session = session
        self.private_api_key = private_api_key
        self.secret_key = secret_key
        self.signature_algorithm = check_algorithm(signature_algorithm)

    def require_credentials(self) -> tuple[str, str]:
        """The private key and secret, or a config error saying where to put them."""
        private_key, secret = self.private_api_key, self.secret_key
        if private_key and secret:
            return private_key, secret
        missing = [
            name
            for name, value in (("private_api_key", private_key), ("secret_key", secret))
            if not value
        ]
        raise PixleeConfigError(
            f"Pixlee writes need {' and '.join(missing)}, which is missing: {_WRITE_KEYS_HELP}."
        )

    def create_media(
        self,
        album_id: int,
        title: str,
        photo_uri: str,
        approved: bool,
        *,
        algorithm: Algorithm | None = None,
        **options: Unpack[MediaOptions],
    ) -> int:
        """POST /media: add content from a public URL; returns the new `album_photo_id`.

        `options`: `email` or `connected_user_id` (one is required), `username`,
        `content_type`, `avatar_url`, `vendor_id`, `product_skus`, `category_names`,
        `connected_user`. Idempotent per the reference (the same `photo_uri` again only adds
        tags), so 5xx and resets are retried.
        """
        uri = check_url(photo_uri, "photo_uri")
        payload = MediaPayload.build(album_id, title, approved, uri, **options)
        answer = self._post_json("/media", payload.as_json(), True, algorithm)
        return _new_id(answer, "album_photo_id")

    def create_media_from_file(
        self,
        file: str | Path | bytes,
        album_id: int,
        title: str,
        approved: bool,
        *,
        filename: str | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
        retry_unsafe: bool = False,
        algorithm: Algorithm | None = None,
        **options: Unpack[MediaOptions],
    ) -> int:
        """POST /media/file: upload a file (multipart `file` + `json`); the new `album_photo_id`.

        The signature covers the `json` part. An upload has no URL to deduplicate on, so a 5xx
        or reset after the bytes were sent is *not* retried unless `retry_unsafe=True` (which
        accepts that Pixlee may then hold the upload twice).
        """
        data, name = read_upload(file, filename, max_file_bytes)
        mime = upload_content_type(data, name, options.get("content_type"))
        payload = MediaPayload.build(album_id, title, approved, **{**options, "content_type": mime})
        body = minified_json(payload.as_json())
        parts = [
            ("file", (name, data, mime)),
            ("json", (None, body)),  # no filename: a form field, signed byte for byte
        ]
        answer = self._post("/media/file", body, {}, retry_unsafe, algorithm, files=parts)
        return _new_id(answer, "album_photo_id")

    def create_album(
        self, title: str, album_type: str = "standard", *, algorithm: Algorithm | None = None
    ) -> int:
        """POST /albums: a standard or category album; returns its id.

        Not idempotent (two posts make two albums), so only 429 and connect failures are
        retried. Product albums come from :meth:`upsert_product`.
        """
        payload = AlbumPayload.build(title, album_type)
        return _new_id(self._post_json("/albums", payload.as_json(), False, algorithm), "id")

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
        algorithm: Algorithm | None = None,
        **options: Unpack[ProductOptions],
    ) -> ProductResult:
        """POST /albums with a `product`: create the product (and its album) or update by sku.

        `options`: `title`, `buy_now_text`, `region_code`, `regional_info`, `variants_json`,
        `extra_fields`. Pixlee answers the album JSON on create and the text
        ``Product updated.`` on update. Keyed by sku, so a retry after a 5xx is safe. Numbers
        may be given as text (CSV cells).
        """
        payload = ProductPayload.build(
            sku, name, product_photo=product_photo, buy_now_link_url=buy_now_link_url,
            price=price, stock=stock, currency=currency, **options,
        )  # fmt: skip
        answer = self._post_json("/albums", payload.as_json(), True, algorithm)
        return _product_result(payload.product.sku, answer)

    # --- the signed POST --------------------------------------------------------------------------

    def _post_json(
        self, path: str, payload: dict[str, Any], idempotent: bool, algorithm: Algorithm | None
    ) -> Resolution:
        body = minified_json(payload)
        headers = {"Content-Type": "application/json"}
        return self._post(path, body, headers, idempotent, algorithm, data=body)

    def _post(
        self,
        path: str,
        signed: bytes,
        headers: dict[str, str],
        idempotent: bool,
        algorithm: Algorithm | None,
        *,
        data: bytes | None = None,
        files: Any = None,
    ) -> Resolution:
        """Sign `signed` (the exact bytes sent, or the `json` part) and send once or safely more."""
        private_key, secret = self.require_credentials()
        chosen = check_algorithm(algorithm or self.signature_algorithm)
        request = Outgoing(
            "POST",
            path,
            f"POST {path}",
            params={"api_key": private_key},
            headers={**headers, **signature_headers(secret, signed, chosen)},
            data=data,
            files=files,
        )
        return self.session.post(request, idempotent=idempotent)


def check_algorithm(algorithm: str) -> Algorithm:
    if algorithm not in SIGNATURE_ALGORITHMS:
        raise PixleeConfigError(f"signature algorithm must be sha1 or sha256, got {algorithm!r}")
    return cast(Algorithm, algorithm)


# --- documented answers ------------------------------------------------------------------------


def _new_id(answer: Resolution, key: str) -> int:
    """The integer id under `key`, or an unknown outcome: a 2xx without it may still have done
    the write."""
    new_id = _id_in(answer.body, key)
    if new_id is None:
        raise _undocumented(answer, f"JSON with an integer {key!r}")
    return new_id


def _id_in(body: dict[str, Any] | None, key: str) -> int | None:
    """Pixlee sends ids as strings; POST /albums may wrap the album in `data`."""
    data = (body or {}).get("data")
    for candidate in (body or {}, data if isinstance(data, dict) else {}):
        value = to_int(candidate.get(key))
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _product_result(sku: str, answer: Resolution) -> ProductResult:
    album_id = _id_in(answer.body, "id")
    if album_id is not None:
        return ProductResult(sku, created=True, album_id=album_id)
    if answer.body is None and (answer.text or "").strip() == PRODUCT_UPDATED:
        return ProductResult(sku, created=False)
    raise _undocumented(answer, f"the album JSON with its `id`, or {PRODUCT_UPDATED!r}")


def _undocumented(answer: Resolution, expected: str) -> PixleeWriteOutcomeUnknown:
    if answer.body is not None:
        shown = snippet(repr(answer.body))
    else:
        shown = snippet(answer.text or "") or "an empty body"
    return PixleeWriteOutcomeUnknown(
        f"{answer.what}: Pixlee answered HTTP {answer.status} but not with {expected} ({shown}). "
        "The write may or may not have happened; check in the Pixlee app before sending it again."
    )
