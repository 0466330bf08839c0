"""Load a pending package again, in place, when dlt's load step fails.

Loads of one dataset from several pipelines (the album shards) fail now and then for reasons
that pass in seconds: two shards creating the same table, or adding the same new column, at
once (dlt creates data tables without `IF NOT EXISTS`, so on Postgres the second one fails), a
DuckDB file another process holds for a moment, a dropped connection. Their package is
extracted and normalized, and still pending: dlt loads a pending package again safely (every
table merges, the project's loads are idempotent under job resumption), and that costs no
request, where the orchestrator's own retry of the step would scan all its albums again.

Retried only while the package is still pending (loading a completed package again would load
nothing and look like success). dlt 1.31 keeps a package whose job failed terminally pending:
that job is tried again too, and fails again; the attempts are few and short.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from dlt.common.pipeline import LoadInfo
from dlt.pipeline.pipeline import Pipeline

from pixlee.api.redaction import redact

logger = logging.getLogger(__name__)

LOAD_ATTEMPTS = 3
FIRST_DELAY_SECONDS = 2.0


def retried_while_pending(
    pipeline: Pipeline,
    load_step: Callable[[], LoadInfo],
    attempts: int = LOAD_ATTEMPTS,
    first_delay: float = FIRST_DELAY_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> LoadInfo:
    """Run `load_step` (a load of `pipeline`) up to `attempts` times while its package stays
    pending, waiting `first_delay`, then twice that… An `around_load` of
    `pixlee.pipeline.run_source`: outside the step's DuckDB hold, so a retry opens the file
    again."""
    attempt = 1
    while True:
        try:
            return load_step()
        except Exception as exc:  # dlt's PipelineStepFailed, or DuckDB's lock (duckdb_load)
            if attempt >= attempts or not pipeline.has_pending_data:
                raise
            wait = first_delay * 2 ** (attempt - 1)
            attempt += 1
            logger.warning(
                "pipeline %s: the load failed and its package is still pending; loading it "
                "again in %.1fs (attempt %d of %d): %s",
                pipeline.pipeline_name,
                wait,
                attempt,
                attempts,
                redact(str(getattr(exc, "exception", None) or exc))[:500],
            )
            sleep(wait)
