"""Small pure functions: signatures, timestamps, ids, redaction."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from pixlee import sign
from pixlee.api.redaction import install_log_redaction, redact, redact_url, register_secret
from pixlee.api.values import to_int
from pixlee.api.write.signing import minified_json, signature_headers
from pixlee.source.records import catalogue_product, media_row, to_timestamp

VECTOR_BODY = (
    '{"album_id":12345,"title":"Testing Photo Upload","approved":true,'
    '"email":"test@example.com","username":"Submitter Person",'
    '"photo_uri":"https://example.com/test.jpg"}'
)


def test_reference_hmac_vector_and_negative_controls() -> None:
    assert sign("ABCDEFG", VECTOR_BODY) == "epBvDlHbQho/rNDdQVJowWMtGsg="
    spaced = json.dumps(json.loads(VECTOR_BODY))  # ", " and ": " separators
    assert sign("ABCDEFG", spaced) == "3oMQDGKTCwblRY26NaGIDBimtmc="
    escaped = VECTOR_BODY.replace("/", "\\/")
    assert sign("ABCDEFG", escaped) == "ZIu5XJEB5N0ZTGNVl7Qur/bQehw="


def test_minified_json_matches_the_signed_form() -> None:
    payload = {
        "album_id": 12345,
        "title": "Testing Photo Upload",
        "approved": True,
        "email": "test@example.com",
        "username": "Submitter Person",
        "photo_uri": "https://example.com/test.jpg",
    }
    assert minified_json(payload) == VECTOR_BODY.encode()
    assert minified_json({"t": "café ✨"}) == '{"t":"café ✨"}'.encode()
    headers = signature_headers("ABCDEFG", VECTOR_BODY.encode(), "sha256")
    assert headers["Signature-Algorithm"] == "hmac-sha256"
    assert headers["Signature"] == sign("ABCDEFG", VECTOR_BODY, "sha256")
    with pytest.raises(ValueError):
        sign("x", "y", "md5")  # type: ignore[arg-type]


def test_timestamps_from_epoch_ms_and_strings() -> None:
    assert to_timestamp(1537987999000) == datetime(2018, 9, 26, 18, 53, 19, tzinfo=UTC)
    assert to_timestamp("1537987999000") == datetime(2018, 9, 26, 18, 53, 19, tzinfo=UTC)
    assert to_timestamp("2016-03-11 04:28:45.592") == datetime(
        2016, 3, 11, 4, 28, 45, 592000, tzinfo=UTC
    )
    assert to_timestamp(None) is None
    assert to_timestamp("") is None
    assert to_timestamp("yesterday") is None
    assert to_timestamp(True) is None
    assert to_timestamp(-5) is None


def test_ids_as_strings_become_ints_and_rows_keep_raw_times() -> None:
    assert to_int("387506881") == 387506881
    assert to_int("abc") == "abc"
    row = media_row(
        {
            "album_photo_id": "387506881",
            "id": "12",
            "updated_at": 1537987999000,
            "products": [{"id": "5", "product_tagged_at": 1537987999000, "photo_id": 12}],
        }
    )
    assert row["album_photo_id"] == 387506881 and row["id"] == 12
    assert row["updated_at"] == 1537987999000
    assert row["updated_at_ts"] == datetime(2018, 9, 26, 18, 53, 19, tzinfo=UTC)
    assert row["products"][0]["id"] == 5
    assert row["products"][0]["product_tagged_at_ts"] is not None
    product = catalogue_product(
        {"id": "5", "photo_id": 1, "product_album_photo_id": 2, "product_tagged_at": 1, "sku": "A"}
    )
    assert product == {"id": 5, "sku": "A"}


def test_redaction_of_urls_registered_secrets_and_urllib3_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert redact_url("http://h/api/v2/albums?page=1&api_key=abc123&x=1") == (
        "http://h/api/v2/albums?page=1&api_key=***&x=1"
    )
    register_secret("priv-Secret-999")
    assert redact("signed with priv-Secret-999!") == "signed with ***!"
    install_log_redaction()
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        logging.getLogger("urllib3.connectionpool").debug(
            '%s://%s:%s "%s %s %s" %s',
            "http",
            "h",
            80,
            "GET",
            "/a?api_key=zzz9&p=1",
            "HTTP/1.1",
            200,
        )
    assert "zzz9" not in caplog.text and "api_key=***" in caplog.text


def test_album_statistics_count_odd_values_as_per_item_rules() -> None:
    """Counted a field at a time, the statistics still follow the per-item rules: numeric
    strings count, bools and other junk count 0, `True` only is a permission or a star."""
    from datetime import UTC, datetime

    from pixlee.source.derived import AlbumStatistics

    items = [
        {"content_type": "image", "has_permission": True, "is_starred": 1, "products": [{}],
         "source": "instagram", "native_likes": 5, "native_comments": "7", "native_shares": True,
         "native_views": None, "approved_on_date": 1_700_000_000_000},
        {"content_type": "video", "has_permission": "true", "is_starred": True, "products": [],
         "source": None, "native_likes": "x", "native_comments": 2.5, "native_shares": 3,
         "approved_on_date": "1700000000500"},
        {"content_type": None, "native_likes": 10, "approved_on_date": None},
    ]  # fmt: skip
    stats = AlbumStatistics(album_id=1)
    stats.add(items[:2])
    stats.add(iter(items[2:]))  # any iterable
    row = stats.row(datetime(2026, 1, 1, tzinfo=UTC))
    assert {k: v for k, v in row.items() if k not in ("album_id", "snapshot_at")} == {
        "media_count": 3,
        "image_count": 1,
        "video_count": 1,
        "permissioned_count": 1,
        "starred_count": 1,
        "with_products_count": 1,
        "native_likes_total": 15,
        "native_comments_total": 7,
        "native_shares_total": 3,
        "native_views_total": 0,
        "latest_approved_at": datetime.fromtimestamp(1_700_000_000.5, tz=UTC),
        "by_source": {"instagram": 1, "unknown": 2},
        "derived": True,
    }
