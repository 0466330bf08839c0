"""The building blocks of concurrent extraction, without HTTP: order, bounds, errors, pacing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from pixlee.api.concurrency import ReadAhead, interleave
from pixlee.api.paging import read_pages_ahead


def _task(name: str, count: int, delay: float = 0.0) -> Callable[[], Iterator[tuple[str, int]]]:
    def run() -> Iterator[tuple[str, int]]:
        for i in range(count):
            if delay:
                time.sleep(delay)
            yield name, i

    return run


def test_interleave_keeps_each_tasks_order_and_yields_everything() -> None:
    tasks = [_task(f"t{n}", 20, delay=0.001) for n in range(6)]
    items = list(interleave(tasks, workers=3, max_buffered=4))
    assert len(items) == 120
    for n in range(6):
        assert [i for name, i in items if name == f"t{n}"] == list(range(20))


def test_interleave_buffers_at_most_max_buffered_items() -> None:
    produced = 0
    lock = threading.Lock()

    def run() -> Iterator[int]:
        nonlocal produced
        for i in range(100):
            with lock:
                produced += 1
            yield i

    stream = interleave([run, run], workers=2, max_buffered=3)
    next(stream)
    time.sleep(0.2)
    # consumed 1, at most 3 waiting in the queue, and one blocked in `put` per worker
    assert produced <= 1 + 3 + 2
    stream.close()


def test_interleave_raises_a_tasks_error_and_stops_the_others() -> None:
    started = threading.Event()

    def failing() -> Iterator[int]:
        started.wait(1)
        raise ValueError("boom")
        yield 0  # pragma: no cover

    def endless() -> Iterator[int]:
        started.set()
        i = 0
        while True:
            i += 1
            yield i

    with pytest.raises(ValueError, match="boom"):
        for _ in interleave([endless, failing], workers=2, max_buffered=2):
            pass


def test_read_ahead_stops_at_the_last_page_and_never_waits_on_pages_past_it() -> None:
    requested: list[int] = []
    lock = threading.Lock()

    def fetch(page: int) -> tuple[int, bool]:
        with lock:
            requested.append(page)
        if page > 5:
            time.sleep(0.5)  # past the end: slow, must not be waited for
            raise RuntimeError("past the end is never read")
        return page, page < 5

    with ThreadPoolExecutor(4) as pool:
        started = time.monotonic()
        pages = list(
            read_pages_ahead(fetch, lambda p: p[1], executor=pool, window=lambda: 4, start_page=1)
        )
        elapsed = time.monotonic() - started
    assert [p for p, _ in pages] == [1, 2, 3, 4, 5]
    assert max(requested) <= 5 + 3  # the window had opened to 4 by page 5
    assert elapsed < 0.4


def test_read_ahead_opens_only_once_a_listing_proves_long() -> None:
    requested: list[int] = []

    def fetch(page: int) -> tuple[int, bool]:
        requested.append(page)
        return page, page < 2

    with ThreadPoolExecutor(4) as pool:
        pages = list(read_pages_ahead(fetch, lambda p: p[1], executor=pool, window=lambda: 8))
    assert [p for p, _ in pages] == [1, 2]
    assert requested == [1, 2]  # a two-page album costs two requests


def test_read_ahead_window_shrinks_as_albums_start() -> None:
    ahead = ReadAhead(max_in_flight=16)
    assert ahead.window() == 16
    for _ in range(4):
        ahead.started()
    assert ahead.window() == 4
    for _ in range(20):
        ahead.started()
    assert ahead.window() == 1
