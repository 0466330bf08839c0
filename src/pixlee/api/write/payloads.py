"""What a write sends, as validated dataclasses; built once, from arguments or a CSV/JSONL row.

Inputs are checked before anything is sent, with an error that names the field. Values may come
as text (CSV cells): numbers, booleans ("true", "1", "yes"), lists as JSON arrays or
comma-separated, objects as JSON. POST /media and POST /media/file share one payload,
:class:`MediaPayload` (the file upload has no `photo_uri`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, TypedDict
from urllib.parse import urlsplit

from pixlee.api.errors import PixleeValidationError
from pixlee.api.values import as_bool, to_int
from pixlee.api.write.signing import minified_json

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
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CURRENCY = re.compile(r"[A-Z]{3}")


class MediaOptions(TypedDict, total=False):
    """The optional fields of a media write (POST /media and POST /media/file)."""

    email: str | None
    connected_user_id: int | str | None
    username: str | None
    content_type: str | None
    avatar_url: str | None
    vendor_id: str | None
    product_skus: Iterable[str] | str | None
    category_names: Iterable[str] | str | None
    connected_user: Mapping[str, Any] | str | None


class ProductOptions(TypedDict, total=False):
    """The keyword-only fields of a product upsert."""

    title: str | None
    buy_now_text: str | None
    region_code: str | None
    regional_info: Iterable[Mapping[str, Any]] | str | None
    variants_json: str | Mapping[str, Any] | list[Any] | None
    extra_fields: str | Mapping[str, Any] | None


@dataclass(frozen=True)
class MediaPayload:
    """POST /media (with `photo_uri`) or the `json` part of POST /media/file (without).

    Field order is the order sent (signing covers the exact bytes, any order would do).
    """

    album_id: int
    title: str
    approved: bool
    email: str | None = None
    connected_user_id: int | None = None
    username: str | None = None
    content_type: str | None = None
    avatar_url: str | None = None
    vendor_id: str | None = None
    product_skus: list[str] | None = None
    category_names: list[str] | None = None
    connected_user: dict[str, Any] | None = None
    photo_uri: str | None = None

    @classmethod
    def build(
        cls, album_id: Any, title: Any, approved: Any, photo_uri: Any = None, **options: Any
    ) -> MediaPayload:
        """Validated fields; `email` or `connected_user_id` is required (Pixlee needs one)."""
        email, user_id = options.get("email"), options.get("connected_user_id")
        if missing(email) and missing(user_id):
            raise PixleeValidationError("email or connected_user_id is required (one of the two)")
        return cls(
            album_id=positive_int(album_id, "album_id"),
            title=require_text(title, "title"),
            approved=_flag(approved, "approved"),
            email=None if missing(email) else _email(email),
            connected_user_id=(
                None if missing(user_id) else positive_int(user_id, "connected_user_id")
            ),
            username=_optional_text(options.get("username")),
            content_type=content_type(options.get("content_type")),
            avatar_url=optional_url(options.get("avatar_url"), "avatar_url"),
            vendor_id=_optional_text(options.get("vendor_id")),
            product_skus=_string_list(options.get("product_skus"), "product_skus"),
            category_names=_string_list(options.get("category_names"), "category_names"),
            connected_user=_json_object(options.get("connected_user"), "connected_user"),
            photo_uri=None if photo_uri is None else check_url(photo_uri, "photo_uri"),
        )

    def as_json(self) -> dict[str, Any]:
        return _without_none(asdict(self))


@dataclass(frozen=True)
class ProductFields:
    """The `product` object of a product upsert."""

    sku: str
    name: str
    product_photo: str | None = None
    buy_now_link_url: str | None = None
    buy_now_text: str | None = None
    price: int | float | None = None
    stock: int | None = None
    currency: str | None = None
    region_code: str | None = None
    regional_info: list[dict[str, Any]] | None = None
    variants_json: str | None = None
    extra_fields: str | None = None


@dataclass(frozen=True)
class ProductPayload:
    """POST /albums with `album_type: product`: creates the product, or updates it by sku."""

    title: str
    product: ProductFields

    @classmethod
    def build(cls, sku: Any, name: Any = None, **fields: Any) -> ProductPayload:
        """Validated fields; the product's `name` falls back to `title`, and the reverse."""
        title = fields.get("title")
        sku_text = require_text(str(sku) if isinstance(sku, int) else sku, "sku").strip()
        product_name = require_text(name if not missing(name) else title, "name")
        product = ProductFields(
            sku=sku_text,
            name=product_name,
            product_photo=optional_url(fields.get("product_photo"), "product_photo"),
            buy_now_link_url=optional_url(fields.get("buy_now_link_url"), "buy_now_link_url"),
            buy_now_text=_optional_text(fields.get("buy_now_text")),
            price=_number(fields.get("price"), "price", integer=False),
            stock=_whole_number(fields.get("stock"), "stock"),
            currency=_currency(fields.get("currency")),
            region_code=_optional_text(fields.get("region_code")),
            regional_info=_regional_info(fields.get("regional_info")),
            variants_json=_json_string(fields.get("variants_json"), "variants_json"),
            extra_fields=_json_string(fields.get("extra_fields"), "extra_fields"),
        )
        return cls(title=product_name if missing(title) else str(title), product=product)

    def as_json(self) -> dict[str, Any]:
        product = _without_none(asdict(self.product))
        return {"title": self.title, "album_type": "product", "product": product}


@dataclass(frozen=True)
class AlbumPayload:
    """POST /albums for a standard or category album (products: :class:`ProductPayload`)."""

    title: str
    album_type: str = "standard"

    @classmethod
    def build(cls, title: Any, album_type: Any = "standard") -> AlbumPayload:
        if album_type not in ALBUM_TYPES:
            raise PixleeValidationError(
                f"album_type must be one of {', '.join(ALBUM_TYPES)} (products: use "
                f"upsert_product), got {album_type!r}"
            )
        return cls(title=require_text(title, "title"), album_type=str(album_type))

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "album_type": self.album_type}


# --- field checks ---------------------------------------------------------------------------------


def _without_none(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def missing(value: Any) -> bool:
    """None or blank text: "not given" (a CSV's empty cell)."""
    return value is None or (isinstance(value, str) and not value.strip())


def require_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PixleeValidationError(f"{name} is required (a non-empty string), got {value!r}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if missing(value) else str(value)


def check_url(value: Any, name: str) -> str:
    """A URL Pixlee can fetch: http(s), a host, no spaces."""
    text = require_text(value, name)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in text):
        raise PixleeValidationError(f"{name} must be an http(s) URL, got {value!r}")
    return text


def optional_url(value: Any, name: str) -> str | None:
    return None if missing(value) else check_url(value, name)


def positive_int(value: Any, name: str) -> int:
    number = to_int(value)
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise PixleeValidationError(f"{name} must be a positive integer, got {value!r}")
    return number


def _flag(value: Any, name: str) -> bool:
    flag = as_bool(value)
    if flag is None:
        raise PixleeValidationError(f"{name} must be true or false, got {value!r}")
    return flag


def _email(value: Any) -> str:
    if not isinstance(value, str) or not _EMAIL.fullmatch(value.strip()):
        raise PixleeValidationError(f"email must be an email address, got {value!r}")
    return value.strip()


def content_type(value: Any) -> str | None:
    """One of the media types Pixlee accepts, or None when not given."""
    if missing(value):
        return None
    if value not in CONTENT_TYPES:
        raise PixleeValidationError(
            f"content_type must be one of {', '.join(sorted(CONTENT_TYPES))}, got {value!r}"
        )
    return str(value)


def _currency(value: Any) -> str | None:
    if missing(value):
        return None
    if not (isinstance(value, str) and _CURRENCY.fullmatch(value)):
        raise PixleeValidationError(f"currency must be a 3-letter code like USD, got {value!r}")
    return value


def _string_list(value: Any, name: str) -> list[str] | None:
    """A list of strings; a CSV cell may hold a JSON array or comma-separated values."""
    if missing(value):
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


def _json_object(value: Any, name: str) -> dict[str, Any] | None:
    if missing(value):
        return None
    if isinstance(value, str):
        value = _json_cell(value, name)
    if not isinstance(value, Mapping):
        raise PixleeValidationError(f"{name} must be an object, got {type(value).__name__}")
    return dict(value)


def _number(value: Any, name: str, *, integer: bool) -> int | float | None:
    if missing(value):
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
    if integer and number != int(number):
        raise PixleeValidationError(f"{name} must be a whole number, got {value!r}")
    if integer or (isinstance(number, float) and number.is_integer()):
        return int(number)
    return number


def _whole_number(value: Any, name: str) -> int | None:
    number = _number(value, name, integer=True)
    return None if number is None else int(number)


def _json_string(value: Any, name: str) -> str | None:
    """`variants_json`/`extra_fields` travel as JSON *strings*; accept an object and encode it."""
    if missing(value):
        return None
    if isinstance(value, str):
        _json_cell(value, name)
        return value
    if isinstance(value, Mapping | list):
        return minified_json(value).decode("utf-8")
    raise PixleeValidationError(f"{name} must be JSON text or an object, got {value!r}")


def _regional_info(value: Any) -> list[dict[str, Any]] | None:
    if missing(value):
        return None
    if isinstance(value, str):
        value = _json_cell(value, "regional_info")
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise PixleeValidationError("regional_info must be a list of objects")
    return [dict(v) for v in value]
