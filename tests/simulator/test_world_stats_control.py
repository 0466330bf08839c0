"""The living world, ground truth, determinism, observability and the /_sim control plane."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from pixlee.simulator import Simulator, SimulatorConfig, World

from .conftest import SMALL, all_pages, get, standard_album


def fresh(http: requests.Session, sim: Simulator, album_id: int) -> list[dict[str, Any]]:
    return all_pages(
        http, sim, f"/albums/{album_id}/photos", per_page=100, unique_id=time.monotonic_ns()
    )


def test_add_puts_new_content_at_the_head(sim: Simulator, http: requests.Session) -> None:
    album_id = standard_album(sim)
    before = sim.truth_media([album_id])
    ids = sim.world.add_media(album_id, count=3, title="Brand new \U0001f525")
    after = sim.truth_media([album_id])
    assert [i["album_photo_id"] for i in after[:3]] == sorted(ids, reverse=True)
    assert after[3:] == before
    assert all(i["title"] == "Brand new \U0001f525" for i in after[:3])
    assert fresh(http, sim, album_id) == after


def test_edit_moves_updated_at(sim: Simulator, http: requests.Session) -> None:
    album_id = standard_album(sim)
    item = sim.truth_media([album_id])[10]
    sim.world.edit_media(item["album_photo_id"], title="Edited", native_likes=12345)
    edited = next(
        i for i in fresh(http, sim, album_id) if i["album_photo_id"] == item["album_photo_id"]
    )
    assert (edited["title"], edited["photo_title"], edited["native_likes"]) == (
        "Edited",
        "Edited",
        12345,
    )
    assert edited["updated_at"] > item["updated_at"]
    with pytest.raises(ValueError):
        sim.world.edit_media(item["album_photo_id"], album_id=1)
    with pytest.raises(ValueError):
        sim.world.edit_media(item["album_photo_id"], no_such_field=1)


def test_remove_and_restore(sim: Simulator, http: requests.Session) -> None:
    album_id = standard_album(sim)
    items = sim.truth_media([album_id])
    unapproved, deleted = items[0]["album_photo_id"], items[1]["album_photo_id"]
    sim.world.remove_media(unapproved, "unapprove")
    sim.world.remove_media(deleted, how="delete")
    served = {i["album_photo_id"] for i in fresh(http, sim, album_id)}
    assert len(served) == 118 and not {unapproved, deleted} & served
    removed = sim.removed_album_photo_ids()
    assert {unapproved, deleted} <= removed
    deleted_photo = sim.world._placement(deleted).photo  # noqa: SLF001 - white-box check
    assert {p.album_photo_id for p in deleted_photo.placements} <= removed
    assert get(http, sim, f"/media/{unapproved}").status_code == 404
    sim.world.restore_media(unapproved)
    sim.world.restore_media(deleted)
    assert sim.removed_album_photo_ids() == set()
    assert {i["album_photo_id"] for i in sim.truth_media([album_id])} == {
        i["album_photo_id"] for i in items
    }


def test_update_product_reaches_media(sim: Simulator) -> None:
    item = next(i for i in sim.truth_media() if i["products"])
    product = item["products"][0]
    sim.world.update_product(product["id"], price=1.5, sales_price=1.0)
    carriers = [i for i in sim.truth_media() for p in i["products"] if p["id"] == product["id"]]
    assert carriers and all(
        p["price"] == 1.5 and p["sales_price"] == 1.0
        for i in carriers
        for p in i["products"]
        if p["id"] == product["id"]
    )
    moved = next(i for i in carriers if i["album_photo_id"] == item["album_photo_id"])
    assert moved["updated_at"] > item["updated_at"]


def test_churn_changes_the_world_and_stops(sim: Simulator) -> None:
    before = sim.world.mutations
    sim.world.start_churn(200)
    time.sleep(0.3)
    sim.world.stop_churn()
    changed = sim.world.mutations - before
    assert changed > 5
    time.sleep(0.05)
    assert sim.world.mutations - before == changed


def test_churn_is_seeded() -> None:
    config = SimulatorConfig(**SMALL)
    worlds = [World(config), World(config)]
    for world in worlds:
        for _ in range(40):
            world.churn_once()
    assert [len(w.truth_media()) for w in worlds][0] == len(worlds[1].truth_media())
    assert worlds[0].removed_album_photo_ids() == worlds[1].removed_album_photo_ids()


def test_same_seed_same_bytes_other_seed_differs() -> None:
    config = SimulatorConfig(**SMALL)
    first, second = World(config).dump(), World(config).dump()
    assert first == second
    assert World(SimulatorConfig(**{**SMALL, "seed": 8})).dump() != first


def test_stats_by_route_and_status(sim: Simulator, http: requests.Session) -> None:
    album_id = standard_album(sim)
    get(http, sim, f"/albums/{album_id}/photos")
    get(http, sim, f"/albums/{album_id}/photos", page=2)
    get(http, sim, f"/albums/{album_id}/photos", api_key="bad")
    get(http, sim, "/albums")
    get(http, sim, "/nope")
    photos = "/api/v2/albums/{album_id}/photos"
    assert sim.stats.by_route_status() == {
        ("GET", photos, 200): 2,
        ("GET", photos, 401): 1,
        ("GET", "/api/v2/albums", 200): 1,
        ("GET", "<unknown>", 404): 1,
    }
    assert sim.stats.count(route=photos) == 3
    assert sim.stats.count(method="GET", status=200) == 3
    record = sim.stats.requests[0]
    assert (record.method, record.route, record.status, record.cache) == (
        "GET",
        photos,
        200,
        "miss",
    )
    assert record.query["api_key"] == "***" and record.path == f"/api/v2/albums/{album_id}/photos"
    sim.stats.reset()
    assert sim.stats.count() == 0 and sim.stats.requests == []


def test_max_concurrent(sim: Simulator) -> None:
    sim.set_faults(latency_ms=300)
    barrier = threading.Barrier(4)

    def one(n: int) -> None:
        with requests.Session() as http:
            barrier.wait()
            assert get(http, sim, "/albums", unique_id=n).status_code == 200

    threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sim.stats.max_concurrent == 4


def control(
    http: requests.Session, sim: Simulator, method: str, path: str, **body: Any
) -> requests.Response:
    return http.request(method, sim.root_url + path, json=body or None, timeout=10)


def test_control_plane(sim: Simulator, http: requests.Session) -> None:
    album_id = standard_album(sim)
    assert control(http, sim, "GET", "/_sim/truth/albums").json() == sim.truth_albums()
    media = http.get(sim.root_url + "/_sim/truth/media", params={"album_ids": album_id}).json()
    assert media == sim.truth_media([album_id])

    added = control(http, sim, "POST", "/_sim/mutate", op="add", album_id=album_id, count=2)
    new_ids = added.json()["album_photo_ids"]
    assert [i["album_photo_id"] for i in sim.truth_media([album_id])[:2]] == new_ids[::-1]
    target = new_ids[0]
    control(
        http, sim, "POST", "/_sim/mutate", op="edit", album_photo_id=target, fields={"title": "T"}
    )  # noqa: E501
    assert sim.world.media_bytes(target) is not None
    control(http, sim, "POST", "/_sim/mutate", op="remove", album_photo_id=target, how="unapprove")
    assert control(http, sim, "GET", "/_sim/truth/removed").json() == [target]
    control(http, sim, "POST", "/_sim/mutate", op="restore", album_photo_id=target)
    assert control(http, sim, "GET", "/_sim/truth/removed").json() == []
    product_id = next(p["id"] for i in sim.truth_media() for p in i["products"])
    control(
        http,
        sim,
        "POST",
        "/_sim/mutate",
        op="update_product",
        product_id=product_id,
        fields={"price": 3},
    )  # noqa: E501
    bad = control(http, sim, "POST", "/_sim/mutate", op="explode")
    assert bad.status_code == 400
    missing = control(http, sim, "POST", "/_sim/mutate", op="remove", album_photo_id=1)
    assert missing.status_code == 404

    control(http, sim, "POST", "/_sim/faults", fault_rate=1.0, fault_kinds=["503"])
    assert get(http, sim, "/albums").status_code == 503
    control(http, sim, "POST", "/_sim/faults", fault_rate=0.0)
    control(http, sim, "POST", "/_sim/rate_limit", get_per_minute=1, retry_after=False)
    assert get(http, sim, "/albums", unique_id=1).status_code == 429
    stats = control(http, sim, "GET", "/_sim/stats").json()
    assert stats["rate_limited"] == 1 and stats["total"] == sim.stats.count() == 2
    assert {"method": "GET", "route": "/api/v2/albums", "status": 503, "count": 1} in stats[
        "by_route_status"
    ]
    control(http, sim, "POST", "/_sim/stats/reset")
    assert sim.stats.count() == 0

    before = sim.config.now()
    advanced = control(http, sim, "POST", "/_sim/clock/advance", seconds=61).json()
    assert advanced["now"] == before + 61
    assert get(http, sim, "/albums", unique_id=2).status_code == 200  # the window moved on
    assert sim.stats.count() == 1  # control requests are not counted


def test_clock_advance_needs_a_fake_clock(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(clock=None)
    with requests.Session() as http:
        response = control(http, sim, "POST", "/_sim/clock/advance", seconds=1)
        assert response.status_code == 400


def test_context_manager_and_kwargs() -> None:
    with Simulator(albums=1, media_per_album=3, products=1, categories=0, port=0) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:") and sim.base_url.endswith("/api/v2")
        assert len(sim.truth_media()) >= 3
        assert requests.get(sim.base_url + "/albums", timeout=5).status_code == 401
    with pytest.raises(requests.ConnectionError):
        requests.get(sim.base_url + "/albums", timeout=5)
    with pytest.raises(RuntimeError):
        _ = Simulator(albums=1, media_per_album=1).base_url  # not started


def test_config_says_when_every_item_is_serialized(
    make_sim: Callable[..., Simulator], http: requests.Session
) -> None:
    """Benchmarks wait for `prewarmed` so the warm-up thread does not slow measured requests."""
    cold = make_sim(prewarm=False)
    assert http.get(cold.root_url + "/_sim/config").json()["prewarmed"] is False
    warm = make_sim(prewarm=True)
    deadline = time.monotonic() + 30
    while not http.get(warm.root_url + "/_sim/config").json()["prewarmed"]:
        assert time.monotonic() < deadline, "prewarm never finished"
        time.sleep(0.05)
    assert all(photo.fragments is not None for photo in warm.world._photos.values())
    assert http.get(cold.root_url + "/_sim/config").json()["prewarmed"] is False


def test_first_and_last_request_times_are_recorded(sim: Simulator, http: requests.Session) -> None:
    before = time.time()
    get(http, sim, "/albums")
    get(http, sim, "/albums")
    after = time.time()
    snapshot = http.get(sim.root_url + "/_sim/stats").json()
    assert before <= snapshot["first_request_at"] <= snapshot["last_request_at"] <= after
    http.post(sim.root_url + "/_sim/stats/reset", json={})
    snapshot = http.get(sim.root_url + "/_sim/stats").json()
    assert (snapshot["first_request_at"], snapshot["last_request_at"]) == (None, None)
