"""Fixtures: small simulators on loopback, each test with its own world and a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from pixlee.simulator import DEMO_API_KEY, FakeClock, Simulator, SimulatorConfig

SMALL = {"albums": 3, "media_per_album": 120, "products": 6, "categories": 3, "seed": 7}


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Simulator]]:
    """Start simulators with SMALL defaults plus overrides; all are stopped afterwards."""
    started: list[Simulator] = []

    def factory(**overrides: Any) -> Simulator:
        options: dict[str, Any] = {**SMALL, "clock": FakeClock(), **overrides}
        sim = Simulator(SimulatorConfig(**options)).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Callable[..., Simulator]) -> Simulator:
    return make_sim()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get(session: requests.Session, sim: Simulator, path: str, **params: Any) -> requests.Response:
    """GET an API path with the read key (unless api_key is given)."""
    params.setdefault("api_key", DEMO_API_KEY)
    return session.get(sim.base_url + path, params=params, timeout=10)


def standard_album(sim: Simulator, index: int = 0) -> int:
    ids: list[int] = [a["id"] for a in sim.truth_albums() if a["album_type"] == "standard"]
    return ids[index]


def all_pages(
    session: requests.Session, sim: Simulator, path: str, **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        body = get(session, sim, path, page=page, **params).json()
        items.extend(body["data"])
        if not body["next"]:
            return items
        page += 1
