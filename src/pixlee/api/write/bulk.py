"""Many writes from rows (CSV, JSONL, a dlt table): one outcome per row, in order.

A bad row never stops the batch: it is reported failed with its error and the row itself (to
resubmit). A rejected key (401/403), missing configuration or a passed run deadline stops
everything, since every other row would fail the same way. After `UNAVAILABLE_AFTER` rows in a
row fail with exhausted retries, Pixlee is down: the rest are reported "not sent" instead of
each waiting out its retries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pixlee.api.errors import (
    PixleeAuthError,
    PixleeConfigError,
    PixleeDeadlineExceeded,
    PixleeError,
    PixleeRetriesExhausted,
    PixleeValidationError,
    PixleeWriteOutcomeUnknown,
)
from pixlee.api.write.payloads import missing
from pixlee.api.write.signing import Algorithm
from pixlee.api.write.writer import Outcome, PixleeWriter

UNAVAILABLE_AFTER = 3
PRODUCT_FIELDS = (
    "sku", "name", "title", "product_photo", "buy_now_link_url", "buy_now_text", "price",
    "stock", "currency", "region_code", "regional_info", "variants_json", "extra_fields",
)  # fmt: skip
MEDIA_FIELDS = (
    "album_id", "title", "photo_uri", "approved", "email", "connected_user_id", "username",
    "content_type", "avatar_url", "vendor_id", "product_skus", "category_names",
    "connected_user",
)  # fmt: skip
Write = Callable[[Mapping[str, Any]], tuple[Outcome, int | None]]


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


def submit_products(
    writer: PixleeWriter,
    rows: Iterable[Mapping[str, Any]],
    on_result: Callable[[ItemResult], None] | None = None,
    *,
    algorithm: Algorithm | None = None,
) -> list[ItemResult]:
    """Upsert many products (POST /albums per row), keyed by `sku`."""

    def upsert(row: Mapping[str, Any]) -> tuple[Outcome, int | None]:
        result = writer.upsert_product(
            **_row_kwargs(row, PRODUCT_FIELDS, ("sku",)), algorithm=algorithm
        )
        return result.status, result.album_id

    return _submit(rows, upsert, "sku", on_result)


def submit_media(
    writer: PixleeWriter,
    rows: Iterable[Mapping[str, Any]],
    on_result: Callable[[ItemResult], None] | None = None,
    *,
    algorithm: Algorithm | None = None,
) -> list[ItemResult]:
    """Create many media from URLs (POST /media per row), keyed by `photo_uri`."""

    def create(row: Mapping[str, Any]) -> tuple[Outcome, int | None]:
        kwargs = _row_kwargs(row, MEDIA_FIELDS, ("album_id", "title", "photo_uri", "approved"))
        return "created", writer.create_media(**kwargs, algorithm=algorithm)

    return _submit(rows, create, "photo_uri", on_result)


def _submit(
    rows: Iterable[Mapping[str, Any]],
    write: Write,
    key_field: str,
    on_result: Callable[[ItemResult], None] | None,
) -> list[ItemResult]:
    results: list[ItemResult] = []
    unavailable: str | None = None
    exhausted_in_a_row = 0
    for index, row in enumerate(rows):
        key = str(row.get(key_field) or "")
        if unavailable is not None:
            result = _failed(index, key, row, unavailable, retryable=True)
        else:
            result = _submit_one(index, key, row, write)
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


def _submit_one(index: int, key: str, row: Mapping[str, Any], write: Write) -> ItemResult:
    failure: PixleeError | None = None
    try:
        status, new_id = write(row)
    except (PixleeAuthError, PixleeConfigError, PixleeDeadlineExceeded):
        raise
    except PixleeError as exc:
        failure = exc  # this row only; reported, and the batch goes on
    if failure is not None:
        # Exhausted retries may succeed later; an unknown outcome must be checked by a human.
        retryable = isinstance(failure, PixleeRetriesExhausted) and not isinstance(
            failure, PixleeWriteOutcomeUnknown
        )
        return _failed(index, key, row, str(failure), retryable=retryable)
    return ItemResult(index, key, status, new_id, row=row)


def _row_kwargs(
    row: Mapping[str, Any], allowed: tuple[str, ...], required: tuple[str, ...]
) -> dict[str, Any]:
    """A row as keyword arguments; a required column left out is passed as None, so the
    payload's check names it (instead of a TypeError that would stop the batch).

    Columns starting with ``_`` (``_error`` in a failed-rows file, dlt's own) are dropped
    silently; other unknown columns are refused so a typo (``photo_url``) is not lost quietly.
    """
    unknown = sorted(k for k in row if k not in allowed and not str(k).startswith("_"))
    if unknown:
        raise PixleeValidationError(
            f"unknown column(s) {', '.join(unknown)}; expected some of {', '.join(allowed)}"
        )
    given = {k: v for k, v in row.items() if k in allowed and not missing(v)}
    return {**dict.fromkeys(required), **given}


def _failed(
    index: int, key: str, row: Mapping[str, Any], error: str, *, retryable: bool
) -> ItemResult:
    return ItemResult(index, key, "failed", None, error, retryable, row)
