"""Configuration of the simulator, its demo credentials and an injectable clock.

Everything a test may want to vary lives in one frozen-by-convention dataclass so that a
fixture can say in one line what kind of Pixlee it talks to. The clock is injectable because
two behaviours depend on time (the 2-minute CDN cache and the per-minute rate limit) and tests
must be able to cross those boundaries without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DEMO_API_KEY = "demo-api-key"
DEMO_PRIVATE_API_KEY = "demo-private-api-key"
DEMO_SECRET_KEY = "demo-secret-key"

ALL_FAULT_KINDS: tuple[str, ...] = ("500", "502", "503", "504", "reset", "truncate", "slow")

# 2025-06-15T16:26:40Z: FakeClock starts after every generated timestamp, so content added
# during a test always lands at the head of an album sorted by time.
FAKE_CLOCK_START = 1_750_000_000.0


class FakeClock:
    """A manually advanced clock: ``clock()`` returns epoch seconds, ``advance`` moves it.

    Thread-safe, because the server thread reads it while the test thread advances it.
    """

    def __init__(self, start: float = FAKE_CLOCK_START) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._now += seconds
            return self._now


Clock = Callable[[], float]


@dataclass
class SimulatorConfig:
    """Every knob of the simulator (README.md, "The local Pixlee simulator", explains each)."""

    seed: int = 1
    albums: int = 20
    media_per_album: int = 500
    products: int = 40
    categories: int = 5
    video_ratio: float = 0.15
    unapproved_ratio: float = 0.05
    shared_ratio: float = 0.03
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limit: int = 3600
    write_rate_limit: int = 3600
    retry_after: bool = True
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = ALL_FAULT_KINDS
    fault_seed: int | None = None
    slow_chunks: int = 5
    slow_chunk_delay_ms: float = 40.0
    cache_ttl_seconds: float = 120.0
    cache_max_bytes: int = 256 * 1024 * 1024
    max_per_page: int = 100
    default_per_page: int = 30
    churn_per_second: float = 0.0
    api_key: str = DEMO_API_KEY
    private_api_key: str = DEMO_PRIVATE_API_KEY
    secret_key: str = DEMO_SECRET_KEY
    host: str = "127.0.0.1"
    port: int = 0
    clock: Clock | None = None
    first_album_id: int | None = None
    prewarm: bool = True

    def __post_init__(self) -> None:
        self.fault_kinds = tuple(self.fault_kinds)
        unknown = set(self.fault_kinds) - set(ALL_FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate is a fraction between 0 and 1")
        for name in ("albums", "media_per_album", "products", "categories"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.max_per_page < 1 or self.default_per_page < 1:
            raise ValueError("per-page sizes must be >= 1")

    def now(self) -> float:
        """Current epoch seconds from the configured clock (wall clock by default)."""
        return self.clock() if self.clock is not None else time.time()
