"""Listings end, or say why not: `next` stuck, missing or garbage; pages that repeat."""

from __future__ import annotations

import json
from typing import Any

import json5
import pytest

from pixlee import PixleeClient, PixleeContentError
from tests.support.hostile_server import (
    Reply,
    android_fixture,
    fixtures_dir,
    hostile_server,
    json5_as_json,
    pages,
    real_page,
)
from tests.support.virtual_time import VirtualClock

KEY = "read-K3y-paging-0001"
PATH = "/albums/1659473/photos"


def _client(base_url: str) -> PixleeClient:
    clock = VirtualClock()
    return PixleeClient(
        api_key=KEY, base_url=base_url, rate_limit_per_minute=0, sleep=clock.sleep, clock=clock
    )


def _items(first: int, count: int) -> list[dict[str, Any]]:
    """Real media objects (the raegar capture's) with distinct ids."""
    template = real_page()["data"]
    return [
        {**template[n % len(template)], "album_photo_id": first + n, "id": first + n}
        for n in range(count)
    ]


@pytest.mark.parametrize("read_ahead", [0, 4])
def test_real_pages_are_read_to_the_last(read_ahead: int) -> None:
    bodies = [real_page(n, items=_items(100 * n, 28), next=n < 3) for n in (1, 2, 3)]
    with hostile_server(pages(*bodies)) as server:
        got = list(_client(server.base_url).iter_album_photos(1659473, read_ahead=read_ahead))
    assert [(p.page, p.has_next, len(p.items)) for p in got] == [
        (1, True, 28),
        (2, True, 28),
        (3, False, 28),
    ]
    assert got[0].items[0]["photo_title"].startswith("My new go to ~Icon earrings~")


@pytest.mark.parametrize("read_ahead", [0, 4])
def test_a_page_repeating_the_one_before_ends_the_listing(read_ahead: int) -> None:
    """A server stuck on one page with `next: true` was read ~2,500 times a minute forever."""
    with hostile_server(pages(real_page(1), real_page(2))) as server:
        listing = _client(server.base_url).iter_album_photos(1659473, read_ahead=read_ahead)
        first = next(listing)
        with pytest.raises(PixleeContentError) as error:
            next(listing)
    assert first.page == 1 and len(first.items) == 28
    assert str(error.value) == (
        f"GET {PATH} page 2: the same items as the page before; the listing does not advance"
    )
    assert (error.value.path, error.value.page) == (PATH, 2)
    assert "238234983" in error.value.excerpt  # the first repeated item, for the reader
    assert len(server.received) <= 2 + read_ahead  # bounded, whatever was read ahead


def test_next_true_on_empty_pages_ends_after_three() -> None:
    empty = real_page(items=[], next=True)
    with hostile_server(pages(real_page(1, items=_items(1, 5)), empty)) as server:
        listing = _client(server.base_url).iter_album_photos(1659473)
        assert [p.page for p in (next(listing), next(listing), next(listing), next(listing))] == [
            1,
            2,
            3,
            4,
        ]
        with pytest.raises(PixleeContentError) as error:
            next(listing)
    assert str(error.value) == (
        f"GET {PATH} page 5: `next` is still true after 4 empty pages in a row; "
        "the listing does not end"
    )
    assert len(server.received) == 5


def test_empty_pages_between_full_ones_are_fine() -> None:
    bodies = [
        real_page(1, items=_items(1, 3)),
        real_page(2, items=[]),
        real_page(3, items=[]),
        real_page(4, items=_items(10, 3), next=False),
    ]
    with hostile_server(pages(*bodies)) as server:
        got = list(_client(server.base_url).iter_album_photos(1))
    assert [len(p.items) for p in got] == [3, 0, 0, 3]


def test_a_missing_next_is_an_error_not_the_end() -> None:
    """Read as "done", 20 of 60 media loaded as success."""
    body = real_page()
    del body["next"]
    with hostile_server(pages(body)) as server, pytest.raises(PixleeContentError) as error:
        list(_client(server.base_url).iter_album_photos(1659473))
    assert str(error.value).startswith(
        f"GET {PATH} page 1: the envelope has no `next`, so where the listing ends is unknown"
    )
    assert error.value.page == 1
    assert len(server.received) == 1


@pytest.mark.parametrize("value", ["maybe", None, 2, [], {"more": True}, 1.5])
def test_a_garbage_next_is_an_error(value: Any) -> None:
    with (
        hostile_server(pages(real_page(next=value))) as server,
        pytest.raises(PixleeContentError, match=r"`next` is .*, expected true/false"),
    ):
        list(_client(server.base_url).iter_album_photos(1659473))
    assert len(server.received) == 1


@pytest.mark.parametrize(
    ("value", "expected"), [(1, True), ("true", True), (0, False), ("0", False)]
)
def test_next_spelled_as_pixlee_may_spell_it(value: Any, expected: bool) -> None:
    bodies = [real_page(1, items=_items(1, 2), next=value), real_page(2, next=False)]
    with hostile_server(pages(*bodies)) as server:
        got = list(_client(server.base_url).iter_album_photos(1))
    assert [p.page for p in got] == ([1, 2] if expected else [1])


def test_android_sdk_envelopes_read_as_pages() -> None:
    """Pixlee's own SDK fixtures: `from_sku` with `next: true`, then an empty last page."""
    first = android_fixture("test.albums.from_sku.json")
    last = android_fixture("test.albums.from_sku.empty_list.json")
    assert first["next"] is True
    with hostile_server(pages(first, {**last, "next": False})) as server:
        got = list(_client(server.base_url).iter_sku_photos("SKU"))
    assert [len(p.items) for p in got] == [len(first["data"]), len(last["data"])]
    assert [r.query["page"] for r in server.received] == ["1", "2"]
    assert {r.query["sku"] for r in server.received} == {"SKU"}


def test_a_listing_error_stops_there_and_keeps_no_key() -> None:
    garbage = Reply(body={**real_page(), "next": f"api_key={KEY}"})
    with hostile_server(lambda r: garbage) as server, pytest.raises(PixleeContentError) as error:
        list(_client(server.base_url).iter_album_photos(1))
    assert KEY not in str(error.value) and KEY not in error.value.excerpt


@pytest.mark.parametrize(
    "name", ["test.pxl_product.json", "test.error.500.json", "test.media.post.error.500.json"]
)
def test_the_fast_reading_of_sdk_fixtures_agrees_with_json5(name: str) -> None:
    text = (fixtures_dir() / "android-sdk" / name).read_text(encoding="utf-8")
    assert json.loads(json5_as_json(text)) == json5.loads(text) == android_fixture(name)
