"""A narrow fix that lets a resource write nested (child) tables as Arrow in dlt 1.31.

At the end of extract, dlt attributes every table's files to a resource through the table's
`resource` property, which only root tables carry (nested tables are normally written by the
normalizer, after extract). A resource that yields a nested table's rows itself — the Arrow
fast path in `pixlee.source.arrow.tables` — therefore fails extract with `KeyError: 'resource'`.
The fix wraps that attribution (`dlt.extract.extract.aggregate_job_metrics`) so such a table
counts for the resource of its root table (found by walking up the `__` path of its name).
Where dlt's own lookup succeeds, nothing changes, for any source.

dlt 1.31 offers no way around it: a nested table may not carry `resource` (dlt's schema merge
raises `TablePropertiesConflictException` for one that does), a table without `parent` would not
be merged as a nested table, and the lookup is inside `Extract._compute_metrics`, with no hook.

Nothing happens on import. `install()` patches once per process, and only a dlt version this
fix was written and tested against (`KNOWN_DLT_VERSIONS`): on any other it raises, because the
function it wraps is private and may have changed. `run_source` installs it before extracting;
the source installs it when it first hands dlt Arrow tables (a plain `pipeline.run` of it).
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

import dlt
import dlt.extract.extract as dlt_extract

from pixlee.api.errors import PixleeConfigError

logger = logging.getLogger(__name__)

KNOWN_DLT_VERSIONS = ("1.31.",)
_PATCHED_NAME = "aggregate_job_metrics"
_lock = threading.Lock()
_installed = False


class UnsupportedDltVersion(PixleeConfigError):
    """The running dlt is not one the nested-Arrow fix knows."""


def installed() -> bool:
    return _installed


def install() -> None:
    """Install the fix once per process; raise `UnsupportedDltVersion` on an unknown dlt."""
    global _installed
    with _lock:
        if _installed:
            return
        aggregate = _checked_target(dlt.__version__)

        def aggregate_job_metrics(job_metrics: Any, key: Callable[[str], str]) -> Any:
            return aggregate(job_metrics, _root_resource(key))

        aggregate_job_metrics.__wrapped__ = aggregate  # type: ignore[attr-defined]
        setattr(dlt_extract, _PATCHED_NAME, aggregate_job_metrics)
        _installed = True
    logger.info(
        "installed dlt-pixlee's fix of dlt %s's resource attribution for nested Arrow tables "
        "(dlt.extract.extract.%s)",
        dlt.__version__,
        _PATCHED_NAME,
    )


def _checked_target(version: str) -> Callable[..., Any]:
    """dlt's function to wrap, once the running dlt is known to have it as this fix expects."""
    if not version.startswith(KNOWN_DLT_VERSIONS):
        raise UnsupportedDltVersion(
            f"dlt {version} is not a version dlt-pixlee's Arrow fast path was tested with "
            f"({', '.join(v + 'x' for v in KNOWN_DLT_VERSIONS)}): install one "
            "(pip install 'dlt>=1.31,<1.32'), or pass use_arrow=False to pixlee_source"
        )
    target = getattr(dlt_extract, _PATCHED_NAME, None)
    if target is None or list(inspect.signature(target).parameters)[:2] != ["job_metrics", "key"]:
        raise UnsupportedDltVersion(
            f"dlt {version} has no dlt.extract.extract.{_PATCHED_NAME}(job_metrics, key): "
            "pass use_arrow=False to pixlee_source"
        )
    return target  # type: ignore[no-any-return]


def _root_resource(resource_of: Callable[[str], str]) -> Callable[[str], str]:
    """`resource_of`, asked for the table's ancestors when it does not know the table: each
    name before a `__`, longest first. Every split point, not only the last: a shortened
    nested name such as `media___nx` (a part that begins with `_`) has its parent `media`
    before the first of its overlapping separators."""

    def lookup(table_name: str) -> str:
        try:
            return resource_of(table_name)
        except KeyError as unknown:
            for parent in _ancestors(table_name):
                try:
                    return resource_of(parent)
                except KeyError:
                    continue
            raise unknown

    return lookup


def _ancestors(table_name: str) -> list[str]:
    """The names before each `__` in `table_name`, longest first."""
    ends = [i for i in range(1, len(table_name) - 1) if table_name.startswith("__", i)]
    return [table_name[:end] for end in reversed(ends)]
