"""The per-key rate limit (reads and writes apart) and the 2-minute CDN cache by full URL."""

from __future__ import annotations

from collections.abc import Callable

import requests

from pixlee.simulator import DEMO_PRIVATE_API_KEY, FakeClock, Simulator

from .conftest import get, standard_album

TOO_MANY = {"status": 429, "message": "Too Many Requests"}


def _clock(sim: Simulator) -> FakeClock:
    assert sim.clock is not None
    return sim.clock


def test_429_after_the_limit_with_retry_after(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(rate_limit=5)
    path = f"/albums/{standard_album(sim)}/photos"
    with requests.Session() as http:
        statuses = [get(http, sim, path, page=n).status_code for n in range(1, 7)]
        assert statuses == [200, 200, 200, 200, 200, 429]
        limited = get(http, sim, path)
        assert (limited.json(), limited.headers["Retry-After"]) == (TOO_MANY, "60")
        _clock(sim).advance(45)
        assert get(http, sim, path).headers["Retry-After"] == "15"
        _clock(sim).advance(15)
        assert get(http, sim, path).status_code == 200
        other_key = get(http, sim, path, api_key="another-key")
        assert other_key.status_code == 401  # its own budget: not limited, just a bad key
    assert sim.stats.rate_limited == 3
    assert sim.stats.count(status=429) == 3


def test_429_without_retry_after(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(rate_limit=2, retry_after=False)
    with requests.Session() as http:
        codes = [get(http, sim, "/albums").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert "Retry-After" not in get(http, sim, "/albums").headers
        sim.set_rate_limit(retry_after=True)
        assert get(http, sim, "/albums").headers["Retry-After"] == "60"
        sim.set_rate_limit(get_per_minute=100)
        assert get(http, sim, "/albums").status_code == 200


def test_reads_and_writes_are_counted_apart(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(rate_limit=2, write_rate_limit=3)

    def write(http: requests.Session) -> int:
        return http.post(
            sim.base_url + "/albums",
            params={"api_key": DEMO_PRIVATE_API_KEY},
            data=b"{}",
            headers={"Signature": "x"},
            timeout=5,
        ).status_code

    with requests.Session() as http:
        assert [get(http, sim, "/albums").status_code for _ in range(3)] == [200, 200, 429]
        assert [write(http) for _ in range(4)] == [403, 403, 403, 429]
        assert get(http, sim, "/albums").status_code == 429
    assert sim.stats.count(method="POST", status=429) == 1
    assert sim.stats.count(method="GET", status=429) == 2


def test_cdn_cache_serves_stale_pages_until_ttl_or_unique_id(sim: Simulator) -> None:
    album_id = standard_album(sim)
    path = f"/albums/{album_id}/photos"
    with requests.Session() as http:
        first = get(http, sim, path, per_page=5)
        assert first.headers["X-Cache"] == "MISS"
        (new_id,) = sim.world.add_media(album_id)
        stale = get(http, sim, path, per_page=5)
        assert stale.headers["X-Cache"] == "HIT"
        assert stale.content == first.content
        assert new_id not in [i["album_photo_id"] for i in stale.json()["data"]]

        fresh = get(http, sim, path, per_page=5, unique_id=1700000000)
        assert fresh.headers["X-Cache"] == "MISS"
        assert fresh.json()["data"][0]["album_photo_id"] == new_id
        assert get(http, sim, path, per_page=5, unique_id=1700000000).content == fresh.content

        _clock(sim).advance(119)
        assert get(http, sim, path, per_page=5).content == first.content
        _clock(sim).advance(2)
        expired = get(http, sim, path, per_page=5)
        assert expired.headers["X-Cache"] == "MISS"
        assert expired.json()["data"][0]["album_photo_id"] == new_id
    records = [r for r in sim.stats.requests if r.route.endswith("/photos")]
    assert [r.cache for r in records] == ["miss", "hit", "miss", "hit", "hit", "miss"]


def test_errors_are_not_cached(sim: Simulator) -> None:
    with requests.Session() as http:
        assert get(http, sim, "/media/1").status_code == 404
        assert get(http, sim, "/media/1").headers["X-Cache"] == "MISS"
        sim.set_faults(fault_rate=1.0, fault_kinds=("500",))
        assert get(http, sim, "/albums").status_code == 500
        sim.set_faults(fault_rate=0.0)
        assert get(http, sim, "/albums").status_code == 200


def test_cache_ttl_is_configurable(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(cache_ttl_seconds=0)
    with requests.Session() as http:
        get(http, sim, "/albums")
        assert "X-Cache" in get(http, sim, "/albums").headers
        assert get(http, sim, "/albums").headers["X-Cache"] == "MISS"
