"""Fewer cyclic-GC passes while pages are turned into Arrow tables.

Building Arrow columns allocates millions of short-lived dicts and lists. With Python's default
first-generation threshold (700 allocations) the cyclic collector runs thousands of times per
100,000 media, and each older-generation pass walks every page still buffered: ~4 s of a 25 s
load, measured. Pages and rows hold no reference cycles, so collecting less often frees nothing
later than it would have; the previous thresholds come back when the extraction ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

EXTRACTION_GEN0_THRESHOLD = 100_000


@contextmanager
def fewer_gc_passes(gen0: int = EXTRACTION_GEN0_THRESHOLD) -> Iterator[None]:
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], gen0), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
