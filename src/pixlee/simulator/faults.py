"""Seeded, reproducible misbehaviour: latency, origin 500s, CDN error pages, broken connections.

Each API request draws from one seeded RNG in arrival order, so a given seed and request
sequence always fails the same way. Kinds and what the client sees:

- ``500``: origin error, JSON ``{"error":"Internal error.","status":"500"}`` (Pixlee's own body).
- ``502``/``503``/``504``: an HTML page from the CDN in front of the API (``text/html``).
- ``reset``: the TCP connection is aborted with RST before any byte of a response.
- ``truncate``: headers announce the full ``Content-Length``, half the body arrives, then EOF.
- ``slow``: the complete, valid body dribbled out in chunks with pauses.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from .config import ALL_FAULT_KINDS

INTERNAL_ERROR_BODY = b'{"error":"Internal error.","status":"500"}'
_CDN_TITLES = {502: "502 Bad Gateway", 503: "503 Service Unavailable", 504: "504 Gateway Timeout"}


def cdn_error_page(status: int) -> bytes:
    """The kind of HTML a CDN answers when the origin misbehaves."""
    title = _CDN_TITLES[status]
    return (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n'
        f"<html><head><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n"
        "<p>The request could not be satisfied. We can't connect to the server for this app "
        "or website at this time.</p>\n<hr>\n<address>pixlee-sim CDN</address>\n"
        "</body></html>\n"
    ).encode()


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do to one request: a fault kind (or None) and the latency to add."""

    fault: str | None
    delay_seconds: float


class FaultPlan:
    """Thread-safe, seeded per-request fault and latency decisions; reconfigurable live."""

    def __init__(
        self,
        seed: int,
        rate: float,
        kinds: tuple[str, ...],
        latency_ms: float,
        jitter_ms: float,
    ) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.rate, self.kinds = rate, kinds
        self.latency_ms, self.jitter_ms = latency_ms, jitter_ms

    def configure(
        self,
        *,
        fault_rate: float | None = None,
        fault_kinds: tuple[str, ...] | None = None,
        latency_ms: float | None = None,
        jitter_ms: float | None = None,
        seed: int | None = None,
    ) -> None:
        with self._lock:
            if fault_rate is not None:
                if not 0.0 <= fault_rate <= 1.0:
                    raise ValueError("fault_rate is a fraction between 0 and 1")
                self.rate = fault_rate
            if fault_kinds is not None:
                kinds = tuple(fault_kinds)
                unknown = set(kinds) - set(ALL_FAULT_KINDS)
                if unknown or not kinds:
                    raise ValueError(f"fault kinds must be a non-empty subset of {ALL_FAULT_KINDS}")
                self.kinds = kinds
            if latency_ms is not None:
                self.latency_ms = max(0.0, latency_ms)
            if jitter_ms is not None:
                self.jitter_ms = max(0.0, jitter_ms)
            if seed is not None:
                self._rng = random.Random(seed)

    def decide(self) -> Decision:
        with self._lock:
            rng = self._rng
            fault = None
            if self.rate > 0 and rng.random() < self.rate:
                fault = self.kinds[rng.randrange(len(self.kinds))]
            jitter = rng.uniform(0, self.jitter_ms) if self.jitter_ms > 0 else 0.0
            return Decision(fault, (self.latency_ms + jitter) / 1000.0)
