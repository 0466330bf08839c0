"""A small Pixlee of our own (stdlib only), independent of the simulator, serving exactly the
bodies a test gives it: poison items, odd album ids, colliding keys, pages that cannot be used.

`routes` maps a path (without /api/v2) and page number to a body (a dict is sent as JSON,
bytes as they are); anything else answers 404. Requests are recorded as (path, query).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/api/v2"


def page(items: list[Any], page_no: int = 1, has_next: bool = False) -> dict[str, Any]:
    """A Pixlee listing envelope, as GET /albums/{id}/photos sends it."""
    return {
        "status": 200,
        "page": page_no,
        "per_page": 100,
        "total": len(items),
        "next": has_next,
        "data": items,
    }


@dataclass
class PixleeServer:
    base_url: str
    routes: dict[tuple[str, int | None], Any]
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


def _payload(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    # ensure_ascii escapes lone surrogates, as a server that wrote them would
    return json.dumps(body, ensure_ascii=True).encode()


@contextmanager
def pixlee_server(routes: dict[tuple[str, int | None], Any]) -> Iterator[PixleeServer]:
    state = PixleeServer("", routes)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            path = url.path.removeprefix(PREFIX)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            state.requests.append((path, query))
            page_no = int(query["page"]) if query.get("page", "").isdigit() else None
            body = state.routes.get((path, page_no), state.routes.get((path, None)))
            status = 200
            if body is None:
                status, body = 404, {"status": 404, "message": "not found"}
            payload = _payload(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
