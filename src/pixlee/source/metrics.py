"""What one run read and did: the `_pixlee_runs` and `_pixlee_album_scans` rows, and the same
figures as dlt resource metrics (`pipeline.last_trace`, extract info of `_pixlee_runs`).

Albums are scanned on several threads, so every count goes through one lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pixlee.api.client import RequestStats
from pixlee.source.settings import INTERNAL_RUN_COUNTERS, RUN_COLUMN_COUNTERS

# counters of the run (resource metrics); `_pixlee_runs` has all but the internal ones
RUN_COUNTERS = (*RUN_COLUMN_COUNTERS, *INTERNAL_RUN_COUNTERS)
# media_new/updated/unchanged need the loaded rows' versions; unknown without a SQL destination
VERSION_COUNTERS = ("media_new", "media_updated", "media_unchanged")


@dataclass(frozen=True)
class AlbumScanned:
    """One album's scan ended: complete (its cursor moved) or cut short by a content error."""

    album_id: int
    full_scan: bool
    complete: bool
    pages: int
    items: int
    removed: int
    scanned_at: datetime

    def row(self, load_id: str) -> dict[str, Any]:
        return {
            "load_id": load_id,
            "album_id": self.album_id,
            "scanned_at": self.scanned_at,
            "full_scan": self.full_scan,
            "complete": self.complete,
            "pages": self.pages,
            "items": self.items,
            "removed": self.removed,
        }


@dataclass
class RunMetrics:
    """Counts of one run (thread-safe)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RUN_COUNTERS, 0))
    versions_known: bool = True
    not_found: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self.counts[name] += delta

    def note_not_found(self, what: str) -> None:
        with self._lock:
            self.not_found.append(what)

    def note_incomplete(self, what: str) -> None:
        with self._lock:
            self.incomplete.append(what)
            self.counts["albums_incomplete"] += 1

    def versions_unknown(self) -> None:
        """The destination could not say which media it holds: new/updated stay NULL."""
        self.versions_known = False

    def figures(self, requests: RequestStats) -> dict[str, Any]:
        """Every figure of the run, as the resource metrics carry them."""
        with self._lock:
            figures: dict[str, Any] = {
                "requests": requests.requests,
                "retries": requests.retries,
                "rate_limited": requests.rate_limited,
                "waited_on_429_seconds": round(requests.waited_on_429_seconds, 3),
                **self.counts,
                "not_found": [*self.not_found, *requests.not_found],
                "incomplete": list(self.incomplete),
            }
        if not self.versions_known:
            figures.update(dict.fromkeys(VERSION_COUNTERS))
        return figures

    def row(
        self, load_id: str, started_at: datetime, finished_at: datetime, requests: RequestStats
    ) -> dict[str, Any]:
        """The `_pixlee_runs` row."""
        figures = self.figures(requests)
        for internal in INTERNAL_RUN_COUNTERS:
            figures.pop(internal)
        return {
            "load_id": load_id,
            "started_at": started_at,
            "finished_at": finished_at,
            **figures,
        }


def last_run_metrics(pipeline: Any) -> dict[str, Any] | None:
    """The figures of the pipeline's last run of this source, from dlt's trace (the
    `_pixlee_runs` resource's metrics); None when that run did not extract `_pixlee_runs`."""
    trace = getattr(pipeline, "last_trace", None)
    info = trace.last_extract_info if trace is not None else None
    if info is None:
        return None
    for load_metrics in reversed(list(info.metrics.values())):
        for step in reversed(load_metrics):
            runs = step.get("resource_metrics", {}).get("_pixlee_runs")
            if runs is not None and runs.custom_metrics:
                return dict(runs.custom_metrics)
    return None
