"""Concurrent extraction: albums in parallel, pages read ahead, a bound on requests in flight.

One Pixlee key allows 3600 GETs a minute; at 200 ms a request, one page at a time reaches 5 a
second. Reaching the limit needs about `limit x latency` requests in flight (12 at 3600/min and
200 ms), so albums are scanned by several threads and a full scan reads a few pages ahead of the
one being consumed. Three things keep that sane:

* every request still passes the one pacer of the client (and a semaphore of `max_in_flight`),
  so concurrency never raises the request rate above the configured limit;
* results reach dlt through a bounded queue, in order within each album (albums interleave),
  so memory is bounded by the queue and the read-ahead windows, not by the account's size;
* the read-ahead window (`pixlee.api.paging.read_pages_ahead`) shrinks as more albums run at
  once (`ReadAhead`): with many albums album-level parallelism already fills the budget and no
  request is spent past an album's end.

Threads (not asyncio): the client is `requests`-based, and the work per request is small next to
the wait, so the GIL is not the limit at 60 requests a second.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

DEFAULT_MAX_IN_FLIGHT = 16
_PUT_POLL_SECONDS = 0.05
_JOIN_SECONDS = 5.0

T = TypeVar("T")


@dataclass(frozen=True)
class _Failure:
    error: BaseException


_WORKER_DONE = object()


class ReadAhead:
    """How many pages one full scan may have requested at once, given the albums now running.

    `max_in_flight // running albums`, at least 1 and at most `limit`: spare request slots go to
    read-ahead only when there are too few albums to fill them, because each page read ahead
    may turn out to lie past the album's end (a request spent for nothing).
    """

    def __init__(self, max_in_flight: int, limit: int | None = None) -> None:
        self.max_in_flight = max(1, max_in_flight)
        self.limit = max(1, limit if limit is not None else self.max_in_flight)
        self._running = 0
        self._lock = threading.Lock()

    def window(self) -> int:
        with self._lock:
            running = max(1, self._running)
        return max(1, min(self.limit, self.max_in_flight // running))

    def started(self) -> None:
        with self._lock:
            self._running += 1

    def finished(self) -> None:
        with self._lock:
            self._running -= 1


def interleave(
    tasks: Sequence[Callable[[], Iterable[T]]], *, workers: int, max_buffered: int
) -> Iterator[T]:
    """Run `tasks` on `workers` threads; yield their items as they come, each task's in order.

    The queue between the threads and the consumer holds at most `max_buffered` items, so a slow
    consumer (dlt normalising) stops the readers instead of letting memory grow. The first error
    of any task stops the others and is raised here, in the consumer's thread.
    """
    if not tasks:
        return
    fan_out = _FanOut(tasks, max_buffered)
    threads = fan_out.start(max(1, min(workers, len(tasks))))
    try:
        yield from fan_out.results(len(threads))
    finally:
        fan_out.stop(threads)


class _FanOut:
    """The threads of one `interleave` and the bounded queue they fill."""

    def __init__(self, tasks: Sequence[Callable[[], Iterable[Any]]], max_buffered: int) -> None:
        self.tasks = tasks
        self.channel: queue.Queue[Any] = queue.Queue(maxsize=max(1, max_buffered))
        self.stopped = threading.Event()
        self.claim = _Counter()

    def start(self, count: int) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.work, name=f"pixlee-scan-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in threads:
            thread.start()
        return threads

    def put(self, item: Any) -> bool:
        while not self.stopped.is_set():
            try:
                self.channel.put(item, timeout=_PUT_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def work(self) -> None:
        try:
            while not self.stopped.is_set():
                index = self.claim.next()
                if index >= len(self.tasks):
                    return
                for item in self.tasks[index]():
                    if not self.put(item):
                        return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self.put(_Failure(exc))
        finally:
            self.put(_WORKER_DONE)

    def results(self, workers: int) -> Iterator[Any]:
        done = 0
        while done < workers:
            item = self.channel.get()
            if item is _WORKER_DONE:
                done += 1
            elif isinstance(item, _Failure):
                raise item.error
            else:
                yield item

    def stop(self, threads: list[threading.Thread]) -> None:
        self.stopped.set()
        _drain(self.channel)
        # one shared deadline: a thread stuck in a request must not hold the caller per thread
        # (they are daemons, and a stopped thread puts nothing more)
        deadline = time.monotonic() + _JOIN_SECONDS
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


class _Counter:
    """A thread-safe `itertools.count()` (which makes no such promise)."""

    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            value = self._value
            self._value += 1
            return value


def _drain(channel: queue.Queue[Any]) -> None:
    while True:
        try:
            channel.get_nowait()
        except queue.Empty:
            return


class LazyExecutor:
    """A thread pool created on first use and shut down (pending work cancelled) on close."""

    def __init__(self, workers: int, name: str) -> None:
        self._workers = max(1, workers)
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def get(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix=self._name)
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
