"""A stdlib Pixlee stand-in that counts requests like a strict server would: sliding window,
fixed window or token bucket (`tests.support.rate_windows`), with `Retry-After` on each 429.

It shares no code with the client or the simulator (which shares our assumptions about the
API), serves just what a read needs (GET /albums, GET /albums/{id}/photos with `next`), and
records when each request arrived and whether it was admitted, so a test can count the
requests in every window itself instead of trusting the 429s alone.

Time comes from `clock` (seconds; `time.time` by default, so figures line up with a bench's own
timestamps), which a unit test may replace with a virtual clock. `latency` seconds are slept
after counting a request, as a distant server would; only with the real clock.

`python -m tests.support.rate_limited_server --kind sliding --limit 1200 …` serves one in
its own process (the bench does this, so the server does not share a GIL with the pipeline) and
prints ``serving on <base_url>``; ``GET /_stats`` and ``POST /_stats/reset`` read and reset its
counters.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.rate_windows import RateWindow, make_window

API_PREFIX = "/api/v2"
FIRST_ALBUM_ID = 5000


@dataclass
class Catalogue:
    """`albums` standard albums of `pages` full pages each (at the requested `per_page`)."""

    albums: int = 3
    pages: int = 5

    def album_ids(self) -> list[int]:
        return [FIRST_ALBUM_ID + i for i in range(self.albums)]

    def albums_body(self) -> dict[str, Any]:
        data = [
            {"id": a, "title": f"album {a}", "album_type": "standard", "num_photos": 0}
            for a in self.album_ids()
        ]
        return {"status": 200, "page": 1, "per_page": len(data), "next": False, "data": data}

    def photos_body(self, album_id: int, page: int, per_page: int) -> dict[str, Any] | None:
        if album_id not in self.album_ids() or not 1 <= page <= self.pages:
            return None
        first = (album_id - FIRST_ALBUM_ID) * self.pages * per_page + (page - 1) * per_page
        data = [_media(album_id, first + i) for i in range(per_page)]
        envelope = {"status": 200, "page": page, "per_page": per_page, "total": 0}
        return {**envelope, "next": page < self.pages, "data": data}


def _media(album_id: int, index: int) -> dict[str, Any]:
    stamp = 1_700_000_000_000 + index * 1000
    return {
        "id": 9_000_000 + index,
        "album_photo_id": 1_000_000 + index,
        "album_id": album_id,
        "title": f"photo {index}",
        "source": "instagram",
        "content_type": "image",
        "approved": True,
        "created_at": stamp,
        "updated_at": stamp,
        "tagged_at": stamp,
        "user_name": f"user{index % 977}",
        "like_count": index % 13,
        "medium_url": f"https://cdn.example.invalid/{index}/m.jpg",
        "products": [],
    }


@dataclass
class Arrivals:
    """What the server saw: admitted and refused request times, concurrency."""

    admitted: list[float] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, now: float, admitted: bool) -> None:
        with self.lock:
            (self.admitted if admitted else self.refused).append(now)

    def summary(self) -> dict[str, Any]:
        with self.lock:
            times = self.admitted + self.refused
            return {
                "total": len(times),
                "admitted": len(self.admitted),
                "rate_limited": len(self.refused),
                "max_concurrent": self.max_in_flight,
                "first_request_at": min(times) if times else None,
                "last_request_at": max(times) if times else None,
            }

    def reset(self) -> None:
        with self.lock:
            self.admitted.clear()
            self.refused.clear()
            self.max_in_flight = 0


@dataclass
class RateLimitedServer:
    base_url: str
    window: RateWindow
    catalogue: Catalogue
    arrivals: Arrivals


def _handler(
    window: RateWindow,
    catalogue: Catalogue,
    arrivals: Arrivals,
    clock: Callable[[], float],
    latency: float,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects

        def setup(self) -> None:
            super().setup()
            # headers and body go out in two writes: without this, Nagle's algorithm and the
            # client's delayed ACK hold every response ~40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            parts = urlsplit(self.path)
            if parts.path == "/_stats":
                self._send(200, arrivals.summary())
                return
            now = clock()
            wait = window.admit(now)
            arrivals.record(now, wait is None)
            if wait is not None:
                retry_after = str(max(1, math.ceil(wait)))
                body = {"status": 429, "message": "Too Many Requests"}
                self._send(429, body, {"Retry-After": retry_after})
                return
            with arrivals.lock:
                arrivals.in_flight += 1
                arrivals.max_in_flight = max(arrivals.max_in_flight, arrivals.in_flight)
            try:
                if latency > 0:
                    time.sleep(latency)
                self._answer(parts.path, parse_qs(parts.query))
            finally:
                with arrivals.lock:
                    arrivals.in_flight -= 1

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if urlsplit(self.path).path == "/_stats/reset":
                arrivals.reset()
                self._send(200, {"reset": True})
            else:
                self._send(404, {"status": 404, "message": "Not Found"})

        def _answer(self, path: str, query: dict[str, list[str]]) -> None:
            body: dict[str, Any] | None = None
            if path == f"{API_PREFIX}/albums":
                body = catalogue.albums_body()
            segments = path.removeprefix(f"{API_PREFIX}/albums/").split("/")
            if len(segments) == 2 and segments[0].isdigit() and segments[1] == "photos":
                page = int(query.get("page", ["1"])[0])
                per_page = int(query.get("per_page", ["100"])[0])
                body = catalogue.photos_body(int(segments[0]), page, per_page)
            if body is None:
                self._send(404, {"status": 404, "message": "Not Found"})
            else:
                self._send(200, body)

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def rate_limited_server(
    window: RateWindow,
    *,
    catalogue: Catalogue | None = None,
    clock: Callable[[], float] = time.time,
    latency: float = 0.0,
    port: int = 0,
) -> Iterator[RateLimitedServer]:
    """Serve on 127.0.0.1 in a background thread for the duration of the `with` block."""
    catalogue = catalogue or Catalogue()
    arrivals = Arrivals()
    handler = _handler(window, catalogue, arrivals, clock, latency)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base_url = f"http://127.0.0.1:{server.server_address[1]}{API_PREFIX}"
        yield RateLimitedServer(base_url, window, catalogue, arrivals)
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", default="sliding")
    parser.add_argument("--limit", type=int, required=True, help="requests per window")
    parser.add_argument("--window-seconds", type=float, default=60.0)
    parser.add_argument("--capacity", type=int, default=None, help="token bucket size")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--albums", type=int, default=3)
    parser.add_argument("--pages", type=int, default=5)
    args = parser.parse_args(argv)
    window = make_window(args.kind, args.limit, args.window_seconds, capacity=args.capacity)
    catalogue = Catalogue(args.albums, args.pages)
    with rate_limited_server(window, catalogue=catalogue, latency=args.latency_ms / 1000) as srv:
        print(f"serving on {srv.base_url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
