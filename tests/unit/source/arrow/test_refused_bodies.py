"""Bodies the Arrow reader must refuse, so that they take the dict path (a reviewer's finds).

Each was read by the reader into something other than what orjson and the dict path make of
the same bytes: a list of nulls where only empty lists were learned (an invalid Arrow array
that crashed the run), a `status` learned as a double (an error envelope read as a page), an
integer `-0` (read as -0.0 where the dict path loads 0.0).
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pyarrow as pa
import pytest

from pixlee.api.responses import Action, classify
from pixlee.source.arrow.album_pages import AlbumPageReader
from pixlee.source.arrow.json_read import PageReader, ParsedPage, Unreadable
from tests.support.hostile_server import Reply, hostile_server, in_turn
from tests.unit.api.test_hostile_bodies import _client


def _envelope(items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"status": 200, "next": True, "data": items, **extra}


def _item(key: int, **fields: Any) -> dict[str, Any]:
    return {"album_photo_id": key, "id": key, "products": [], **fields}


def test_a_list_of_nulls_after_only_empty_lists_is_decoded_not_read() -> None:
    """pyarrow built `[null, null]` under a learned `list<null>` as an array shorter than its
    offsets; reading from it raised in the page thread and failed the whole run."""
    reader = AlbumPageReader(PageReader())
    first = json.dumps(_envelope([_item(1, tag_album_ids=[], tagged_usernames=[])])).encode()
    second = _envelope([_item(2, tag_album_ids=[None, None], tagged_usernames=[None])])
    second["next"] = False
    replies = in_turn(Reply(body=first), Reply(body=json.dumps(second).encode()))
    with hostile_server(replies) as server:
        pages = list(_client(server.base_url).iter_album_photos(1, parse=reader))
    assert [page.parsed is None for page in pages] == [True, True]
    assert pages[1].items == second["data"]


def test_the_reader_refuses_a_table_arrow_built_inconsistently() -> None:
    reader = PageReader()
    reader.learn(_envelope([_item(1, tagged_usernames=[])]))
    read = reader.parse(json.dumps(_envelope([_item(2, tagged_usernames=[None, None])])).encode())
    assert isinstance(read, Unreadable)
    assert read.reason.startswith("Arrow built an inconsistent table")


def test_an_error_status_is_judged_by_the_client_when_status_was_learned_as_a_double() -> None:
    reader = PageReader()
    reader.learn(_envelope([_item(1)], status=200.0))
    reader.learn(_envelope([_item(1)]))  # an int after a double: the column stays double
    body = b'{"status":500,"next":true,"data":[{"album_photo_id":2,"id":2,"products":[]}]}'
    old = classify("GET x", 200, {}, body, side="read")
    new = classify("GET x", 200, {}, body, side="read", read=AlbumPageReader(reader).read)
    assert old.action == Action.RETRY
    assert (new.action, new.message) == (old.action, old.message)


@pytest.mark.parametrize(
    ("score", "read"),
    [(b"-0", False), (b"-0 ", False), (b"-0.0", True), (b"-0.5", True), (b"-0e1", True)],
)
def test_an_integer_minus_zero_takes_the_dict_path(score: bytes, read: bool) -> None:
    """orjson reads `-0` as the int 0 (loaded as 0.0 in a double column), Arrow as -0.0; a
    float `-0.0` is -0.0 either way."""
    reader = PageReader()
    reader.learn(_envelope([_item(1, score=1.5)]))
    body = b'{"next":true,"data":[{"album_photo_id":2,"id":2,"products":[],"score":' + score
    body += b"}]}"
    parsed = reader.parse(body)
    assert isinstance(parsed, ParsedPage) is read
    if isinstance(parsed, ParsedPage):
        arrow = parsed.items.field("score")[0].as_py()
        expected = float(orjson.loads(body)["data"][0]["score"])
        assert (arrow, math.copysign(1, arrow)) == (expected, math.copysign(1, expected))
    else:
        assert parsed.reason == "an integer -0"


def test_dates_and_text_with_minus_zero_inside_are_still_read() -> None:
    reader = PageReader()
    reader.learn(_envelope([_item(1, title="a")]))
    parsed = reader.parse(json.dumps(_envelope([_item(2, title="2020-01-05 UTC-05")])).encode())
    assert isinstance(parsed, ParsedPage)
    assert parsed.items.field("title").to_pylist() == ["2020-01-05 UTC-05"]
    assert pa.types.is_string(parsed.items.type.field("title").type)


# --- the repeated-page check compares items, however each page was read ---------------------


def _titled(next_page: bool, title: str, key: int = 7) -> bytes:
    return json.dumps(_envelope([_item(key, photo_title=title)], next=next_page)).encode()


def _pages(bodies: list[bytes], parse: AlbumPageReader | None) -> list[Any]:
    with hostile_server(in_turn(*[Reply(body=body) for body in bodies])) as server:
        return list(_client(server.base_url).iter_album_photos(1, parse=parse))


@pytest.mark.parametrize("fast", [False, True], ids=["dicts", "arrow"])
def test_a_page_repeating_the_one_before_stops_the_listing_either_way(fast: bool) -> None:
    """Page 1 is decoded (nothing learned yet), page 2 read as Arrow: its kept fields alone
    never equal page 1's whole items, and the repeat went unnoticed."""
    from pixlee.api.errors import PixleeContentError

    reader = AlbumPageReader(PageReader()) if fast else None
    with pytest.raises(PixleeContentError, match="the same items as the page before"):
        _pages([_titled(True, "a"), _titled(False, "a")], reader)


@pytest.mark.parametrize("fast", [False, True], ids=["dicts", "arrow"])
def test_pages_alike_in_the_scanned_fields_only_are_not_a_repeat(fast: bool) -> None:
    """Pages 2 and 3 hold the same media with another title: both read as Arrow, their kept
    fields are equal, the items are not."""
    reader = AlbumPageReader(PageReader()) if fast else None
    bodies = [_titled(True, "a", key=1), _titled(True, "b"), _titled(False, "c")]
    pages = _pages(bodies, reader)
    assert [page.page for page in pages] == [1, 2, 3]
    assert [page.parsed is not None for page in pages] == [False, fast, fast]
