"""The real pipeline into a real PostgreSQL server: truth, DuckDB parity, merge, reruns and
kill -9 inside a load (exactly-once jobs)."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import dlt
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline import run_source
from pixlee.simulator import Simulator
from tests.destinations.scenarios import (
    assert_edit_merged,
    assert_full_load,
    row_counts,
    source,
)
from tests.support.dataset import rows, table_names
from tests.support.integrity import assert_truth


def _reader(pipeline: Pipeline) -> Any:
    return lambda table: rows(pipeline, table)


def _column_types(pipeline: Pipeline, table: str) -> dict[str, str]:
    sql = (
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s"
    )
    with pipeline.sql_client() as client:
        return dict(client.execute_sql(sql, pipeline.dataset_name, table) or [])


def test_full_load_equals_ground_truth(shared_sim: Simulator, pg_pipeline: Pipeline) -> None:
    skus = shared_sim.skus()[:2]
    info = run_source(pg_pipeline, source(shared_sim, skus=skus))
    assert not info.has_failed_jobs
    assert pg_pipeline.destination.destination_name == "postgres"
    assert_full_load(shared_sim, pg_pipeline, _reader(pg_pipeline), skus)
    types = _column_types(pg_pipeline, "media")
    assert types["updated_at_ts"] == "timestamp with time zone"
    assert types["updated_at"] == "bigint"
    assert types["album_photo_id"] == "bigint"


def _comparable(row: dict[str, Any], json_columns: set[str]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_dlt_") and k not in json_columns}


def test_same_rows_as_duckdb(
    shared_sim: Simulator, pg_pipeline: Pipeline, pipeline: Pipeline
) -> None:
    skus = shared_sim.skus()[:1]
    run_source(pipeline, source(shared_sim, skus=skus))
    run_source(pg_pipeline, source(shared_sim, skus=skus))

    tables = table_names(pipeline)
    assert table_names(pg_pipeline) == tables
    assert {t: len(rows(pg_pipeline, t)) for t in tables} == {
        t: len(rows(pipeline, t)) for t in tables
    }
    keys = {"albums": "id", "media": "album_photo_id", "products": "id", "categories": "id"}
    for table, key in keys.items():
        schema = pipeline.default_schema.get_table_columns(table)
        json_columns = {name for name, col in schema.items() if col.get("data_type") == "json"}
        in_duckdb = {r[key]: _comparable(r, json_columns) for r in rows(pipeline, table)}
        in_postgres = {r[key]: _comparable(r, json_columns) for r in rows(pg_pipeline, table)}
        assert in_postgres == in_duckdb, table


def test_rerun_is_idempotent_and_merge_updates_in_place(
    sim: Simulator, pg_pipeline: Pipeline
) -> None:
    read = _reader(pg_pipeline)
    skus = sim.skus()[:1]
    run_source(pg_pipeline, source(sim, skus=skus))
    first = row_counts(read)
    assert first["media"] == len(sim.truth_media())

    run_source(pg_pipeline, source(sim, skus=skus))
    assert row_counts(read) == first

    edited = sim.truth_media()[5]["album_photo_id"]
    sim.world.edit_media(edited, title="changed in Pixlee")
    run_source(pg_pipeline, source(sim, skus=skus))
    assert_edit_merged(sim, read, edited, "changed in Pixlee")
    assert row_counts(read) == first
    # statistics merge on (album_id, snapshot_at): no snapshot is stored twice
    snapshots = Counter((r["album_id"], r["snapshot_at"]) for r in read("statistics"))
    assert snapshots and set(snapshots.values()) == {1}


def _killed_child(plan: dict[str, Any]) -> bool:
    """The crash child (tests/support/crash_child.py) until it kills itself."""
    from tests.support.crash_child import run_child

    return run_child(plan)[0]


def _crash_plan(sim: Simulator, pipeline: Pipeline, url: str, **kill: Any) -> dict[str, Any]:
    return {
        "postgres": url,
        "dataset": pipeline.dataset_name,
        "pipeline_name": pipeline.pipeline_name,
        "pipes": pipeline.pipelines_dir,
        "base_url": sim.base_url,
        "key": sim.config.api_key,
        "skus": sim.skus()[:2],
        **kill,
    }


# a copy job's window in a first load, a completion's in a merge load, a kill between jobs and
# a merge job's window (`PIXLEE_CRASH_TRIALS=lean`: the first two)
PG_KILLS = [("first", {"commit": 3}), ("merge", {"complete": True})]
if os.environ.get("PIXLEE_CRASH_TRIALS") != "lean":
    PG_KILLS += [("first", {"at": ["Load", 17]}), ("merge", {"commit": 5})]


@pytest.mark.parametrize(("load", "kill"), PG_KILLS)
def test_kill_9_in_a_load_then_one_rerun_equals_truth(
    sim: Simulator, pg_pipeline: Pipeline, postgres_url: str, load: str, kill: dict[str, Any]
) -> None:
    """Exactly-once jobs on Postgres: a kill right after a job's commit (or the package's
    completion, or between jobs) and one rerun leave the truth, no row twice."""
    skus = sim.skus()[:2]
    reconcile = "always"
    if load == "merge":
        run_source(pg_pipeline, source(sim, skus=skus))
        sim.world.edit_media(sim.truth_media()[3]["album_photo_id"], title="edited")
        sim.world.add_media(sim.truth_albums()[0]["id"], count=2)
    plan = _crash_plan(sim, pg_pipeline, postgres_url, reconcile=reconcile, **kill)
    assert _killed_child(plan)
    run_source(pg_pipeline, source(sim, skus=skus, reconcile=reconcile))
    assert_truth(pg_pipeline, sim, skus)


def test_dlt_alone_cannot_finish_such_a_load_on_postgres(
    sim: Simulator, pg_pipeline: Pipeline, postgres_url: str
) -> None:
    """The control: the same kill with dlt's own Postgres jobs, and dlt's own rerun: the
    resumed job inserts its rows again, Postgres' unique `_dlt_id` refuses them, and the
    package can never load."""
    plan = _crash_plan(sim, pg_pipeline, postgres_url, commit=3, destination="dlt")
    assert _killed_child(plan)
    plain = dlt.pipeline(
        pipeline_name=pg_pipeline.pipeline_name,
        destination=dlt.destinations.postgres(credentials=postgres_url),
        dataset_name=pg_pipeline.dataset_name,
        pipelines_dir=pg_pipeline.pipelines_dir,
    )
    with pytest.raises(PipelineStepFailed, match="duplicate key value violates unique"):
        run_source(plain, source(sim, skus=sim.skus()[:2]))
