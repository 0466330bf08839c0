"""What a load's last run did (requests, retries, scans, media new/updated/removed), for the
orchestrator's UI.

The one place that knows where these numbers live: today the source's own run figures,
`pixlee.source.last_run_metrics(pipeline)` (the `_pixlee_runs` resource's metrics in dlt's
trace, so present only when a load selects `_pixlee_runs`, as every load of the plan does).
When that moves, only this module changes.
"""

from __future__ import annotations

from dlt.pipeline.pipeline import Pipeline

from pixlee.source.metrics import RUN_COUNTERS
from pixlee.source.settings import REQUEST_COUNTERS

# the figures shown per materialization, in this order: the requests', then the run's own
# (the `_pixlee_runs` columns)
COUNTERS = (*REQUEST_COUNTERS, "waited_on_429_seconds", *RUN_COUNTERS)


def run_counters(pipeline: Pipeline) -> dict[str, float]:
    """The counters of `pipeline`'s last run that are known (a count the run could not know,
    such as `media_new` without a SQL destination, is left out); {} when none are."""
    from pixlee.source import last_run_metrics

    figures = last_run_metrics(pipeline) or {}
    return {
        name: figures[name]
        for name in COUNTERS
        if isinstance(figures.get(name), int | float) and not isinstance(figures[name], bool)
    }
