"""The UGC report: one self-contained HTML page about the content a pipeline has loaded.

    from pixlee.report import build_report
    path = build_report("pixlee_pipeline")                    # or a dlt Pipeline object
    path = build_report(pipeline, "ugc.html", since="12w", as_of="latest")

Six sections (content over time, rights and moderation, product coverage, albums and
creators, engagement, freshness), each a chart with its numbers beside it and the SQL behind
them; the dataset is read through dlt, so any destination dlt queries works. `collect_report`
returns the same content as data (`Report`), `report_sql` the SQL as one script.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pixlee.report.errors import ReportError
from pixlee.report.model import Report
from pixlee.report.window import parse_as_of, parse_since

__all__ = [
    "DEFAULT_OUTPUT",
    "DEFAULT_SINCE",
    "Report",
    "ReportError",
    "build_report",
    "collect_report",
    "open_pipeline",
    "report_sql",
    "write_report",
]

DEFAULT_OUTPUT = "pixlee_report.html"
DEFAULT_SINCE = "90d"


def open_pipeline(name: str, pipelines_dir: str | None = None) -> Any:
    """The local dlt pipeline `name` (its state says where its data went)."""
    import dlt
    from dlt.pipeline.exceptions import CannotRestorePipelineException

    try:
        if pipelines_dir:
            return dlt.attach(pipeline_name=name, pipelines_dir=pipelines_dir)
        return dlt.attach(pipeline_name=name)
    except CannotRestorePipelineException:
        where = f" in {pipelines_dir}" if pipelines_dir else ""
        raise ReportError(
            f"no pipeline named {name!r}{where} on this machine: load one first (`pixlee run`, "
            "`pixlee demo`) or name it with --pipeline"
        ) from None


def collect_report(
    pipeline: Any,
    *,
    since: str | timedelta | None = DEFAULT_SINCE,
    as_of: str | datetime | None = "auto",
    now: datetime | None = None,
) -> Report:
    """Run every query of the report on `pipeline`'s dataset: the report as data."""
    _require_plotly()
    from pixlee.report.build import collect

    if isinstance(pipeline, str):
        pipeline = open_pipeline(pipeline)
    return collect(pipeline, parse_since(since), parse_as_of(as_of), now or datetime.now(UTC))


def _require_plotly() -> None:
    try:
        import plotly  # noqa: F401
    except ImportError:
        raise ReportError(
            "the report draws its charts with plotly, which is missing: pip install -e . "
            "(plotly is one of dlt-pixlee's dependencies)"
        ) from None


def write_report(report: Report, output: str | Path = DEFAULT_OUTPUT) -> Path:
    """Write `report` as one self-contained HTML file; returns its absolute path."""
    from pixlee.report.html import render

    path = Path(output).expanduser().resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(report), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {path}: {exc.strerror or exc}") from exc
    return path


def build_report(
    pipeline: Any,
    output: str | Path = DEFAULT_OUTPUT,
    *,
    since: str | timedelta | None = DEFAULT_SINCE,
    as_of: str | datetime | None = "auto",
) -> Path:
    """Collect the report of `pipeline` (a dlt Pipeline or its name) and write it to `output`."""
    return write_report(collect_report(pipeline, since=since, as_of=as_of), output)


def report_sql(report: Report) -> str:
    """Every query of the report as one SQL script, in the destination's dialect."""
    parts = []
    for result in report.queries():
        header = f"-- {result.query.key}: {result.query.title}"
        if result.error:
            parts.append(f"{header}\n-- not run: {result.error}\n")
        else:
            parts.append(f"{header}\n{result.executed_sql};\n")
    return "\n".join(parts)
