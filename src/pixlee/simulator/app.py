"""The ASGI application: routing plus the edge pipeline every API request goes through.

Order, as a CDN-fronted API behaves: rate limit (the edge counts cached hits too) ->
latency -> fault draw -> CDN cache -> origin handler -> delivery (normal, slow or truncated).
A plain ASGI callable rather than a framework router keeps the per-request overhead to a few
microseconds and gives access to the raw transport, which the ``reset`` and ``truncate``
faults need: uvicorn hands the app its ``RequestResponseCycle.send``, whose ``transport`` is
the connection itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from .api import (
    HTML,
    JSON,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    TOO_MANY,
    ApiRequest,
    ApiResponse,
    BadRequest,
    PixleeApi,
)
from .cache import CdnCache
from .config import SimulatorConfig
from .faults import INTERNAL_ERROR_BODY, FaultPlan, cdn_error_page
from .ratelimit import RateLimiter
from .stats import RequestRecord, Stats
from .world import World

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[ApiRequest], "ApiResponse | Awaitable[ApiResponse]"]

PREFIX = "/api/v2"
UNKNOWN_ROUTE = "<unknown>"
_SPLIT_DELIVERY = ("truncate", "slow")


class SimulatorApp:
    """Holds the world and the edge machinery; ``__call__`` is the ASGI entry point."""

    def __init__(self, config: SimulatorConfig, world: World | None = None) -> None:
        self.config = config
        self.world = world or World(config)
        self.api = PixleeApi(self.world, config)
        self.stats = Stats()
        clock = config.now
        self.limiter = RateLimiter(clock, config.rate_limit, config.write_rate_limit)
        self.retry_after = config.retry_after
        self.slow = (max(1, config.slow_chunks), max(0.0, config.slow_chunk_delay_ms) / 1000.0)
        self.cache = CdnCache(clock, config.cache_ttl_seconds, config.cache_max_bytes)
        seed = config.fault_seed if config.fault_seed is not None else config.seed
        self.faults = FaultPlan(
            seed, config.fault_rate, config.fault_kinds, config.latency_ms, config.jitter_ms
        )
        from .control import ControlPlane  # noqa: PLC0415 - avoids an import cycle

        self.control = ControlPlane(self)

    # ------------------------------------------------------------------ routing
    def route(self, method: str, path: str) -> tuple[str, Handler | None, dict[str, str]]:
        """(route template, handler or None for 405, path params); template UNKNOWN if none."""
        parts = path[len(PREFIX) :].strip("/").split("/") if path.startswith(PREFIX) else None
        api = self.api
        table: dict[str, Handler] = {}
        template = UNKNOWN_ROUTE
        params: dict[str, str] = {}
        if parts is None:
            return template, None, params
        if parts == ["albums"]:
            template, table = PREFIX + "/albums", {"GET": api.list_albums, "POST": api.create_album}
        elif parts == ["albums", "from_sku"]:
            template, table = PREFIX + "/albums/from_sku", {"GET": api.from_sku}
        elif len(parts) == 3 and parts[0] == "albums" and parts[2] == "photos":
            template, table = PREFIX + "/albums/{album_id}/photos", {"GET": api.album_photos}
            params = {"album_id": parts[1]}
        elif parts == ["media"]:
            template, table = PREFIX + "/media", {"POST": api.create_media}
        elif parts == ["media", "file"] and method == "POST":
            template, table = PREFIX + "/media/file", {"POST": api.create_media_file}
        elif len(parts) == 2 and parts[0] == "media":
            template, table = PREFIX + "/media/{album_photo_id}", {"GET": api.media}
            params = {"album_photo_id": parts[1]}
        return template, table.get(method), params

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith("/_sim/") or path == "/_sim":
            body = await _read_body(receive)
            query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
            response = self.control.handle(scope["method"], path, query, body)
            await _deliver(send, response, None)
            return
        self.stats.enter()
        try:
            await self._serve_api(scope, receive, send)
        finally:
            self.stats.leave()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _serve_api(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        raw_query: bytes = scope["query_string"]
        body = await _read_body(receive)
        query = dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True))
        template, handler, params = self.route(method, path)
        fault: str | None = None
        cache_state: str | None = None

        wait = self.limiter.check(
            query.get("api_key", ""), "get" if method in ("GET", "HEAD") else "write"
        )
        if wait is not None:
            response = ApiResponse(429, TOO_MANY)
            if self.retry_after:
                response.headers.append(
                    (b"retry-after", self.limiter.retry_after_header(wait).encode())
                )
        else:
            decision = self.faults.decide()
            fault = decision.fault
            if decision.delay_seconds > 0:
                await asyncio.sleep(decision.delay_seconds)
            if fault == "reset":
                self._record(method, path, template, query, 0, fault, None)
                await _reset(send, receive)
                return
            if fault == "500":
                response = ApiResponse(500, INTERNAL_ERROR_BODY)
            elif fault in ("502", "503", "504"):
                response = ApiResponse(int(fault), cdn_error_page(int(fault)), HTML)
            else:
                response, cache_state = await self._origin(
                    method, path, raw_query, query, scope, receive, body, handler, params
                )
                if template == UNKNOWN_ROUTE:
                    cache_state = None
        self._record(method, path, template, query, response.status, fault, cache_state)
        if cache_state is not None:
            response.headers.append((b"x-cache", b"HIT" if cache_state == "hit" else b"MISS"))
        mode = fault if fault in _SPLIT_DELIVERY else None
        await _deliver(send, response, mode, receive, self.slow)

    async def _origin(
        self,
        method: str,
        path: str,
        raw_query: bytes,
        query: dict[str, str],
        scope: Scope,
        receive: Receive,
        body: bytes,
        handler: Handler | None,
        params: dict[str, str],
    ) -> tuple[ApiResponse, str | None]:
        """The CDN cache in front of the handlers; only 200 GETs are stored."""
        url = path + "?" + raw_query.decode("latin-1") if raw_query else path
        cacheable = method == "GET"
        if cacheable:
            hit = self.cache.get(url)
            if hit is not None:
                return ApiResponse(hit.status, hit.body, hit.content_type), "hit"
        response = await self._handle(method, path, query, scope, body, handler, params)
        if cacheable and response.status == 200:
            self.cache.put(url, response.status, response.content_type, response.body)
        return response, "miss" if cacheable else None

    async def _handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        scope: Scope,
        body: bytes,
        handler: Handler | None,
        params: dict[str, str],
    ) -> ApiResponse:
        if handler is None:
            if self.route("GET", path)[0] == UNKNOWN_ROUTE:
                return ApiResponse(404, NOT_FOUND)
            return ApiResponse(405, METHOD_NOT_ALLOWED)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}

        async def form() -> dict[str, Any]:
            async def replay() -> Message:
                return {"type": "http.request", "body": body, "more_body": False}

            parsed = await Request(scope, replay).form(max_part_size=64 * 1024 * 1024)
            return dict(parsed)

        request = ApiRequest(method, path, query, headers, body, params, form)
        try:
            result = handler(request)
            if not isinstance(result, ApiResponse):
                result = await result
            return result
        except BadRequest as exc:
            return exc.response

    def _record(
        self,
        method: str,
        path: str,
        route: str,
        query: dict[str, str],
        status: int,
        fault: str | None,
        cache: str | None,
    ) -> None:
        masked = {k: ("***" if k == "api_key" else v) for k, v in query.items()}
        self.stats.record(RequestRecord(method, path, route, masked, status, fault, cache))


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _transport(send: Send) -> asyncio.Transport | None:
    """The connection's transport, reached through uvicorn's bound ``send`` method."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    # uvloop's transports do not subclass asyncio's, so check the methods we use.
    if transport is None or not all(hasattr(transport, m) for m in ("abort", "close")):
        return None
    return transport  # type: ignore[no-any-return]


async def _wait_disconnect(receive: Receive) -> None:
    """Let the server notice the closed connection, so it does not try to answer."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(receive(), timeout=2.0)


async def _reset(send: Send, receive: Receive) -> None:
    """Abort the TCP connection with RST (SO_LINGER 0) before any response byte."""
    transport = _transport(send)
    if transport is None:  # not uvicorn: the best we can do is an empty close
        raise ConnectionAbortedError("reset fault")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await _wait_disconnect(receive)


def _start(response: ApiResponse) -> Message:
    headers = [
        (b"content-type", response.content_type),
        (b"content-length", str(len(response.body)).encode()),
        (b"access-control-allow-origin", b"*"),
        *response.headers,
    ]
    return {"type": "http.response.start", "status": response.status, "headers": headers}


async def _deliver(
    send: Send,
    response: ApiResponse,
    mode: str | None,
    receive: Receive | None = None,
    slow: tuple[int, float] = (5, 0.04),
) -> None:
    """Send a response normally, slowly in chunks, or truncated (then close the connection)."""
    body = response.body
    await send(_start(response))
    if mode == "truncate" and receive is not None:
        transport = _transport(send)
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        if transport is not None:
            transport.close()
            await _wait_disconnect(receive)
            return
        raise ConnectionAbortedError("truncate fault")
    if mode == "slow":
        chunks, delay = slow
        size = max(1, -(-len(body) // chunks))
        for start in range(0, len(body), size):
            if start:
                await asyncio.sleep(delay)
            piece = body[start : start + size]
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    await send({"type": "http.response.body", "body": body, "more_body": False})


__all__ = ["JSON", "SimulatorApp"]
