"""A local DuckDB file stays open for the whole load step, and only for it.

The end-to-end tests (exact tables against the simulator) all load through `run_source`, so
they load this way; these tests pin what the wrapper itself promises: which destinations it
applies to, the load workers it picks, and that the file is let go afterwards, also when a
load fails.
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

import pixlee.pipeline.duckdb_load
from pixlee.pipeline import apply_throughput_defaults
from pixlee.pipeline.duckdb_load import (
    CHECKPOINT_MEMORY_LIMIT,
    LOAD_WORKERS,
    duckdb_open_while_loading,
    local_duckdb_file,
)


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
    assert local_duckdb_file(_pipeline(tmp_path, dlt.destinations.duckdb(str(database)))) == (
        str(database),
        {},
    )
    external = duckdb.connect(str(tmp_path / "external.duckdb"))
    try:
        pipeline = _pipeline(tmp_path, dlt.destinations.duckdb(external), "external")
        assert local_duckdb_file(pipeline) is None  # the caller's connection: left alone
    finally:
        external.close()
    # no credentials at all: dlt reports that in its own step, not here
    assert local_duckdb_file(_pipeline(tmp_path, "postgres", "pg")) is None


def test_loads_with_a_few_workers_unless_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = _pipeline(tmp_path, dlt.destinations.duckdb(str(tmp_path / "x.duckdb")))
    seen: list[Any] = []
    monkeypatch.setattr(Pipeline, "load", lambda self, *a, **kw: seen.append(kw.get("workers")))
    with duckdb_open_while_loading(pipeline):
        pipeline.load()
        monkeypatch.setenv("LOAD__WORKERS", "7")
        pipeline.load()
    assert seen == [LOAD_WORKERS, None]  # None: dlt reads load.workers from config itself
    assert "load" not in vars(pipeline)  # the class's own method again


def test_rows_load_and_the_file_is_let_go(tmp_path: Path) -> None:
    database = tmp_path / "x.duckdb"
    pipeline = _pipeline(tmp_path, dlt.destinations.duckdb(str(database)))
    with duckdb_open_while_loading(pipeline):
        pipeline.run([{"id": n} for n in range(3)], table_name="numbers")
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
    failing = pytest.raises(PipelineStepFailed, match="step=load")
    with failing, duckdb_open_while_loading(pipeline):
        pipeline.run([{"id": "not a number"}], table_name="numbers")
    assert "load" not in vars(pipeline)
    assert _opens_in_another_process(database)


def test_the_closing_checkpoint_runs_under_a_lower_cap_unless_the_user_set_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lowered: list[str] = []
    real = pixlee.pipeline.duckdb_load._lower_memory_limit

    def spy(connection: Any, limit: str) -> None:
        real(connection, limit)
        (setting,) = connection.execute("SELECT current_setting('memory_limit')").fetchone()
        lowered.append(setting)

    monkeypatch.setattr(pixlee.pipeline.duckdb_load, "_lower_memory_limit", spy)
    apply_throughput_defaults()  # the project's cap for the load
    pipeline = _pipeline(tmp_path, dlt.destinations.duckdb(str(tmp_path / "x.duckdb")))
    with duckdb_open_while_loading(pipeline):
        pipeline.run([{"id": n} for n in range(3)], table_name="numbers")
    assert CHECKPOINT_MEMORY_LIMIT == "128MB"
    assert lowered == ["122.0 MiB"]  # as DuckDB reports 128 MB
    with pipeline.sql_client() as client:
        assert client.execute_sql("SELECT id FROM numbers ORDER BY id") == [(0,), (1,), (2,)]

    lowered.clear()  # a cap of the user's own is theirs for the checkpoint too
    monkeypatch.setenv(
        "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", '{"memory_limit": "300MB"}'
    )
    other = _pipeline(tmp_path, dlt.destinations.duckdb(str(tmp_path / "y.duckdb")), "other")
    with duckdb_open_while_loading(other):
        other.run([{"id": 1}], table_name="numbers")
    assert lowered == []
