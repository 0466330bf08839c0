"""`pixlee report`: the UGC report of a loaded pipeline, as one self-contained HTML file.

Registered on the `pixlee` app in `pixlee.cli._register_commands`. Heavy imports (dlt,
plotly) happen inside the command so `pixlee --help` stays quick. Errors are one line on
stderr with exit code 1, like every other command.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pixlee.defaults import PIPELINE_NAME


def report(
    pipeline: Annotated[str, typer.Option(help="dlt pipeline whose dataset to report on")] = (
        PIPELINE_NAME
    ),
    output: Annotated[str, typer.Option(help="HTML file to write")] = "pixlee_report.html",
    since: Annotated[
        str, typer.Option(help="How far back the weekly charts reach: 90d, 12w, or all")
    ] = "90d",
    as_of: Annotated[
        str,
        typer.Option(
            help="The instant time-relative numbers are measured from: auto (now, or the "
            "newest content when nothing arrived within --since), now, latest, or a date "
            "such as 2024-06-30"
        ),
    ] = "auto",
    sql: Annotated[
        bool, typer.Option("--sql", help="Also print every query of the report (a SQL script)")
    ] = False,
    pipelines_dir: Annotated[
        str | None, typer.Option(help="dlt's pipelines folder (default: dlt's own)")
    ] = None,
) -> None:
    """Write a self-contained HTML report (opens offline) of the content a pipeline loaded."""
    from pixlee.cli.errors import fail, one_line_errors
    from pixlee.report import ReportError, collect_report, open_pipeline, report_sql, write_report

    with one_line_errors():
        try:
            loaded = open_pipeline(pipeline, pipelines_dir)
            content = collect_report(loaded, since=since, as_of=as_of)
            path = write_report(content, output)
        except ReportError as exc:
            fail(str(exc))
    if sql:
        typer.echo(report_sql(content))
        typer.echo(f"-- report: {path}")
    else:
        typer.echo(f"Wrote the UGC report to {path}")
