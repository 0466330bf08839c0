"""The pipeline that is running the source now, when it has a destination.

The source reads the destination in two places: whether it loads parquet (the Arrow fast path)
and which loaded rows left an album (removal marking). Both ask dlt for the running pipeline.
"""

from __future__ import annotations

import dlt
from dlt.pipeline.pipeline import Pipeline


def running_pipeline_with_destination() -> Pipeline | None:
    """The pipeline now running this code (inside a source), if it has a destination."""
    try:
        pipeline = dlt.current.pipeline()
    except Exception:
        return None
    if pipeline is None or pipeline.destination is None:
        return None
    return pipeline
