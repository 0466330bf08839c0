"""Quarantine rules: which keys load, which items are rejected and why, colliding field names."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from dlt.common.normalizers.naming.snake_case import NamingConvention

from pixlee.source.quarantine import FieldNames, ItemScreen, as_key, raw_json


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        node = {"n": node}
    return node


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, 7),
        ("7", 7),
        (" 42 ", 42),
        ("-3", -3),
        (2**63 - 1, 2**63 - 1),
        (2**63, None),
        ("9223372036854775808", None),
        (1002.0, None),  # an id never comes as a float: a broken item
        (1e20, None),
        (True, None),
        (None, None),
        ("abc", None),
        ("1001x", None),
        ("²", None),  # a unicode digit, not a plain integer
        ("", None),
        ([1], None),
    ],
)
def test_a_key_is_exactly_a_bigint(value: Any, expected: int | None) -> None:
    assert as_key(value) == expected


def test_screen_keeps_good_items_and_says_why_each_bad_one_is_rejected() -> None:
    items: list[Any] = [
        {"album_photo_id": 1, "title": "ok"},
        {"album_photo_id": "2", "title": "string id"},
        {"album_photo_id": "abc"},
        {"album_photo_id": None},
        {"title": "no key"},
        {"album_photo_id": 1e20},
        {"album_photo_id": 5, "deep": _deep(300)},
        {"album_photo_id": 6, "caption": "lone \ud800 surrogate"},
        {"album_photo_id": 7, "likes": 2**70},
        "not an object",
    ]
    kept, rejected = ItemScreen("media", "album_photo_id", None).split(items, album_id=9, page=3)
    assert [item["album_photo_id"] for item in kept] == [1, 2]
    assert kept[1]["album_photo_id"] == 2 and type(kept[1]["album_photo_id"]) is int
    reasons = [r.reason for r in rejected]
    assert reasons[:4] == [
        "album_photo_id is not an integer: abc",
        "album_photo_id is null",
        "album_photo_id is missing",
        "album_photo_id is not an integer: 1e+20",
    ]
    assert all(r.startswith("cannot be laid out as a row") for r in reasons[4:7])
    assert reasons[7] == "not an object: str"
    rows = [r.row("load-1") for r in rejected]
    assert {(row["table"], row["album_id"], row["page"], row["load_id"]) for row in rows} == {
        ("media", 9, 3, "load-1")
    }
    assert [row["key"] for row in rows] == ["abc", None, None, "1e+20", "5", "6", "7", None]
    # every raw item survives as ASCII JSON text any destination stores
    for row in rows:
        assert row["raw_json"].isascii()
        json.loads(row["raw_json"])
    assert json.loads(rows[5]["raw_json"])["caption"] == "lone \ud800 surrogate"


def test_raw_json_of_anything_is_text() -> None:
    assert raw_json(_deep(5000)).startswith('"<not representable as JSON')
    assert raw_json({"big": "x" * 2_000_000}).endswith("…(truncated)")


def test_colliding_field_names_are_both_kept_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    names = FieldNames(NamingConvention().normalize_identifier, max_nesting=2)
    item = {
        "album_photo_id": 1,
        "uploader_additional_fields": {"Title": "a", "title": "b", "Email": "x", "email": "y"},
        "products": [{"Name": "p", "name": "q"}],
        "deep": {"x": {"y": {"Z": 1, "z": 2}}},  # past the nesting limit: kept whole as JSON
    }
    with caplog.at_level(logging.WARNING, logger="pixlee"):
        names.apply(item, "media")
        names.apply({"uploader_additional_fields": {"Title": "c", "title": "d"}}, "media")
    assert item["uploader_additional_fields"] == {
        "Title": "a",
        "title_2": "b",
        "Email": "x",
        "email_2": "y",
    }
    assert item["products"] == [{"Name": "p", "name_2": "q"}]
    assert item["deep"] == {"x": {"y": {"Z": 1, "z": 2}}}
    warnings = [r.getMessage() for r in caplog.records]
    assert (
        "media: fields 'Title' and 'title' both become column 'title'; 'title' is kept as "
        in (warnings[0])
    )
    assert len(warnings) == 3  # once per pair, not once per item
