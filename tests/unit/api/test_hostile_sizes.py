"""Bodies are read no further than `max_response_bytes` (decompressed): bombs and huge pages.

Memory is measured with tracemalloc (allocations, not wall time), so the bounds hold on a loaded
machine. Before: a 1 MB gzip response inflated to 1 GiB in memory, a 50 MB page peaked at 919 MB.
"""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pixlee import Bounds, PixleeClient, PixleeResponseTooLarge
from pixlee.api.config import DEFAULT_MAX_RESPONSE_BYTES
from tests.support.hostile_server import Reply, gzip_bomb, hostile_server, padded_page
from tests.support.virtual_time import VirtualClock

MiB = 1024 * 1024
BOMB_INFLATED = 256 * MiB
T = TypeVar("T")


def _client(base_url: str, **kwargs: Any) -> PixleeClient:
    clock = VirtualClock()
    return PixleeClient(
        api_key="read-K3y-sizes-0001", base_url=base_url, rate_limit_per_minute=0,
        sleep=clock.sleep, clock=clock, **kwargs,
    )  # fmt: skip


def _peak_bytes(call: Callable[[], T]) -> tuple[T | BaseException, int]:
    """What `call` returned (or raised) and the peak of Python allocations meanwhile."""
    tracemalloc.start()
    try:
        outcome: T | BaseException = call()
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        outcome = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, peak


def _bomb_reply(**kwargs: Any) -> Reply:
    return Reply(body=gzip_bomb(BOMB_INFLATED), headers={"Content-Encoding": "gzip"}, **kwargs)


@pytest.mark.parametrize("cap", [1 * MiB, DEFAULT_MAX_RESPONSE_BYTES])
def test_a_gzip_bomb_is_inflated_only_up_to_the_cap(cap: int) -> None:
    bomb = gzip_bomb(BOMB_INFLATED)
    assert len(bomb) < MiB  # under a megabyte on the wire, 256 MiB inflated
    with hostile_server(lambda r: _bomb_reply()) as server:
        client = _client(server.base_url, bounds=Bounds(max_response_bytes=cap))
        error, peak = _peak_bytes(lambda: list(client.iter_album_photos(1)))
    assert isinstance(error, PixleeResponseTooLarge)
    assert peak < cap + 16 * MiB  # the cap and a few read buffers, never the 256 MiB
    assert len(server.received) == 1  # not retried as transient
    assert str(error) == (
        f"GET /albums/1/photos page 1: the response is larger than max_response_bytes ({cap} "
        "bytes); reading stopped there. Raise max_response_bytes under [sources.pixlee_source] "
        "if such pages are expected, or lower per_page"
    )
    assert (error.path, error.page) == ("/albums/1/photos", 1)


def test_a_bomb_without_content_length_is_cut_the_same_way() -> None:
    with hostile_server(lambda r: _bomb_reply(send_length=False)) as server:
        client = _client(server.base_url, max_response_bytes=2 * MiB)
        error, peak = _peak_bytes(lambda: client.get_json("/albums"))
    assert isinstance(error, PixleeResponseTooLarge)
    assert peak < 18 * MiB


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    body = padded_page(50 * MiB)
    with hostile_server(lambda r: Reply(body=body)) as server:
        client = _client(server.base_url, max_response_bytes=10 * MiB)
        error, peak = _peak_bytes(lambda: list(client.iter_album_photos(1)))
    assert isinstance(error, PixleeResponseTooLarge)
    assert peak < 4 * MiB  # nothing of the 50 MB was read


def _resident(field: str) -> int:
    status = Path("/proc/self/status").read_text(encoding="ascii")
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
    assert match is not None
    return int(match.group(1)) * 1024


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_a_50_mb_page_under_the_cap_is_read_with_memory_in_proportion() -> None:
    """Resident memory, not tracemalloc: orjson reserves a pool it mostly never touches."""
    body = padded_page(50 * MiB)
    with hostile_server(lambda r: Reply(body=body)) as server:
        client = _client(server.base_url)  # the default cap, 64 MiB
        list(client.iter_album_photos(1, start_page=1))  # warm: pools and buffers exist
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")  # peak := now
        before = _resident("VmRSS")
        pages = list(client.iter_album_photos(1))
        peak = _resident("VmHWM") - before
    assert [len(p.items) for p in pages] == [100]
    assert sum(len(i["photo_title"]) for i in pages[0].items) > 49 * MiB
    # measured 150 MB: the body read once, orjson's copy of it, the strings; not 919 MB
    assert 50 * MiB < peak < 4 * len(body)


def test_a_page_just_under_the_cap_is_fine_and_one_byte_over_is_not() -> None:
    body = padded_page(300_000)
    with hostile_server(lambda r: Reply(body=body, send_length=False)) as server:
        assert len(list(_client(server.base_url, max_response_bytes=len(body)).iter_albums())) == 1
        with pytest.raises(PixleeResponseTooLarge):
            list(_client(server.base_url, max_response_bytes=len(body) - 1).iter_albums())


def test_the_cap_comes_from_dlt_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__MAX_RESPONSE_BYTES", "1000")
    with hostile_server(lambda r: Reply(body=padded_page(5000))) as server:
        client = _client(server.base_url)
        assert client.bounds.max_response_bytes == 1000
        with pytest.raises(PixleeResponseTooLarge, match=r"max_response_bytes \(1000 bytes\)"):
            list(client.iter_albums())
