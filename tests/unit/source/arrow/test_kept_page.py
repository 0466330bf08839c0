"""`kept_page`: a page read as Arrow cut down to the items the album scan kept.

The scanner drops quarantined items and repeats from the page's dicts; the Arrow page that
rides along must then stand for exactly those dicts, or for none (the page is built from dicts).
"""

from __future__ import annotations

from typing import Any

import orjson

from pixlee.source.arrow.json_read import PageReader, ParsedPage, kept_page

KEY = "album_photo_id"


def _body(items: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"status": 200, "next": False, "data": items})


def _read(body: bytes) -> tuple[ParsedPage, list[dict[str, Any]]]:
    reader = PageReader()
    envelope = orjson.loads(body)
    reader.learn(envelope)
    parsed = reader.read(body)
    assert parsed is not None
    return parsed, envelope["data"]


ITEMS = [{KEY: key, "caption": f"c{key}", "tags": [key, key + 1]} for key in (5, 6, 7, 8)]


def test_every_item_kept_is_the_page_itself() -> None:
    parsed, items = _read(_body(ITEMS))
    assert kept_page(parsed, items, list(items), KEY) is parsed


def test_items_dropped_are_dropped_from_the_arrow_page_too() -> None:
    parsed, items = _read(_body(ITEMS))
    kept = [items[1], items[3]]
    cut = kept_page(parsed, items, kept, KEY)
    assert cut is not None
    assert cut.items.to_pylist() == kept
    assert cut.dicts() == kept  # the dicts it stands for, decoded again from the body
    none_kept = kept_page(parsed, items, [], KEY)
    assert none_kept is not None and len(none_kept) == 0


def test_dicts_that_are_not_the_pages_own_give_no_arrow_page() -> None:
    parsed, items = _read(_body(ITEMS))
    assert kept_page(parsed, items, [dict(items[0])], KEY) is None  # a copy, maybe changed
    assert kept_page(parsed, items, [items[2], items[1]], KEY) is None  # out of order
    assert kept_page(parsed, items[:3], items[:3], KEY) is None  # another count
    assert kept_page(None, items, items, KEY) is None


def test_a_key_sent_as_text_gives_no_arrow_page() -> None:
    """The screen rewrites `"12"` into 12 in the dict: the body no longer says what it holds."""
    parsed, items = _read(_body([{**item, KEY: str(item[KEY])} for item in ITEMS]))
    assert kept_page(parsed, items, items, KEY) is None
