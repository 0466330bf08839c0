"""The report's SQL is portable: on a real PostgreSQL server (transpiled by sqlglot, qualified
as dlt names the tables there) every query returns the rows it returns on DuckDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline import make_pipeline, run_source
from pixlee.report import collect_report
from pixlee.report.model import Report
from pixlee.simulator import Simulator
from pixlee.source import pixlee_source
from tests.destinations.services import POSTGRES_URL, require


@pytest.fixture()
def pg_pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    import psycopg2

    url = require("PostgreSQL", POSTGRES_URL, "postgresql")
    dataset = f"pixlee_report_{uuid.uuid4().hex[:8]}"
    yield make_pipeline(
        destination=dlt.destinations.postgres(credentials=url),
        dataset_name=dataset,
        pipeline_name="pixlee_report_pg",
        pipelines_dir=str(tmp_path / "pg_pipelines"),
        progress="log",
    )
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        for schema in (dataset, f"{dataset}_staging"):
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    conn.close()


def _same(value: Any) -> Any:
    """Drivers differ in types, not values: numeric vs double, time zones of timestamps."""
    if isinstance(value, Decimal | float):
        return round(float(value), 6)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def _rows(report: Report) -> dict[str, list[tuple[Any, ...]]]:
    return {
        result.query.key: [tuple(_same(v) for v in row) for row in result.rows]
        for section in report.sections[:5]  # freshness: each pipeline's own loads
        for result in section.results
    }


def test_postgres_report_equals_duckdb_report(
    shared_sim: Simulator, pipeline: Pipeline, pg_pipeline: Pipeline
) -> None:
    as_of = datetime.fromtimestamp(shared_sim.world.base_epoch_ms / 1000, UTC)
    reports = []
    for target in (pipeline, pg_pipeline):
        source = pixlee_source(api_key=shared_sim.config.api_key, base_url=shared_sim.base_url)
        run_source(target, source.with_resources("albums", "media", "products"))
        reports.append(collect_report(target, since="26w", as_of=as_of))
    duck, pg = reports
    assert all(result.ok for result in pg.queries()), [r.error for r in pg.queries()]
    assert 'FROM "pixlee_report_' in pg.section("content").results[0].executed_sql
    duck_rows, pg_rows = _rows(duck), _rows(pg)
    assert duck_rows.keys() == pg_rows.keys()
    for key, rows in duck_rows.items():
        assert pg_rows[key] == rows, key
    for a, b in zip(duck.sections[:5], pg.sections[:5], strict=True):
        assert [(n.key, _same(n.value)) for n in a.numbers] == [
            (n.key, _same(n.value)) for n in b.numbers
        ]
    assert sum(len(rows) for rows in duck_rows.values()) > 100
