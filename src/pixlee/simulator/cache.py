"""The CDN in front of the API: whole responses cached by full URL for a fixed TTL.

Pixlee documents that endpoints are cached for 2 minutes by full URL and that a
``unique_id`` parameter refreshes them. Keying on the raw path and query string reproduces
exactly that: the same URL returns the same bytes (stale after a change) until the TTL runs
out, while any new ``unique_id`` is a new key. Only successful GETs are stored. The store is
bounded in bytes (oldest first out) so a benchmark with fresh URLs cannot exhaust memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from .config import Clock


@dataclass(frozen=True, slots=True)
class CachedResponse:
    status: int
    content_type: bytes
    body: bytes
    stored_at: float


class CdnCache:
    def __init__(self, clock: Clock, ttl_seconds: float, max_bytes: int) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, CachedResponse] = OrderedDict()
        self._bytes = 0

    def get(self, url: str) -> CachedResponse | None:
        """The cached response if it is younger than the TTL."""
        if self._ttl <= 0:
            return None
        now = self._clock()
        with self._lock:
            entry = self._entries.get(url)
            if entry is None:
                return None
            if now - entry.stored_at >= self._ttl:
                self._drop(url)
                return None
            return entry

    def put(self, url: str, status: int, content_type: bytes, body: bytes) -> None:
        if self._ttl <= 0 or len(body) > self._max_bytes:
            return
        with self._lock:
            if url in self._entries:
                self._drop(url)
            self._entries[url] = CachedResponse(status, content_type, body, self._clock())
            self._bytes += len(body)
            while self._bytes > self._max_bytes and self._entries:
                self._drop(next(iter(self._entries)))

    def _drop(self, url: str) -> None:
        entry = self._entries.pop(url)
        self._bytes -= len(entry.body)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
