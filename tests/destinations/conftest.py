"""Fixtures for loading into real destinations: a PostgreSQL server, Redis, a local data lake."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline import make_pipeline
from tests.destinations.services import POSTGRES_URL, REDIS_URL, require


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL server owned by the test run (scripts/ensure_services.sh)."""
    return require("PostgreSQL", POSTGRES_URL, "postgresql")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis server owned by the test run (scripts/ensure_services.sh)."""
    return require("Redis", REDIS_URL, "redis-server")


def _drop_schemas(url: str, dataset: str) -> None:
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        for schema in (dataset, f"{dataset}_staging"):
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    conn.close()


@pytest.fixture()
def pg_pipeline(postgres_url: str, tmp_path: Path) -> Iterator[Pipeline]:
    """The project's pipeline into Postgres, in a dataset (schema) of its own, dropped after."""
    dataset = f"pixlee_{uuid.uuid4().hex[:10]}"
    pipeline = make_pipeline(
        destination=dlt.destinations.postgres(credentials=postgres_url),
        dataset_name=dataset,
        pipeline_name="pixlee_pg_test",
        pipelines_dir=str(tmp_path / "pipelines"),
        progress="log",
    )
    yield pipeline
    _drop_schemas(postgres_url, dataset)


@pytest.fixture()
def lake(tmp_path: Path) -> Path:
    """A local folder standing in for an S3/GCS/Azure bucket."""
    path = tmp_path / "lake"
    path.mkdir()
    return path


def lake_pipeline(lake: Path, tmp_path: Path, name: str = "pixlee_lake_test") -> Pipeline:
    return make_pipeline(
        destination=dlt.destinations.filesystem(lake.as_uri()),
        pipeline_name=name,
        pipelines_dir=str(tmp_path / "pipelines"),
        progress="log",
    )
