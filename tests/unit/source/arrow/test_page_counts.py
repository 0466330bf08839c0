"""The scan's and the derived tables' answers from Arrow items equal those from the dicts.

Each page is read by `JsonPages` after learning from itself (so drifted types reach the
counting functions), and each function either declines (None/False) or answers exactly as the
dict code in `pixlee.source.scanning`, `pixlee.source.derived` and `pixlee.source` does.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from pixlee.api.values import to_int
from pixlee.simulator import Simulator
from pixlee.source.arrow import page_counts
from pixlee.source.derived import AlbumStatistics, CategoryCounter
from pixlee.source.scanning import _approved_ms, _unseen
from tests.unit.source.arrow.support import listing_bodies, reader


@pytest.fixture(scope="module")
def bodies(shared_sim: Simulator) -> list[bytes]:
    pages = [
        body
        for album in shared_sim.truth_albums()
        for body in listing_bodies(shared_sim, f"/albums/{album['id']}/photos", {})
    ]
    return pages + [_edited(pages[0], edit) for edit in EDITS]


def _edited(body: bytes, edit: Any) -> bytes:
    envelope = orjson.loads(body)
    for index, item in enumerate(envelope["data"]):
        edit(index, item)
    return json.dumps(envelope).encode()


EDITS = [
    lambda i, item: item.update(source=[None, "", "tiktok"][i % 3]),
    lambda i, item: item.update(has_permission=None if i % 2 else True, is_starred=1),
    lambda i, item: item.update(native_likes=str(i)),  # text counters: the dicts use to_int
    lambda i, item: item.update(native_views=None, approved_on_date=None if i % 4 else 5),
    lambda i, item: item.update(tag_album_ids=[i % 3, None] if i % 2 else None),
    lambda i, item: item.update(album_photo_id=7 if i % 3 else None),  # repeats and no key
    lambda i, item: item.update(products=[{"id": i % 4}, None, {"id": None}] if i % 2 else []),
    lambda i, item: item.update(content_type=["video", "image", None][i % 3]),
    lambda i, item: item.update(content_type=i, source=i),  # other types: counted as the dicts do
    lambda i, item: item.pop("products"),
    lambda i, item: item.update(native_views=i + 0.5),  # doubles: declined (3 reads as 3.0)
]


def _items(body: bytes) -> tuple[list[dict[str, Any]], Any]:
    envelope = orjson.loads(body)
    pages = reader()
    pages.learn(envelope)
    parsed = pages.parse(body)
    assert parsed.items is not None, parsed.reason
    return envelope["data"], parsed.items


def test_scan_keys_and_approved_range(bodies: list[bytes]) -> None:
    seen_dicts: set[Any] = set()
    seen_arrow: set[Any] = set()
    for body in bodies:
        dicts, items = _items(body)
        keys = page_counts.keys(items)
        if keys is None:
            continue
        fresh = _unseen(dicts, seen_dicts)
        mask = page_counts.first_unseen(keys, seen_arrow).to_pylist()
        assert [d for d, keep in zip(dicts, mask, strict=True) if keep] == fresh
        assert seen_arrow == seen_dicts
        assert page_counts.approved_times(items) == [_approved_ms(item) for item in dicts]


def test_statistics(bodies: list[bytes]) -> None:
    answered = 0
    for body in bodies:
        dicts, items = _items(body)
        expected, mine = AlbumStatistics(1), AlbumStatistics(1)
        expected.add(dicts)
        if page_counts.add_statistics(mine, items):
            answered += 1
            assert mine == expected
        else:
            assert mine == AlbumStatistics(1)  # nothing half-added
    assert answered == len(bodies) - 1  # all but the page of double counters


def test_categories(bodies: list[bytes]) -> None:
    for body in bodies:
        dicts, items = _items(body)
        expected, mine = CategoryCounter(), CategoryCounter()
        expected.add(dicts)
        assert page_counts.add_categories(mine, items)
        assert mine.photos == expected.photos


def test_products_first_seen(bodies: list[bytes]) -> None:
    seen_dicts: set[Any] = set()
    seen_arrow: set[Any] = set()
    for body in bodies:
        dicts, items = _items(body)
        expected = []
        for item in dicts:  # as the `products` resource picks them
            for product in item.get("products") or []:
                if isinstance(product, dict):
                    product_id = to_int(product.get("id"))
                    if product_id is not None and product_id not in seen_dicts:
                        seen_dicts.add(product_id)
                        expected.append(product_id)
        positions = page_counts.unseen_products(items, seen_arrow)
        assert positions is not None
        tags = page_counts.field_of(items, "products")
        ids = (
            []
            if tags is None or not len(positions)
            else (
                page_counts.field_of(tags.flatten(), "id").take(positions).to_pylist()  # type: ignore[union-attr]
            )
        )
        assert ids == expected
        assert seen_arrow == seen_dicts
