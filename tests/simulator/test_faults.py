"""Each fault kind as a client sees it, latency, and seeded reproducibility."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from pixlee.simulator import Simulator

from .conftest import get, standard_album


def only(sim: Simulator, kind: str) -> None:
    sim.set_faults(fault_rate=1.0, fault_kinds=(kind,))


def test_500_is_pixlee_json(sim: Simulator, http: requests.Session) -> None:
    only(sim, "500")
    response = get(http, sim, "/albums")
    assert response.status_code == 500
    assert response.content == b'{"error":"Internal error.","status":"500"}'


@pytest.mark.parametrize("status", [502, 503, 504])
def test_cdn_errors_are_html(sim: Simulator, http: requests.Session, status: int) -> None:
    only(sim, str(status))
    response = get(http, sim, f"/albums/{standard_album(sim)}/photos")
    assert response.status_code == status
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text.startswith("<!DOCTYPE HTML")
    assert f"<title>{status} " in response.text
    with pytest.raises(ValueError):
        response.json()


def test_reset_is_a_connection_error(sim: Simulator, http: requests.Session) -> None:
    only(sim, "reset")
    with pytest.raises(requests.ConnectionError):
        get(http, sim, "/albums")
    sim.set_faults(fault_rate=0.0)
    assert get(http, sim, "/albums").status_code == 200  # the session recovers
    assert sim.stats.count(status=0) == 1
    assert [r.fault for r in sim.stats.requests] == ["reset", None]


def test_truncate_is_an_incomplete_body(sim: Simulator, http: requests.Session) -> None:
    only(sim, "truncate")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(http, sim, f"/albums/{standard_album(sim)}/photos")
    response = http.get(
        sim.base_url + "/albums", params={"api_key": sim.config.api_key}, stream=True, timeout=5
    )
    announced = int(response.headers["Content-Length"])
    received = b""
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for chunk in response.iter_content(1024):
            received += chunk
    assert 0 < len(received) < announced


def test_slow_body_completes(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(slow_chunks=4, slow_chunk_delay_ms=60)
    only(sim, "slow")
    with requests.Session() as http:
        started = time.perf_counter()
        response = get(http, sim, f"/albums/{standard_album(sim)}/photos")
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert response.json()["data"] == sim.truth_media([standard_album(sim)])[:30]
    assert elapsed >= 0.18  # three pauses between four chunks


def test_latency_and_jitter(sim: Simulator, http: requests.Session) -> None:
    sim.set_faults(latency_ms=150, jitter_ms=50)
    started = time.perf_counter()
    assert get(http, sim, "/albums").status_code == 200
    assert time.perf_counter() - started >= 0.15
    sim.set_faults(latency_ms=0, jitter_ms=0)
    started = time.perf_counter()
    get(http, sim, "/albums", unique_id=2)
    assert time.perf_counter() - started < 0.15


def _statuses(sim: Simulator, count: int) -> list[int]:
    out = []
    with requests.Session() as http:
        for n in range(count):
            try:
                out.append(get(http, sim, "/albums", unique_id=n).status_code)
            except requests.RequestException:
                out.append(-1)
    return out


def test_faults_are_seeded_and_reproducible(make_sim: Callable[..., Simulator]) -> None:
    kinds = ("500", "503", "reset")
    first = make_sim(fault_rate=0.3, fault_kinds=kinds, fault_seed=11)
    second = make_sim(fault_rate=0.3, fault_kinds=kinds, fault_seed=11)
    other = make_sim(fault_rate=0.3, fault_kinds=kinds, fault_seed=12)
    a, b, c = _statuses(first, 60), _statuses(second, 60), _statuses(other, 60)
    assert a == b
    assert a != c
    assert {500, 503, -1, 200} == set(a)
    faults = [r.fault for r in first.stats.requests]
    assert faults.count(None) == a.count(200)
    first.set_faults(seed=11)
    assert _statuses(first, 60) == a
