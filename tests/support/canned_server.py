"""A tiny HTTP server that answers each request with the next scripted response.

For the shapes the simulator never produces on purpose (a `data` that is not a list, `next` as
garbage, ids as strings): the client must fail clearly or cope, and tests need exact control.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Canned:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class CannedServer:
    base_url: str
    responses: deque[Canned]
    paths: list[str]


@contextmanager
def canned_server(*responses: Canned) -> Iterator[CannedServer]:
    queue: deque[Canned] = deque(responses)
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            paths.append(self.path)
            canned = queue.popleft() if queue else Canned(500, {"error": "script exhausted"})
            payload = canned.payload()
            self.send_response(canned.status)
            headers = {"Content-Type": "application/json", **canned.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield CannedServer(f"http://127.0.0.1:{server.server_address[1]}/api/v2", queue, paths)
    finally:
        server.shutdown()
        server.server_close()
