"""`album_pages`: the scan's dicts of a page read as Arrow are the dict path's values, or none.

The album scan, `statistics` and `categories` read these dicts instead of the decoded page; a
value that differed would change a watermark, a version count or a statistic silently.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pixlee.simulator import Simulator
from pixlee.source.arrow.album_pages import SCAN_FIELDS, AlbumPageReader, scan_items
from pixlee.source.arrow.json_read import PageReader
from tests.unit.source.arrow.support import listing_bodies


def _expected(item: dict[str, Any]) -> dict[str, Any]:
    """What the dict path reads of an item (absent keys read as None through `.get`)."""
    row = {name: item.get(name) for name in SCAN_FIELDS}
    tags = item.get("products")
    row["products"] = None if tags is None else [{"id": tag["id"]} for tag in tags]
    return row


@pytest.fixture(scope="module")
def bodies(shared_sim: Simulator) -> list[bytes]:
    found: list[bytes] = []
    for album in shared_sim.truth_albums():
        found += listing_bodies(shared_sim, f"/albums/{album['id']}/photos", {})
    return found


def test_simulator_pages_give_the_dict_paths_values(bodies: list[bytes]) -> None:
    reader = PageReader()
    pages = AlbumPageReader(reader)
    for body in bodies:
        envelope = orjson.loads(body)
        read = pages.read(body)
        if read is None:  # a body the schema does not fit yet: decoded, and learned
            pages.learn(envelope)
            read = pages.read(body)
        assert read is not None
        assert read.items == [_expected(item) for item in envelope["data"]]
        assert read.has_next is envelope["next"]
    assert reader.read_pages > len(bodies) // 2


def _items(*items: dict[str, Any]) -> Any:
    body = orjson.dumps({"status": 200, "next": False, "data": list(items)})
    reader = PageReader()
    reader.learn(orjson.loads(body))
    parsed = reader.read(body)
    assert parsed is not None
    return parsed.items


@pytest.mark.parametrize(
    "items",
    [
        ({"album_photo_id": "12", "products": []},),  # a key as text: the screen rewrites it
        ({"album_photo_id": None, "products": []}, {"album_photo_id": 3}),  # a null key
        ({"album_photo_id": 1, "products": [{"id": "x"}]},),  # a product id not an integer
        ({"album_photo_id": 1, "products": [{"id": None}]},),  # rejected as `products`
        ({"album_photo_id": 1, "products": [{"sku": "a"}]},),  # a tag without id
        ({"album_photo_id": 1, "products": [None]},),  # a null tag: skipped, not rejected
        ({"album_photo_id": 1, "native_likes": 1.5},),  # a double: 3 and 3.0 read alike
    ],
)
def test_what_the_dict_path_might_treat_otherwise_is_not_read(items: Any) -> None:
    assert scan_items(_items(*items)) is None


def test_products_absent_null_and_empty_stay_apart() -> None:
    found = scan_items(
        _items(
            {"album_photo_id": 1, "products": [{"id": 7}, {"id": 8}]},
            {"album_photo_id": 2, "products": None},
            {"album_photo_id": 3, "products": []},
            {"album_photo_id": 4},
        )
    )
    assert found is not None
    assert [row["products"] for row in found] == [[{"id": 7}, {"id": 8}], None, [], None]


def test_a_page_whose_scan_fields_arrow_cannot_give_is_counted_as_a_fallback() -> None:
    """A key read as a double (the scanner wants the int the body sent) is decoded instead,
    and the reader's `fallbacks` say why, as for bodies it refuses itself."""
    body = orjson.dumps({"status": 200, "next": False, "data": [{"album_photo_id": 1.5}]})
    reader = PageReader()
    reader.learn(orjson.loads(body))
    assert AlbumPageReader(reader).read(body) is None
    assert reader.read_pages == 1
    assert dict(reader.fallbacks) == {"fields the scan cannot read from Arrow": 1}
