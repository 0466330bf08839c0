"""What a load's last run did (requests, retries, scans), for the orchestrator's UI.

The one place that knows where these numbers live. Two places today, in order:

1. the run's trace: counters the source records per resource with
   `dlt.current.resource_metrics()` (`custom_metrics` in the extract step's resource metrics),
   summed over the resources of the run;
2. otherwise the source's scan report (`pixlee.source.last_scan_report()`), which describes the
   most recent run of a source in this process: right after `pipeline.run`, in the same
   process, that is this load's (Dagster runs one load per step).

When the scan report goes, only `_from_scan_report` changes (or goes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dlt.pipeline.pipeline import Pipeline

COUNTERS = (
    "requests",
    "retries",
    "rate_limited",
    "waited_on_429_seconds",
    "albums_full",
    "albums_incremental",
    "items_read",
)


def run_counters(pipeline: Pipeline) -> dict[str, float]:
    """The counters of `pipeline`'s last run that are known; {} when none are."""
    return _from_trace(pipeline) or _from_scan_report()


def _from_trace(pipeline: Pipeline) -> dict[str, float]:
    trace = pipeline.last_trace
    extract = trace.last_extract_info if trace is not None else None
    if extract is None:
        return {}
    totals: dict[str, float] = {}
    for metrics_list in extract.metrics.values():
        for metrics in metrics_list:
            for resource in metrics["resource_metrics"].values():
                _add(totals, getattr(resource, "custom_metrics", None) or {})
    return totals


def _add(totals: dict[str, float], custom: Mapping[str, Any]) -> None:
    for name in COUNTERS:
        value = custom.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            totals[name] = totals.get(name, 0) + value


def _from_scan_report() -> dict[str, float]:
    from pixlee.source import last_scan_report

    report = last_scan_report()
    if report is None:
        return {}
    counters: dict[str, float] = {
        "albums_full": report.full_scans,
        "albums_incremental": report.incremental_scans,
        "items_read": report.items_read,
    }
    if report.requests is not None:
        counters.update(
            requests=report.requests.requests,
            retries=report.requests.retries,
            rate_limited=report.requests.rate_limited,
            waited_on_429_seconds=round(report.requests.waited_on_429_seconds, 3),
        )
    return counters
