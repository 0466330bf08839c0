"""The `pixlee` command: `demo`, `run`, `sim` (and `submit`, the write side).

Errors are printed as one clear line (credentials redacted) with exit code 1, never a traceback:
a wrong key is a configuration problem, not a crash (`pixlee.cli.errors`). Ctrl-C exits 130.
Heavy libraries (dlt, pyarrow, the HTTP stack) load inside the commands, so `--help` is quick.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from pixlee.cli.errors import fail, one_line_errors
from pixlee.defaults import (
    DATASET_NAME,
    DEMO_DUCKDB_FILE,
    DEMO_PIPELINE_NAME,
    DEMO_REPORT_FILE,
    DUCKDB_FILE,
    PIPELINE_NAME,
    PROGRESS_CHOICES,
)

app = typer.Typer(
    name="pixlee",
    help="Load Pixlee (Emplifi UGC) content into DuckDB or any dlt destination.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ProgressOption = Annotated[
    str | None,
    typer.Option(
        help=f"dlt progress display: {'|'.join(PROGRESS_CHOICES)} (default: log when "
        "not on a terminal, tqdm otherwise)"
    ),
]


def _split(values: str | None, convert: Callable[[str], Any] = str) -> list[Any] | None:
    if not values:
        return None
    try:
        return [convert(v.strip()) for v in values.split(",") if v.strip()]
    except ValueError:
        fail(f"expected a comma-separated list of numbers, got {values!r}")


def _print_report(pipeline: Any, load_info: Any) -> None:
    from pixlee.cli.summary import run_report, summarize
    from pixlee.source import last_run_metrics

    metrics = last_run_metrics(pipeline)
    typer.echo(str(load_info))
    typer.echo("")
    typer.echo(run_report(pipeline, metrics))
    typer.echo("")
    typer.echo(summarize(pipeline))
    if metrics and metrics.get("incomplete"):
        # the rest loaded, but a run that skipped part of an album is not a plain success
        fail(
            f"incomplete: {', '.join(metrics['incomplete'])} could not be read (see "
            "_pixlee_rejected); everything else loaded. Run again to read it."
        )


def _note_config(written: bool, destination_name: str, duckdb_file: str) -> None:
    if written:
        typer.echo(
            f'Wrote [destination.{destination_name}] credentials = "{duckdb_file}" to '
            ".dlt/secrets.toml, so dlt's tools open the same database."
        )


@app.command()
def demo(
    albums: Annotated[int, typer.Option(help="Standard albums in the simulated account")] = 6,
    media_per_album: Annotated[int, typer.Option(help="Approved media per album")] = 250,
    seed: Annotated[int, typer.Option(help="Seed of the simulated account")] = 7,
    progress: ProgressOption = None,
) -> None:
    """Load a simulated Pixlee account into ./pixlee_demo.duckdb: no credentials needed.

    The demo has its own pipeline (pixlee_demo) and file; your account's pixlee_pipeline and
    pixlee.duckdb are never touched.
    """
    with one_line_errors():
        _run_demo(albums, media_per_album, seed, progress)
    typer.echo(_DEMO_NEXT_STEPS)


def _run_demo(albums: int, media_per_album: int, seed: int, progress: str | None) -> None:
    from pixlee.pipeline import make_pipeline, run_source
    from pixlee.pipeline.local_files import record_database_for_dlt_tools
    from pixlee.simulator import Simulator, SimulatorConfig
    from pixlee.source import pixlee_source

    config = SimulatorConfig(
        seed=seed, albums=albums, media_per_album=media_per_album, products=12, categories=3
    )
    with Simulator(config) as sim:
        typer.echo(f"Simulated Pixlee at {sim.base_url} (seed {seed})")
        source = pixlee_source(
            api_key=sim.config.api_key, base_url=sim.base_url, skus=sim.skus()[:3]
        )
        written = record_database_for_dlt_tools(DEMO_DUCKDB_FILE, DEMO_PIPELINE_NAME)
        _note_config(written, DEMO_PIPELINE_NAME, DEMO_DUCKDB_FILE)
        pipeline = make_pipeline(
            pipeline_name=DEMO_PIPELINE_NAME,
            duckdb_file=DEMO_DUCKDB_FILE,
            destination_name=DEMO_PIPELINE_NAME,  # its own config section, never the user's
            progress=progress,
        )
        load_info = run_source(pipeline, source, full_refresh=True)
        _print_report(pipeline, load_info)
    _write_demo_report(pipeline)


def _write_demo_report(pipeline: Any) -> None:
    from pixlee.report import build_report

    path = build_report(pipeline, DEMO_REPORT_FILE)
    typer.echo(f"\nThe demo's UGC report: {path} (open it in a browser; it needs no network)")


_DEMO_NEXT_STEPS = f"""
Loaded into ./{DEMO_DUCKDB_FILE} (pipeline {DEMO_PIPELINE_NAME}, dataset {DATASET_NAME}). Explore:
  dlt pipeline {DEMO_PIPELINE_NAME} info
  dlt pipeline {DEMO_PIPELINE_NAME} show     # the dashboard (pip install -e '.[dashboard]' first)
  python -c "import dlt; print(dlt.pipeline('{DEMO_PIPELINE_NAME}').dataset().media.df().head())"
(with .venv/bin/ first, or after `source .venv/bin/activate`)
To load your real account: put api_key under [sources.pixlee_source] in .dlt/secrets.toml and
run `pixlee run`: it writes ./{DUCKDB_FILE} (pipeline {PIPELINE_NAME}); the demo's file stays."""


@app.command()
def run(
    destination: Annotated[str, typer.Option(help="dlt destination name")] = "duckdb",
    dataset: Annotated[str, typer.Option(help="Dataset (schema) name")] = DATASET_NAME,
    pipeline_name: Annotated[str, typer.Option(help="dlt pipeline name")] = PIPELINE_NAME,
    albums: Annotated[
        str | None, typer.Option(help="Comma-separated album ids (default: every album)")
    ] = None,
    skus: Annotated[str | None, typer.Option(help="Comma-separated SKUs for product_media")] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Drop this source's tables and state first")
    ] = False,
    reconcile: Annotated[
        str | None,
        typer.Option(
            help="When albums get a complete scan (edits, removals): always, never, or an "
            "interval since the last one such as 1d, 12h (default: config, else 1d)"
        ),
    ] = None,
    progress: ProgressOption = None,
) -> None:
    """Load the real Pixlee account configured in .dlt/secrets.toml (or the environment)."""
    from pixlee.pipeline import make_pipeline, run_source
    from pixlee.pipeline.local_files import record_database_for_dlt_tools
    from pixlee.source import pixlee_source

    album_ids = _split(albums, int)
    sku_list = _split(skus)
    with one_line_errors():
        kwargs: dict[str, Any] = {}
        if album_ids is not None:
            kwargs["album_ids"] = album_ids
        if sku_list is not None:
            kwargs["skus"] = sku_list
        if reconcile is not None:
            kwargs["reconcile"] = reconcile
        source = pixlee_source(**kwargs)
        if destination == "duckdb":
            _note_config(record_database_for_dlt_tools(DUCKDB_FILE), "duckdb", DUCKDB_FILE)
        pipeline = make_pipeline(
            destination=destination,
            dataset_name=dataset,
            pipeline_name=pipeline_name,
            progress=progress,
        )
        pipeline.destination_client()  # a missing destination setting fails before any read
        # the command is the whole process: it opts in to the process-wide tunings
        load_info = run_source(pipeline, source, full_refresh=full_refresh, tuned=True)
        _print_report(pipeline, load_info)


def _register_commands() -> None:
    """`sim`, `submit` and `report` live in their own modules; registered here for
    `pixlee --help`."""
    from pixlee.cli.report import report
    from pixlee.cli.submit import submit_app
    from pixlee.simulator.cli import sim

    app.command("sim", help="Serve a local Pixlee simulator (no credentials needed).")(sim)
    app.command("report")(report)
    app.add_typer(submit_app, name="submit", help="Signed writes: media, files, albums, products.")


_register_commands()
