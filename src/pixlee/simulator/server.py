"""Run the simulator: in a background thread for pytest fixtures, or in the foreground (CLI).

The listening socket is bound before uvicorn starts, so port 0 yields a free loopback port
that is known immediately, and ``start`` returns only once the server answers a request.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
import urllib.request
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import uvicorn

from .app import SimulatorApp
from .config import FakeClock, SimulatorConfig
from .stats import Stats
from .world import World


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket (IPv6 if the host is an IPv6 literal)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listen at once: clients told the URL can connect (and queue) before uvicorn accepts.
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: SimulatorApp, log_level: str = "warning") -> uvicorn.Config:
    """Fast settings: httptools + uvloop when present, no access log, no logging takeover."""
    return uvicorn.Config(
        app,
        log_config=None,
        log_level=log_level,
        access_log=False,
        http="httptools",
        loop="auto",
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
        backlog=1024,
    )


class Simulator:
    """A local Pixlee. ``with Simulator(cfg) as sim:`` serves it on ``sim.base_url``."""

    def __init__(self, config: SimulatorConfig | None = None, **kwargs: Any) -> None:
        if config is None:
            config = SimulatorConfig(**kwargs)
        elif kwargs:
            config = dataclasses.replace(config, **kwargs)
        self.config = config
        self.app = SimulatorApp(config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 15.0) -> Simulator:
        """Serve in a daemon thread; return once the server answers."""
        if self._thread is not None:
            return self
        self._sock = bind_socket(self.config.host, self.config.port)
        self._port = self._sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn_config(self.app))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="pixlee-simulator",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.root_url + "/_sim/config", timeout=1) as reply:
                    reply.read()
                break
            except OSError:
                if time.monotonic() > deadline or not self._thread.is_alive():
                    self.stop()
                    raise RuntimeError("the simulator did not start") from None
                time.sleep(0.02)
        if self.config.prewarm:
            self.world.start_prewarm()
        if self.config.churn_per_second > 0:
            self.world.start_churn(self.config.churn_per_second)
        return self

    def stop(self) -> None:
        """Stop churn, warm-up and the server; idempotent."""
        self.world.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator is not started")
        return self._port

    @property
    def root_url(self) -> str:
        """``http://HOST:PORT`` (the control plane lives under ``/_sim``)."""
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/api/v2`` without a trailing slash."""
        return self.root_url + "/api/v2"

    # ------------------------------------------------------------------ world and truth
    @property
    def world(self) -> World:
        return self.app.world

    @property
    def stats(self) -> Stats:
        return self.app.stats

    @property
    def clock(self) -> FakeClock | None:
        clock = self.config.clock
        return clock if isinstance(clock, FakeClock) else None

    def truth_albums(self) -> list[dict[str, Any]]:
        return self.world.truth_albums()

    def truth_media(self, album_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        return self.world.truth_media(album_ids)

    def truth_sku_media(self, sku: str) -> list[dict[str, Any]]:
        return self.world.truth_sku_media(sku)

    def skus(self) -> list[str]:
        return self.world.skus()

    def removed_album_photo_ids(self) -> set[int]:
        return self.world.removed_album_photo_ids()

    # ------------------------------------------------------------------ live knobs
    def set_faults(
        self,
        fault_rate: float | None = None,
        fault_kinds: Iterable[str] | None = None,
        latency_ms: float | None = None,
        jitter_ms: float | None = None,
        seed: int | None = None,
    ) -> None:
        self.app.faults.configure(
            fault_rate=fault_rate,
            fault_kinds=tuple(fault_kinds) if fault_kinds is not None else None,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            seed=seed,
        )

    def set_rate_limit(
        self,
        get_per_minute: int | None = None,
        write_per_minute: int | None = None,
        retry_after: bool | None = None,
    ) -> None:
        self.app.limiter.configure(get_per_minute, write_per_minute)
        if retry_after is not None:
            self.app.retry_after = retry_after

    def clear_cache(self) -> None:
        """Empty the CDN cache (tests that want a clean slate without moving the clock)."""
        self.app.cache.clear()
