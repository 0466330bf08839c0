"""Run a source through dlt's explicit steps: sync, pending packages, extract, normalize, load.

Explicit steps instead of `pipeline.run`, for three reasons:
- packages a killed run left behind are finished first, and then the new extraction runs too
  (`pipeline.run` loads only the pending packages and drops the data it was given, with a
  warning), so one rerun after a crash is enough;
- a pending package that can never normalize says so in one line, with the command that drops
  it, instead of failing every later run with dlt's long trace;
- the DuckDB file is held open around the load step only (`duckdb_held_open`).

Callers that need more around each load step (a lock, retries in place: see
`pixlee.orchestration`) pass `around_load`: functions of the pipeline and the load step that
run it, outermost first. The pipeline object itself is never modified.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from functools import partial
from typing import Any

from dlt.common.pipeline import LoadInfo
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from pixlee.api.errors import PixleeError
from pixlee.pipeline.duckdb_load import LOAD_WORKERS, duckdb_held_open
from pixlee.pipeline.tuning import fewer_gc_passes, release_freed_memory, tune_process
from pixlee.source.arrow import dlt_compat

logger = logging.getLogger(__name__)

# normalize worker processes: one per core, up to 4 (files are spread over them)
NORMALIZE_WORKERS = max(1, min(4, os.cpu_count() or 1))


LoadStep = Callable[[], LoadInfo]
# runs the load step given (once or more) and returns its LoadInfo; raises what it raises
AroundLoad = Callable[[Pipeline, LoadStep], LoadInfo]


class PendingPackageError(PixleeError):
    """A load package an earlier run left cannot be normalized: every run would fail on it."""


def preferred_file_format(pipeline: Pipeline) -> str | None:
    """`parquet` when the destination loads it, else the destination's own default."""
    capabilities = pipeline.destination.capabilities()
    if "parquet" in (capabilities.supported_loader_file_formats or ()):
        return "parquet"
    return None


def run_source(
    pipeline: Pipeline,
    source: Any,
    *,
    full_refresh: bool = False,
    tuned: bool = False,
    normalize_workers: int | None = None,
    load_workers: int | None = None,
    around_load: Sequence[AroundLoad] = (),
    **extract_kwargs: Any,
) -> LoadInfo:
    """Run `source` into `pipeline`, through parquet where the destination loads it.

    `full_refresh` drops the source's tables and state (and any pending packages) first.
    `tuned` applies the process-wide tunings of `pixlee.pipeline.tuning` (malloc arenas, GC
    thresholds while extracting, freed memory returned before the load): only for a process
    that runs nothing else (the pipeline script, `pixlee run`).
    `around_load` wraps each load step (a pending package's too), outermost first.
    `extract_kwargs` go to `pipeline.extract` (e.g. `table_format="delta"`).
    """
    dlt_compat.install()
    if tuned:
        tune_process()
    _sync_destination(pipeline)
    if full_refresh:
        pipeline.abort_packages()
        extract_kwargs.setdefault("refresh", "drop_sources")
    else:
        _finish_pending(pipeline, normalize_workers, load_workers, around_load)
    file_format = preferred_file_format(pipeline)
    if file_format:
        extract_kwargs.setdefault("loader_file_format", file_format)
    with fewer_gc_passes() if tuned else nullcontext():
        pipeline.extract(source, **extract_kwargs)
    if tuned:
        release_freed_memory()  # what extraction freed, for DuckDB's load to use instead
    pipeline.normalize(workers=normalize_workers or NORMALIZE_WORKERS)
    return load(pipeline, load_workers, around_load)


def load(
    pipeline: Pipeline, workers: int | None = None, around_load: Sequence[AroundLoad] = ()
) -> LoadInfo:
    """dlt's load step, with a local DuckDB file held open around it, inside `around_load`
    (outermost first: a retry around it opens the file again)."""
    step: LoadStep = partial(_load_step, pipeline, workers)
    for around in reversed(around_load):
        step = partial(around, pipeline, step)
    return step()


def _load_step(pipeline: Pipeline, workers: int | None) -> LoadInfo:
    with duckdb_held_open(pipeline) as held:
        options: dict[str, Any] = {}
        if workers is not None:
            options["workers"] = workers
        elif held and not _configured_load_workers():
            options["workers"] = LOAD_WORKERS
        return pipeline.load(**options)


def _configured_load_workers() -> bool:
    import dlt

    return dlt.config.get("load.workers") is not None


def _sync_destination(pipeline: Pipeline) -> None:
    """As `pipeline.run` does first: restore state and schemas the destination has newer (a
    pipeline whose local folder was lost continues where it left off)."""
    if pipeline.config.restore_from_destination and not pipeline.dev_mode:
        pipeline.sync_destination()


def _finish_pending(
    pipeline: Pipeline,
    normalize_workers: int | None,
    load_workers: int | None,
    around_load: Sequence[AroundLoad],
) -> None:
    """Normalize and load what an interrupted run left, before extracting anything new."""
    if not pipeline.has_pending_data:
        return
    if pipeline.list_extracted_load_packages():
        try:
            pipeline.normalize(workers=normalize_workers or NORMALIZE_WORKERS)
        except PipelineStepFailed as exc:
            raise _pending_package_error(pipeline, exc) from exc
    if pipeline.list_normalized_load_packages():
        load(pipeline, load_workers, around_load)


def _pending_package_error(pipeline: Pipeline, exc: PipelineStepFailed) -> PendingPackageError:
    cause = exc.exception
    reason = f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"
    where = ""
    if pipeline.pipelines_dir != _default_pipelines_dir():
        where = f"--pipelines-dir {pipeline.pipelines_dir} "
    command = f"dlt pipeline {where}{pipeline.pipeline_name} abort-packages"
    return PendingPackageError(
        f"load package {exc.load_id} left by an earlier run cannot be normalized "
        f"({reason[:300]}); nothing new was read. Run `{command}` to drop it and restore the "
        "pipeline's state to before it (the next run reads that data again)."
    )


def _default_pipelines_dir() -> str:
    from dlt.common.pipeline import get_dlt_pipelines_dir

    return str(get_dlt_pipelines_dir())
