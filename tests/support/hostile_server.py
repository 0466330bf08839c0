"""A small hostile Pixlee of our own: real envelopes, then one fault at a time (stdlib only).

The simulator shares our assumptions about Pixlee; this server does not. It serves envelopes
built from the real responses in the shared fixtures (the raegar capture of
GET /albums/{id}/photos and Pixlee's Android SDK test resources), and each test scripts one
fault with a `Behaviour`: a function from the request received to the reply sent. Replies can
drip their body a byte at a time, never answer, arrive gzip-compressed, or be cut short.
Everything received is recorded (method, path, query, headers, body), so a test can prove what
a second server on another origin never got.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import json5

API_ROOT = "/api/v2"
_WRITE_CHUNK = 64 * 1024


def fixtures_dir() -> Path:
    """`shared/fixtures/pixlee` beside the repository (or a parent of it), or
    `PIXLEE_FIXTURES_DIR`; a clear failure when neither exists (never a silent skip)."""
    configured = os.environ.get("PIXLEE_FIXTURES_DIR")
    if configured:
        return Path(configured)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "fixtures" / "pixlee"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "the shared Pixlee fixtures were not found beside the repository: set "
        "PIXLEE_FIXTURES_DIR to the folder holding album_photos.raegar_capture.json"
    )


@cache
def raegar_page() -> dict[str, Any]:
    """The real GET /albums/{id}/photos capture (28 items), made strict JSON.

    As saved it has one trailing comma before the final `]` (PHP's `\\/` escapes are valid
    JSON and stay). Returned as a fresh copy each time by `real_page`.
    """
    text = (fixtures_dir() / "album_photos.raegar_capture.json").read_text(encoding="utf-8")
    return dict(json.loads(re.sub(r",(\s*)\]", r"\1]", text)))


@cache
def android_fixture(name: str) -> Any:
    """One of the Android SDK's JSON5-like test resources, e.g. `test.error.500.json`.

    `json5` takes ~8 s for one 230 KB album page, so the SDK's JSON5 (unquoted keys, one per
    line; `\\ ` escapes; trailing commas) is first made JSON by `json5_as_json`; `json5` reads
    whatever that cannot (a test checks both agree).
    """
    text = (fixtures_dir() / "android-sdk" / name).read_text(encoding="utf-8")
    try:
        return json.loads(json5_as_json(text))
    except ValueError:
        return json5.loads(text)


_JSON5_KEY = re.compile(r"^(\s*)([A-Za-z_$][A-Za-z0-9_$]*)\s*:", re.M)
_JSON5_ESCAPE = re.compile(r"\\(.)", re.S)
_TRAILING_COMMA = re.compile(r",(\s*[\]}])")


def json5_as_json(text: str) -> str:
    """The JSON5 of Pixlee's SDK fixtures as JSON: quoted keys, JSON escapes, no trailing comma."""
    text = _JSON5_KEY.sub(lambda m: f'{m.group(1)}"{m.group(2)}":', text)
    text = _JSON5_ESCAPE.sub(
        lambda m: m.group(0) if m.group(1) in '"\\/bfnrtu' else m.group(1), text
    )
    return _TRAILING_COMMA.sub(r"\1", text)


def real_page(page: int = 1, *, items: list[dict[str, Any]] | None = None, **envelope: Any) -> dict:
    """The raegar envelope as page `page` (its own items unless given), with overrides."""
    body = json.loads(json.dumps(raegar_page()))
    body["page"] = page
    if items is not None:
        body["data"] = items
        body["total"] = len(items)
    body.update(envelope)
    return body


@dataclass(frozen=True)
class Received:
    method: str
    path: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    raw_target: str  # the request target as sent (path and query)


@dataclass
class Reply:
    """What the server answers; `body` may be bytes, text, or anything JSON-encodable."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    drip_seconds: float | None = None  # send the body a byte at a time, this far apart
    hang: bool = False  # send nothing at all until the server stops
    gzip: bool = False  # Content-Encoding: gzip (bytes are compressed here)
    length: int | None = None  # a Content-Length other than the body's (a cut body)
    send_length: bool = True  # False: no Content-Length, the body ends when the server closes
    cut_after: int | None = None  # close the connection after this many body bytes

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            data = self.body
        elif isinstance(self.body, str):
            data = self.body.encode("utf-8")
        else:
            data = json.dumps(self.body).encode("utf-8")
        return gzip.compress(data) if self.gzip else data


Behaviour = Callable[[Received], Reply]


class HostileServer:
    """One origin (127.0.0.1:<port>) answering every request with `behaviour(received)`."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.received: list[Received] = []
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.base_url = self.origin + API_ROOT
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def paths(self) -> list[str]:
        return [r.path for r in self.received]


@contextmanager
def hostile_server(behaviour: Behaviour) -> Iterator[HostileServer]:
    server = HostileServer(behaviour).start()
    try:
        yield server
    finally:
        server.stop()


def _handler_class(owner: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._answer()

        def do_POST(self) -> None:  # noqa: N802
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            received = Received(
                self.command,
                parts.path,
                dict(parse_qsl(parts.query, keep_blank_values=True)),
                dict(self.headers.items()),
                body,
                self.path,
            )
            owner.received.append(received)
            reply = owner.behaviour(received)
            # the client may stop reading early: what a bounded fault is for
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                _send(self, reply, owner.stopping)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def _send(handler: BaseHTTPRequestHandler, reply: Reply, stopping: threading.Event) -> None:
    if reply.hang:
        stopping.wait(60)
        return
    payload = reply.payload()
    handler.send_response(reply.status)
    headers = {"Content-Type": "application/json", **reply.headers}
    if reply.gzip:
        headers["Content-Encoding"] = "gzip"
    for name, value in headers.items():
        handler.send_header(name, value)
    if reply.send_length:
        handler.send_header("Content-Length", str(reply.length or len(payload)))
    handler.end_headers()
    if reply.cut_after is not None:
        payload = payload[: reply.cut_after]
    if reply.drip_seconds is not None:
        for index in range(len(payload)):
            handler.wfile.write(payload[index : index + 1])
            handler.wfile.flush()
            if stopping.wait(reply.drip_seconds):
                return
        return
    for start in range(0, len(payload), _WRITE_CHUNK):
        handler.wfile.write(payload[start : start + _WRITE_CHUNK])
    handler.close_connection = True


# --- ready-made faults ---------------------------------------------------------------------------


def pages(*bodies: Any) -> Behaviour:
    """Page n of any listing answers `bodies[n-1]` (a JSON body, or a `Reply`)."""

    def behave(received: Received) -> Reply:
        number = int(received.query.get("page", "1"))
        body = bodies[min(number, len(bodies)) - 1]
        return body if isinstance(body, Reply) else Reply(body=body)

    return behave


def in_turn(*replies: Reply) -> Behaviour:
    """Each request gets the next reply; the last one repeats."""
    sent = [0]
    lock = threading.Lock()

    def behave(received: Received) -> Reply:
        with lock:
            index = min(sent[0], len(replies) - 1)
            sent[0] += 1
        return replies[index]

    return behave


@cache
def gzip_bomb(inflated_bytes: int) -> bytes:
    """A gzip stream of a JSON envelope whose `data` string inflates to `inflated_bytes`."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    parts = [compressor.compress(b'{"status":200,"next":false,"data":"')]
    zeros = b"0" * (1024 * 1024)
    for _ in range(inflated_bytes // len(zeros)):
        parts.append(compressor.compress(zeros))
    parts.append(compressor.compress(b'"}'))
    parts.append(compressor.flush())
    return b"".join(parts)


def padded_page(total_bytes: int, items: int = 100) -> bytes:
    """A valid envelope of about `total_bytes`, its items' captions padded to get there."""
    caption = "x" * max(1, total_bytes // items - 60)
    data = [{"album_photo_id": n + 1, "photo_title": caption} for n in range(items)]
    return json.dumps({"status": 200, "page": 1, "next": False, "data": data}).encode()
