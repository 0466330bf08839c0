"""Process-wide tunings for a pipeline process that opts in; the library never applies them.

They change the whole process (every thread, every library in it), so only the process's own
script decides: `pixlee_pipeline.py` and `pixlee run` call `tune_process()` and pass
`tuned=True` to `run_source`; a script that calls dlt itself wraps its `pipeline.run` in
`with tuned():`. Nothing here runs on import or inside the source.

- Fewer cyclic-GC passes while extracting: building Arrow columns allocates millions of
  short-lived dicts and lists; with Python's first-generation threshold (700 allocations) the
  collector runs thousands of times per 100,000 media and each older-generation pass walks every
  page still buffered. Pages and rows hold no reference cycles, so collecting less often frees
  nothing later than it would have; the previous thresholds come back when extraction ends.
- Fewer malloc arenas (glibc): extraction parses pages on up to `max_in_flight` threads, and
  glibc gives each thread an arena that keeps freed memory; after extraction the process holds
  memory it no longer uses while DuckDB's merge adds its own.
- Freed memory handed back between extraction and the load (gc, Arrow's pool, malloc_trim).

Each was measured on the 100,000-media local run (README, "Performance settings").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pyarrow

EXTRACTION_GEN0_THRESHOLD = 100_000
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt parameter, from glibc's malloc.h


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 (glibc has it; musl and macOS do not)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def tune_process(arenas: int = MALLOC_ARENAS) -> None:
    """Cap glibc's malloc arenas for threads started from now on (call before extraction)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, arenas)


@contextmanager
def fewer_gc_passes(gen0: int = EXTRACTION_GEN0_THRESHOLD) -> Iterator[None]:
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], gen0), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def release_freed_memory() -> None:
    """Collect garbage and return free heap pages to the OS (call when extraction ends).

    Arrow's allocator (mimalloc in pyarrow's wheels) keeps freed pages for reuse too.
    """
    gc.collect()
    pyarrow.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@contextmanager
def tuned(gen0: int = EXTRACTION_GEN0_THRESHOLD, arenas: int = MALLOC_ARENAS) -> Iterator[None]:
    """`run_source(tuned=True)`'s tunings around a block, for a script that runs dlt itself::

        with tuned():
            dlt.pipeline(destination="duckdb").run(pixlee_source())

    Why a block and not a setting of the source: they change the whole process, which only its
    script may decide. Fewer GC passes for the block (thresholds restored after); malloc arenas
    capped for threads started in it (glibc cannot undo that); freed memory handed back at the
    end. Inside `pipeline.run` the load follows extraction with no pause between them, so the
    memory extraction freed is handed back after the load, not before it as `run_source` does.
    """
    tune_process(arenas)
    try:
        with fewer_gc_passes(gen0):
            yield
    finally:
        release_freed_memory()
