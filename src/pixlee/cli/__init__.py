"""The `pixlee` command: `demo`, `run`, `sim` (and `submit`, the write side).

Errors are printed as one clear line (credentials redacted) with exit code 1, never a traceback:
a wrong key is a configuration problem, not a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer

from pixlee.pipeline import DATASET_NAME, PIPELINE_NAME, PROGRESS_CHOICES

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


def _fail(message: str) -> NoReturn:
    from pixlee.api.redaction import redact

    typer.secho(f"Error: {redact(message)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


def _root_cause(exc: BaseException) -> BaseException:
    """dlt wraps source errors in PipelineStepFailed / ResourceExtractionError: unwrap them."""
    from pixlee.api.errors import PixleeError

    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, PixleeError):
            return current
        seen.add(id(current))
        current = getattr(current, "exception", None) or current.__cause__ or current.__context__
    return exc


@contextmanager
def _clear_errors() -> Iterator[None]:
    from dlt.common.configuration.exceptions import ConfigFieldMissingException

    from pixlee.api.errors import PixleeError

    try:
        yield
    except typer.Exit:
        raise
    except ConfigFieldMissingException as exc:
        _fail(
            f"missing configuration: {', '.join(exc.fields)}. Put it under "
            "[sources.pixlee_source] in .dlt/secrets.toml or set SOURCES__PIXLEE_SOURCE__<NAME>."
        )
    except PixleeError as exc:
        _fail(str(exc))
    except Exception as exc:
        cause = _root_cause(exc)
        if isinstance(cause, PixleeError):
            _fail(str(cause))
        _fail(f"{type(cause).__name__}: {cause}")


def _split(values: str | None, convert: Callable[[str], Any] = str) -> list[Any] | None:
    if not values:
        return None
    try:
        return [convert(v.strip()) for v in values.split(",") if v.strip()]
    except ValueError:
        _fail(f"expected a comma-separated list of numbers, got {values!r}")


def _print_report(pipeline: Any, load_info: Any, before: dict[str, int] | None = None) -> None:
    from pixlee.cli.summary import run_report, summarize
    from pixlee.source import last_scan_report

    typer.echo(str(load_info))
    typer.echo("")
    typer.echo(run_report(pipeline, before or {}, last_scan_report()))
    typer.echo("")
    typer.echo(summarize(pipeline))


def _note_config(written: bool) -> None:
    if written:
        typer.echo(
            'Wrote [destination.duckdb] credentials = "pixlee.duckdb" to .dlt/secrets.toml, so '
            "dlt's tools open the same database."
        )


@app.command()
def demo(
    albums: Annotated[int, typer.Option(help="Standard albums in the simulated account")] = 6,
    media_per_album: Annotated[int, typer.Option(help="Approved media per album")] = 250,
    seed: Annotated[int, typer.Option(help="Seed of the simulated account")] = 7,
    progress: ProgressOption = None,
) -> None:
    """Start a local Pixlee simulator and load it into ./pixlee.duckdb: no credentials needed."""
    from pixlee.pipeline import DUCKDB_FILE, ensure_duckdb_config, make_pipeline, run_source
    from pixlee.simulator import Simulator, SimulatorConfig
    from pixlee.source import pixlee_source

    with _clear_errors():
        config = SimulatorConfig(
            seed=seed, albums=albums, media_per_album=media_per_album, products=12, categories=3
        )
        with Simulator(config) as sim:
            typer.echo(f"Simulated Pixlee at {sim.base_url} (seed {seed})")
            source = pixlee_source(
                api_key=sim.config.api_key, base_url=sim.base_url, skus=sim.skus()[:3]
            )
            _note_config(ensure_duckdb_config())
            pipeline = make_pipeline(progress=progress)
            load_info = run_source(pipeline, source, full_refresh=True)
            _print_report(pipeline, load_info)
    typer.echo(
        f"""
Loaded into ./{DUCKDB_FILE} (pipeline {PIPELINE_NAME}, dataset {DATASET_NAME}). Explore:
  dlt pipeline {PIPELINE_NAME} info
  dlt pipeline {PIPELINE_NAME} show          # the dashboard (pip install "dlt[hub]" first)
  python -c "import dlt; print(dlt.pipeline('{PIPELINE_NAME}').dataset().media.df().head())"
  python -c "import duckdb; print(duckdb.connect('{DUCKDB_FILE}').sql('SELECT source, \
count(*) FROM {DATASET_NAME}.media GROUP BY 1'))"
To load your real account: put api_key under [sources.pixlee_source] in .dlt/secrets.toml and
run `pixlee run --full-refresh` (the refresh drops this demo's data first)."""
    )


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
    from pixlee.cli.summary import safe_row_counts
    from pixlee.pipeline import ensure_duckdb_config, make_pipeline, run_source
    from pixlee.source import pixlee_source

    album_ids = _split(albums, int)
    sku_list = _split(skus)
    with _clear_errors():
        kwargs: dict[str, Any] = {}
        if album_ids is not None:
            kwargs["album_ids"] = album_ids
        if sku_list is not None:
            kwargs["skus"] = sku_list
        if reconcile is not None:
            kwargs["reconcile"] = reconcile
        source = pixlee_source(**kwargs)
        if destination == "duckdb":
            _note_config(ensure_duckdb_config())
        pipeline = make_pipeline(
            destination=destination,
            dataset_name=dataset,
            pipeline_name=pipeline_name,
            progress=progress,
        )
        before = {} if full_refresh else safe_row_counts(pipeline)
        # the command is the whole process: it opts in to the process-wide tunings
        load_info = run_source(pipeline, source, full_refresh=full_refresh, tuned=True)
        _print_report(pipeline, load_info, before)


def _register_commands() -> None:
    """`sim` and `submit` live in their own modules; registered here for `pixlee --help`."""
    from pixlee.cli.submit import submit_app
    from pixlee.simulator.cli import sim

    app.command("sim", help="Serve a local Pixlee simulator (no credentials needed).")(sim)
    app.add_typer(submit_app, name="submit", help="Signed writes: media, files, albums, products.")


_register_commands()
