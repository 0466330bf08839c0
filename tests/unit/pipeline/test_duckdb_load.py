"""A local DuckDB file stays open around the load step, and only there.

The end-to-end tests (exact tables against the simulator) all load through `run_source`, so
they load this way; these pin what `duckdb_held_open` itself promises: which destinations it
applies to, that dlt's pipeline is left as it is (no method replaced), and that the file is let
go afterwards, also when a load fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline import exactly_once
from pixlee.pipeline.duckdb_load import LOAD_WORKERS, duckdb_held_open, local_duckdb_file
from pixlee.pipeline.steps import load


def _pipeline(tmp_path: Path, destination: Any, name: str = "held") -> Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        destination=destination,
        dataset_name="data",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def _opens_in_another_process(database: Path) -> bool:
    code = f"import duckdb; duckdb.connect({str(database)!r}).close()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_applies_to_duckdb_files_that_dlt_opens_only(tmp_path: Path) -> None:
    database = tmp_path / "x.duckdb"
    for factory in (dlt.destinations.duckdb, exactly_once.duckdb):
        pipeline = _pipeline(tmp_path, factory(str(database)))
        assert local_duckdb_file(pipeline) == (str(database), {})
    external = duckdb.connect(str(tmp_path / "external.duckdb"))
    try:
        pipeline = _pipeline(tmp_path, dlt.destinations.duckdb(external), "external")
        assert local_duckdb_file(pipeline) is None  # the caller's connection: left alone
    finally:
        external.close()
    # no credentials at all: dlt reports that in its own step, not here
    assert local_duckdb_file(_pipeline(tmp_path, "postgres", "pg")) is None


def test_the_file_is_held_inside_the_block_only(tmp_path: Path) -> None:
    database = tmp_path / "x.duckdb"
    pipeline = _pipeline(tmp_path, dlt.destinations.duckdb(str(database)))
    with duckdb_held_open(pipeline) as held:
        assert held
        assert not _opens_in_another_process(database)  # DuckDB locks a file open for writes
    assert _opens_in_another_process(database)
    with duckdb_held_open(_pipeline(tmp_path, "postgres", "pg")) as held:
        assert not held


def test_loads_with_a_few_workers_unless_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = _pipeline(tmp_path, dlt.destinations.duckdb(str(tmp_path / "x.duckdb")))
    seen: list[Any] = []
    monkeypatch.setattr(Pipeline, "load", lambda self, **kw: seen.append(kw.get("workers")))
    load(pipeline)
    monkeypatch.setenv("LOAD__WORKERS", "7")
    load(pipeline)
    load(pipeline, workers=2)
    assert seen == [LOAD_WORKERS, None, 2]  # None: dlt reads load.workers from config itself
    assert "load" not in vars(pipeline)  # nothing replaced on the pipeline


def test_rows_load_and_the_file_is_let_go(tmp_path: Path) -> None:
    database = tmp_path / "x.duckdb"
    pipeline = _pipeline(tmp_path, dlt.destinations.duckdb(str(database)))
    pipeline.extract([{"id": n} for n in range(3)], table_name="numbers")
    pipeline.normalize()
    load(pipeline)
    with pipeline.sql_client() as client:
        assert client.execute_sql("SELECT id FROM numbers ORDER BY id") == [(0,), (1,), (2,)]
    assert _opens_in_another_process(database)


def test_a_failed_load_lets_the_file_go_too(tmp_path: Path) -> None:
    database = tmp_path / "x.duckdb"
    pipeline = _pipeline(tmp_path, dlt.destinations.duckdb(str(database)))
    # the table already exists with an INTEGER `id` (and without dlt's columns): the load fails
    # (DuckDB 1.x refuses to add dlt's NOT NULL columns, 2.x refuses text in `id`)
    setup = duckdb.connect(str(database))
    setup.execute("CREATE SCHEMA data; CREATE TABLE data.numbers (id INTEGER)")
    setup.close()
    pipeline.extract([{"id": "not a number"}], table_name="numbers")
    pipeline.normalize()
    with pytest.raises(PipelineStepFailed, match="step=load"):
        load(pipeline)
    assert _opens_in_another_process(database)
