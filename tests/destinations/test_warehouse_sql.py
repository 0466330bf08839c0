"""BigQuery, Snowflake, Redshift, Databricks and MotherDuck, without a network: each builds its
load package for the Pixlee schema (extract + normalize with the destination set), and its job
client, constructed offline with placeholder credentials, generates the CREATE TABLE and MERGE
SQL the loader would run. Neither step opens a connection, so a wrong type mapping or a lost
merge key shows up here instead of in a customer's warehouse."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.common.schema.utils import get_nested_tables
from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline import make_pipeline, preferred_file_format
from pixlee.simulator import Simulator
from tests.destinations.scenarios import source

PLACEHOLDER_KEY = "-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n"


def _bigquery() -> Any:
    credentials = {
        "project_id": "pixlee-project",
        "client_email": "loader@pixlee-project.iam.gserviceaccount.com",
        "private_key": PLACEHOLDER_KEY,
    }
    return dlt.destinations.bigquery(credentials=credentials, location="US")


def _databricks() -> Any:
    credentials = {
        "server_hostname": "dbc-0000.cloud.databricks.com",
        "http_path": "/sql/1.0/warehouses/0000",
        "access_token": "placeholder",
        "catalog": "main",
    }
    return dlt.destinations.databricks(credentials=credentials)


# destination, its table name for media, its type for `*_ts`, the file format of media's jobs
WAREHOUSES: dict[str, tuple[Any, str, str, str]] = {
    "bigquery": (_bigquery, "`pixlee-project`.`pixlee_data`.`media`", "TIMESTAMP", "parquet"),
    "snowflake": (
        lambda: dlt.destinations.snowflake(
            credentials="snowflake://loader:placeholder@pixlee-acct/PIXLEE?warehouse=WH&role=LOADER"
        ),
        '"PIXLEE_DATA"."MEDIA"',
        "TIMESTAMP_LTZ",
        "parquet",
    ),
    "redshift": (
        lambda: dlt.destinations.redshift(
            credentials="redshift://loader:placeholder@pixlee.example.com:5439/dev"
        ),
        '"pixlee_data"."media"',
        "timestamp with time zone",
        "insert_values",
    ),
    "databricks": (_databricks, "`main`.`pixlee_data`.`media`", "TIMESTAMP", "parquet"),
    "motherduck": (
        lambda: dlt.destinations.motherduck(
            credentials="md:///pixlee?motherduck_token=placeholder"
        ),
        '"pixlee"."pixlee_data"."media"',
        "TIMESTAMP WITH TIME ZONE",
        "parquet",
    ),
}


@pytest.fixture(autouse=True)
def _keep_logging_as_it_was() -> Iterator[None]:
    """databricks-sql-connector adds its own filter to urllib3's logger when imported, which
    rewrites every later urllib3 log line of the session (other tests read those): undo it."""
    urllib3_logger = logging.getLogger("urllib3.connectionpool")
    before = list(urllib3_logger.filters)
    yield
    urllib3_logger.filters[:] = before


def _normalized_pipeline(sim: Simulator, destination: Any, tmp_path: Path) -> Pipeline:
    pipeline = make_pipeline(
        destination=destination,
        pipeline_name="pixlee_offline",
        pipelines_dir=str(tmp_path / "pipelines"),
        progress="log",
    )
    album_id = next(a["id"] for a in sim.truth_albums() if a["album_type"] == "standard")
    pixlee = source(sim, album_ids=[album_id], skus=sim.skus()[:1])
    pipeline.extract(pixlee, loader_file_format=preferred_file_format(pipeline))
    pipeline.normalize()
    return pipeline


def _merge_sql(client: Any, schema: Any, root: str) -> Iterator[str]:
    chain = [client.prepare_load_table(t["name"]) for t in get_nested_tables(schema.tables, root)]
    for job in client._create_merge_followup_jobs(chain):
        path = job.new_file_path()
        try:
            yield Path(path).read_text(encoding="utf-8")
        finally:
            os.remove(path)


@pytest.mark.parametrize("name", sorted(WAREHOUSES))
def test_builds_load_package_and_sql_offline(
    name: str, shared_sim: Simulator, tmp_path: Path
) -> None:
    make_destination, media_table, ts_type, media_format = WAREHOUSES[name]
    pipeline = _normalized_pipeline(shared_sim, make_destination(), tmp_path)
    assert pipeline.destination.destination_name == name

    # the load package: one job per table, media in the destination's preferred format
    (load_id,) = pipeline.list_normalized_load_packages()
    jobs = pipeline.get_load_package_info(load_id).jobs["new_jobs"]
    by_table = {job.job_file_info.table_name: job.job_file_info.file_format for job in jobs}
    assert {"albums", "media", "media__products", "product_media", "products"} <= set(by_table)
    assert by_table["media"] == media_format

    schema = pipeline.default_schema
    client: Any = pipeline.destination_client()
    ident = client.sql_client.escape_column_name  # the destination's quoting and casing

    create = client._get_table_update_sql(
        "media", list(schema.get_table_columns("media").values()), False
    )[0]
    assert create.startswith(f"CREATE TABLE {media_table} (")
    assert re.search(rf"{re.escape(ident('updated_at_ts'))} {re.escape(ts_type)}\b", create)
    assert re.search(rf"{re.escape(ident('album_photo_id'))} \w+(\(19,0\))?\s+NOT NULL", create)
    assert re.search(
        rf"{re.escape(ident('updated_at'))} (BIGINT|bigint|INT64|NUMBER\(19,0\))", create
    )

    # merge: staged rows replace the rows with the same key, and their child rows go with them
    (media_merge,) = _merge_sql(client, schema, "media")
    staging_table = media_table.replace("pixlee_data", "pixlee_data_staging").replace(
        "PIXLEE_DATA", "PIXLEE_DATA_STAGING"
    )
    key = ident("album_photo_id")
    assert f"d.{key} = s.{key}" in media_merge
    assert staging_table in media_merge
    assert ident("_dlt_root_id") in media_merge
    assert media_table.replace(ident("media"), ident("media__products")) in media_merge

    (sku_merge,) = _merge_sql(client, schema, "product_media")
    sku = ident("sku")
    assert f"d.{key} = s.{key}" in sku_merge and f"d.{sku} = s.{sku}" in sku_merge
