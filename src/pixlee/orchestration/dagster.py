"""A Dagster code location: Pixlee accounts as assets, sharded, each key on its own budget.

    pip install -e '.[dagster]'
    dagster dev -m pixlee.orchestration.dagster                            # the UI
    dagster asset materialize -m pixlee.orchestration.dagster --select '*' # everything, once

Built on `dagster-dlt` (its translator for the asset specs, `DagsterDltResource` for each
table's metadata). Each account (settings in `pixlee.orchestration.settings`) is one asset
group, `<account>`, of:

* `<account>/albums`, `<account>/product_media` (and the run's `_pixlee_runs`,
  `_pixlee_rejected`): the catalogue, one step (pipeline `<account>_catalog`);
* `<account>/albums_<N>_of_<M>/{media,products,statistics}` (and `_pixlee_runs`,
  `_pixlee_album_scans`, `_pixlee_rejected`): album shard N, one step each (pipeline
  `<account>_albums_<N>_of_<M>`), all loading into the account's one dataset;
* `<account>/categories`: after every shard and the catalogue, read back from the dataset
  (`pixlee.orchestration.categories`).

Shards are assets, not partitions of one asset: `--select '*'` then runs a whole account in one
run with every shard its own step (a partitioned asset needs one run per partition, or one step
for all), a failed shard is retried alone by its step's retry policy (or re-executed from
failure) while the others complete, and `categories` waits on all of them. Their number is
fixed in config, their albums are dealt at run time (`pixlee.orchestration.loads`).

A step runs its load as `pixlee run` does (`pixlee.pipeline.run_source`). Loads into one
Postgres dataset take turns (`pixlee.orchestration.dataset_lock`: two shards merging the same
product at once would both insert it); extraction still runs in parallel. A step whose load
fails while its package is still pending (a dropped connection, a conflict) loads it again in
place before the step is failed and retried (`pixlee.orchestration.load_retry`): the step's
retry would scan its albums again.

Steps run in separate processes, except on DuckDB: one file has one writer, so a DuckDB
destination runs the steps one after another in one process. All shards of one key pace on
one budget when `[sources.pixlee_source] rate_limit_backend` names a SQLite file (one host) or
Redis (several hosts); without it each step paces itself to the full limit.

Asset metadata of each materialization: dagster-dlt's (schema, jobs, table name),
`rows_loaded` (rows of that table in this run) and the run's figures from `_pixlee_runs`
(`pixlee.orchestration.run_metrics`): `pixlee/requests`, `pixlee/retries`,
`pixlee/rate_limited`, `pixlee/waited_on_429_seconds`, `pixlee/albums_full`,
`pixlee/albums_incremental`, `pixlee/items_read`, `pixlee/media_new`… (one scan feeds all
tables of a load, so its tables show the same figures).
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dlt.extract.source import DltSource

from pixlee.orchestration.loads import SHARED_DATASET_LOADS, Load, plan, resolve_destination
from pixlee.orchestration.run_metrics import run_counters
from pixlee.orchestration.settings import OrchestrationSettings, read_settings
from pixlee.pipeline import run_source

try:
    import dagster as dg
    from dagster_dlt import DagsterDltResource, DagsterDltTranslator
    from dagster_dlt.translator import DltResourceTranslatorData
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "pixlee.orchestration.dagster needs Dagster: pip install 'dlt-pixlee[dagster]'"
    ) from exc

METADATA_PREFIX = "pixlee/"


@dataclass
class PixleeTranslator(DagsterDltTranslator):
    """dagster-dlt's translator, with the keys, group and lineage of the plan."""

    key_prefix: tuple[str, ...] = ()
    group: str | None = None
    upstream: tuple[dg.AssetKey, ...] = ()
    kinds: frozenset[str] = frozenset({"dlt"})
    pipeline_name: str = ""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            key=dg.AssetKey([*self.key_prefix, data.resource.name]),
            deps=list(self.upstream),
            group_name=self.group,
            kinds=set(self.kinds),
        ).merge_attributes(metadata={f"{METADATA_PREFIX}pipeline_name": self.pipeline_name})


def translator_for(
    load: Load, settings: OrchestrationSettings, upstream: Sequence[dg.AssetKey] = ()
) -> PixleeTranslator:
    """Keys `<account>/<table>`, or `<account>/albums_N_of_M/<table>` for a shard's tables (a
    table is written by every shard, an asset by one step)."""
    prefix = (load.account.name, load.label) if load.kind == "shard" else (load.account.name,)
    destination = resolve_destination(settings.destination, settings.duckdb_file)
    return PixleeTranslator(
        key_prefix=prefix,
        group=load.account.name,
        upstream=tuple(upstream),
        kinds=frozenset({"dlt", destination.destination_name}),
        pipeline_name=load.pipeline_name,
    )


def asset_keys(load: Load, settings: OrchestrationSettings) -> list[dg.AssetKey]:
    translator = translator_for(load, settings)
    return [dg.AssetKey([*translator.key_prefix, name]) for name in load.resources]


def load_assets(
    load: Load, settings: OrchestrationSettings, upstream: Sequence[dg.AssetKey] = ()
) -> dg.AssetsDefinition:
    """One step that runs `load` and materializes its tables (any subset of them)."""
    translator = translator_for(load, settings, upstream)
    blueprint = load.blueprint_source()
    specs = [
        translator.get_asset_spec(DltResourceTranslatorData(resource=resource, pipeline=None))
        for resource in blueprint.selected_resources.values()
    ]

    @dg.multi_asset(
        name=load.pipeline_name,
        specs=specs,
        can_subset=True,
        required_resource_keys={"dlt"},
        retry_policy=dg.RetryPolicy(
            max_retries=settings.max_retries,
            delay=settings.retry_delay_seconds,
            backoff=dg.Backoff.EXPONENTIAL,
        ),
        op_tags={"pixlee/account": load.account.name, "pixlee/load": load.label},
        pool=load.account.name,
    )
    def run_load(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult[Any]]:
        yield from _run(context, load, settings, translator)

    return run_load


def _run(
    context: dg.AssetExecutionContext,
    load: Load,
    settings: OrchestrationSettings,
    translator: PixleeTranslator,
) -> Iterator[dg.MaterializeResult[Any]]:
    """Run the load as `pixlee run` does (`pixlee.pipeline.run_source`: parquet where the
    destination takes it, a DuckDB file held open for the load), into loads that take turns on
    one Postgres dataset (`dataset_lock`), a failed pending load retried in place
    (`load_retry`); then each selected table's materialization, with dagster-dlt's metadata,
    its rows and the run's figures (`run_metrics`)."""
    pipeline = load.pipeline(settings.destination, settings.pipelines_dir, settings.duckdb_file)
    source = load.source(pipeline)
    if source is None:  # a shard without albums: its tables get no rows from this run
        context.log.info(f"{load.pipeline_name}: no album in this shard, nothing to load")
        for key in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=key, metadata={"rows_loaded": 0})
        return
    resources = _selected_resources(context, source, translator, pipeline)
    source = source.with_resources(*(resource.name for resource in resources.values()))
    # as dagster-dlt does: a step may run on any machine, the state comes from the destination
    pipeline.drop()
    load_info = run_source(pipeline, source, around_load=SHARED_DATASET_LOADS)
    load_info.raise_on_failed_jobs()
    counters = run_counters(pipeline) if load.kind != "categories" else {}
    row_counts = _row_counts(pipeline)
    extra = {f"{METADATA_PREFIX}{name}": value for name, value in counters.items()}
    context.log.info(f"{load.pipeline_name}: rows {row_counts or 'none'}; {counters}")
    dlt_resource: DagsterDltResource = context.resources.dlt
    for key, resource in resources.items():
        metadata = dlt_resource.extract_resource_metadata(context, resource, load_info, pipeline)
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={**metadata, "rows_loaded": row_counts.get(resource.table_name, 0), **extra},
        )


def _selected_resources(
    context: dg.AssetExecutionContext,
    source: DltSource,
    translator: PixleeTranslator,
    pipeline: Any,
) -> dict[dg.AssetKey, Any]:
    """The source's resources by asset key, of the assets selected in this run."""
    by_key = {
        translator.get_asset_spec(DltResourceTranslatorData(resource=r, pipeline=pipeline)).key: r
        for r in source.selected_resources.values()
    }
    return {key: r for key, r in by_key.items() if key in context.selected_asset_keys}


def _row_counts(pipeline: Any) -> dict[str, int]:
    """Rows per table written by the pipeline's last run (dlt's normalize step)."""
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    return dict(info.row_counts) if info is not None else {}


def pixlee_definitions(settings: OrchestrationSettings | None = None) -> dg.Definitions:
    """The assets of every configured account (`read_settings()` unless given)."""
    settings = settings or read_settings()
    assets: list[dg.AssetsDefinition] = []
    for account in settings.accounts:
        loads = [load for load in plan(settings) if load.account == account]
        upstream = [
            key
            for load in loads
            if load.kind != "categories"
            for key in asset_keys(load, settings)
            if key.path[-1] in ("albums", "media")
        ]
        for load in loads:
            assets.append(
                load_assets(load, settings, upstream if load.kind == "categories" else ())
            )
    local_file = settings.destination == "duckdb"
    return dg.Definitions(
        assets=assets,
        resources={"dlt": DagsterDltResource()},
        executor=dg.in_process_executor if local_file else dg.multiprocess_executor,
    )


defs = pixlee_definitions()
