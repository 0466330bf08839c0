"""Collect the report: resolve its time frame, then run each section against the dataset."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pixlee.report import queries as q
from pixlee.report.errors import ReportError
from pixlee.report.freshness import freshness_section
from pixlee.report.model import QueryResult, Report
from pixlee.report.reader import DatasetReader
from pixlee.report.sections import (
    albums_section,
    content_section,
    engagement_section,
    products_section,
    rights_section,
    utc,
)
from pixlee.report.window import ReportWindow


def collect(
    pipeline: Any, window: timedelta | None, as_of: str | datetime, now: datetime
) -> Report:
    reader = DatasetReader(pipeline)
    data_tables = [table for table in reader.tables if not table.startswith("_dlt")]
    if not data_tables:
        raise ReportError(
            f"pipeline {pipeline.pipeline_name!r} has loaded no data into dataset "
            f"{pipeline.dataset_name!r} yet: run `pixlee run` (or `pixlee demo`) first"
        )
    with reader.connected():
        reader.ensure_dataset()
        newest = reader.run(q.newest_content())
        frame = ReportWindow.resolve(window, as_of, _newest(newest), now)
        sections = [
            content_section(reader, frame),
            rights_section(reader, frame),
            products_section(reader, frame),
            albums_section(reader, frame),
            engagement_section(reader, frame),
            freshness_section(reader),
        ]
    return Report(
        pipeline_name=pipeline.pipeline_name,
        dataset_name=pipeline.dataset_name,
        destination=_destination_name(pipeline),
        generated_at=now,
        as_of=frame.as_of,
        as_of_reason=frame.as_of_reason,
        window=frame.describe(),
        sections=sections,
        preamble=[newest],
    )


def _newest(result: QueryResult) -> datetime | None:
    return utc(result.first().get("newest_collected")) if result.ok else None


def _destination_name(pipeline: Any) -> str:
    """`duckdb`, or `duckdb (pixlee_demo)` for a destination with a config section of its own."""
    destination = getattr(pipeline, "destination", None)
    kind = str(getattr(destination, "destination_type", "") or "").rsplit(".", 1)[-1]
    name = str(getattr(destination, "destination_name", "") or "")
    if not kind:
        return name or "the destination"
    return kind if name in ("", kind) else f"{kind} ({name})"
