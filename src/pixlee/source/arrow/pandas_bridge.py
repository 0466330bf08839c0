"""Have pyarrow load its pandas bridge before the first paced request, not in a page thread.

Why: pyarrow imports pandas (installed with pixlee, for `dataset().media.df()`) the first time
it converts a Python value: `pa.scalar`, `pa.array` of a list, a compute call given a Python
number. That import takes ~1.6 s and ~40 MB, under pyarrow's lock and Python's import lock.
Left to the first page thread that reads a page as Arrow, every other page thread stops at the
same lock after its first page, requests stop, and the key's budget for those seconds is gone:
measured in a fresh process (extraction only, 200 ms latency) as one 1.0-2.1 s gap in the
requests, ~2 points of the limit in an 80-second run at 1,200 and 3,600/min. Done on the
reading thread before the first request, it costs the same once, but not while paced.

In `pipeline.run` into DuckDB the import has happened before extraction (DuckDB's Python client
imports pandas for any query with parameters), and in a long-lived process only once; then
this does nothing.
"""

from __future__ import annotations

import pyarrow as pa


def load_pandas_bridge() -> None:
    """Make pyarrow import pandas now, on this thread (nothing once it has)."""
    pa.scalar(0)  # the cheapest conversion that passes through pyarrow's pandas check
