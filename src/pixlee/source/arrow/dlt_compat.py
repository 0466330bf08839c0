"""A narrow fix that lets a resource write nested (child) tables as Arrow in dlt 1.31.

At the end of extract, dlt attributes every table's files to a resource through the table's
`resource` property, which only root tables carry (nested tables are normally written by the
normalizer, after extract). A resource that yields a nested table's rows itself — the Arrow
fast path in `pixlee.source.arrow.tables` — therefore fails extract with `KeyError: 'resource'`.
This wraps the attribution so such a table counts for the resource of its root table (found by
walking up the `__` path of its name). Where dlt's own lookup succeeds, nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dlt.extract.extract as dlt_extract

_applied = False


def _root_resource(resource_of: Callable[[str], str]) -> Callable[[str], str]:
    def lookup(table_name: str) -> str:
        name = table_name
        while True:
            try:
                return resource_of(name)
            except KeyError:
                if "__" not in name:
                    raise
                name = name.rsplit("__", 1)[0]

    return lookup


def apply() -> None:
    """Install the fix once per process."""
    global _applied
    if _applied:
        return
    aggregate = getattr(dlt_extract, "aggregate_job_metrics")  # noqa: B009 (not exported)

    def aggregate_job_metrics(metrics: Any, key: Callable[[str], str]) -> Any:
        return aggregate(metrics, _root_resource(key))

    setattr(dlt_extract, "aggregate_job_metrics", aggregate_job_metrics)  # noqa: B010
    _applied = True
