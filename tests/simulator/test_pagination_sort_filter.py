"""Paging on ``next``, ``total`` as the page count, the per_page cap, every sort and filter."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from pixlee.simulator import Simulator

from .conftest import all_pages, get, standard_album


def test_default_page_size_next_and_total(sim: Simulator, http: requests.Session) -> None:
    path = f"/albums/{standard_album(sim)}/photos"
    pages = [get(http, sim, path, page=n).json() for n in (1, 2, 3, 4, 5)]
    assert [p["per_page"] for p in pages] == [30] * 5
    assert [p["total"] for p in pages] == [30, 30, 30, 30, 0]
    assert [p["next"] for p in pages] == [True, True, True, False, False]
    assert [len(p["data"]) for p in pages] == [30, 30, 30, 30, 0]
    assert pages[4]["data"] == []


def test_partial_last_page(sim: Simulator, http: requests.Session) -> None:
    body = get(http, sim, f"/albums/{standard_album(sim)}/photos", per_page=50, page=3).json()
    assert (body["total"], body["next"], len(body["data"])) == (20, False, 20)


def test_per_page_is_capped_silently(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(max_per_page=40)
    with requests.Session() as http:
        body = get(http, sim, f"/albums/{standard_album(sim)}/photos", per_page=500).json()
        assert (body["per_page"], body["total"], body["next"]) == (40, 40, True)
        default_cap = make_sim()
        body = get(
            http, default_cap, f"/albums/{standard_album(default_cap)}/photos", per_page=101
        ).json()
        assert (body["per_page"], body["total"]) == (100, 100)


BAD_PAGING = [{"page": "x"}, {"per_page": "1.5"}, {"page": "0"}, {"per_page": "-3"}]


@pytest.mark.parametrize("params", BAD_PAGING)
def test_bad_paging_is_400(sim: Simulator, http: requests.Session, params: dict[str, str]) -> None:
    response = get(http, sim, f"/albums/{standard_album(sim)}/photos", **params)
    assert response.status_code == 400
    assert response.json()["status"] == "400"


def test_walking_pages_yields_the_truth(sim: Simulator, http: requests.Session) -> None:
    album_id = standard_album(sim, 1)
    assert all_pages(http, sim, f"/albums/{album_id}/photos", per_page=17) == sim.truth_media(
        [album_id]
    )


def _items(sim: Simulator, http: requests.Session, **params: Any) -> list[dict[str, Any]]:
    return all_pages(http, sim, f"/albums/{standard_album(sim)}/photos", per_page=100, **params)


SORTS: list[tuple[str, Callable[[dict[str, Any]], int]]] = [
    ("approved_time", lambda i: i["approved_on_date"]),
    ("recency", lambda i: i["created_at"]),
    ("popularity", lambda i: i["native_likes"] + i["native_comments"]),
    ("pixlee_likes", lambda i: i["like_count"]),
    ("pixlee_shares", lambda i: i["share_count"]),
]


@pytest.mark.parametrize(("key", "value"), SORTS)
@pytest.mark.parametrize("direction", ["desc", "asc"])
def test_sorts(
    sim: Simulator,
    http: requests.Session,
    key: str,
    value: Callable[[dict[str, Any]], int],
    direction: str,
) -> None:
    items = _items(sim, http, sort=json.dumps({key: True, direction: True}))
    keys = [(value(i), i["album_photo_id"]) for i in items]
    assert keys == sorted(keys, reverse=direction == "desc")
    assert len(items) == 120
    body = get(http, sim, f"/albums/{standard_album(sim)}/photos", sort=json.dumps({key: True}))
    assert body.json()["sortType"] == key


def test_default_sort_is_approved_time_desc(sim: Simulator, http: requests.Session) -> None:
    explicit = _items(sim, http, sort='{"approved_time":true,"desc":true}')
    assert _items(sim, http) == explicit == sim.truth_media([standard_album(sim)])


def test_random_sort_is_a_stable_seeded_shuffle(sim: Simulator, http: requests.Session) -> None:
    first = [i["album_photo_id"] for i in _items(sim, http, sort='{"random":true}')]
    again = [i["album_photo_id"] for i in _items(sim, http, sort='{"random":true}', unique_id=1)]
    other = [i["album_photo_id"] for i in _items(sim, http, sort='{"random":true,"seed":5}')]
    default = [i["album_photo_id"] for i in _items(sim, http)]
    assert first == again
    assert sorted(first) == sorted(other) == sorted(default)
    assert first != other and first != default


def _ids(items: list[dict[str, Any]]) -> set[int]:
    return {i["album_photo_id"] for i in items}


FILTERS: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"content_type": ["video"]}, lambda i: i["content_type"] == "video"),
    ({"content_type": ["image"]}, lambda i: i["content_type"] == "image"),
    ({"content_source": ["tiktok", "desktop"]}, lambda i: i["source"] in ("tiktok", "desktop")),
    ({"content_source": ["instagram_feed"]}, lambda i: i["source"] == "instagram"),
    ({"has_permission": True}, lambda i: i["has_permission"]),
    ({"has_permission": False}, lambda i: True),
    ({"has_product": True}, lambda i: bool(i["products"])),
    ({"has_product": False}, lambda i: not i["products"]),
    ({"starred_photos": True}, lambda i: i["is_starred"]),
    ({"filter_by_subcaption": "LINK IN BIO"}, lambda i: "link in bio" in i["title"].lower()),
    ({"min_instagram_followers": "5000"}, lambda i: i["instagram_followers"] >= 5000),
    (
        {"content_type": ["image"], "has_permission": True},
        lambda i: i["content_type"] == "image" and i["has_permission"],
    ),
]


@pytest.mark.parametrize(("spec", "keep"), FILTERS)
def test_filters(
    sim: Simulator,
    http: requests.Session,
    spec: dict[str, Any],
    keep: Callable[[dict[str, Any]], bool],
) -> None:
    truth = sim.truth_media([standard_album(sim)])
    expected = [i for i in truth if keep(i)]
    assert len(expected) > 0
    assert _items(sim, http, filters=json.dumps(spec)) == expected


def test_in_categories_and_submitted_dates(sim: Simulator, http: requests.Session) -> None:
    truth = sim.truth_media([standard_album(sim)])
    category = next(c for i in truth for c in i["tag_album_ids"])
    got = _items(sim, http, filters=json.dumps({"in_categories": [category]}))
    assert got == [i for i in truth if category in i["tag_album_ids"]] and got
    times = sorted(i["submitted_at"] // 1000 for i in truth)
    start, end = times[30], times[80]
    got = _items(
        sim,
        http,
        filters=json.dumps({"submitted_date_start": start, "submitted_date_end": end}),
    )
    assert got == [i for i in truth if start <= i["submitted_at"] // 1000 <= end]
    assert len(got) >= 51


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sort", "{not json"),
        ("sort", "[1,2]"),
        ("sort", '{"sideways":true}'),
        ("sort", '{"recency":true,"popularity":true}'),
        ("filters", "{not json"),
        ("filters", '"a string"'),
        ("filters", '{"content_type":"video"}'),
        ("filters", '{"has_permission":"yes"}'),
        ("filters", '{"in_categories":["x"]}'),
        ("filters", '{"no_such_filter":1}'),
    ],
)
def test_malformed_sort_and_filters_are_400(
    sim: Simulator, http: requests.Session, name: str, value: str
) -> None:
    response = get(http, sim, f"/albums/{standard_album(sim)}/photos", **{name: value})
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "400" and name in body["error"]
