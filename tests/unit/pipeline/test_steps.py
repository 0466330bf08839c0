"""`run_source`: dlt's explicit steps, a poisoned package named in one line, nothing global.

The tables it loads are checked against the simulator in tests/integration; these pin how it
runs: the DuckDB file is free during extraction and held during the load, a pending package
that can never normalize stops the run with the command that drops it, and neither the
pipeline nor the library changes anything process-wide unless the caller opts in.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

import pixlee.pipeline.steps as steps
from pixlee.pipeline import PendingPackageError, make_pipeline, run_source
from pixlee.source.arrow import dlt_compat
from tests.support.dataset import rows

THROUGHPUT_KEYS = (
    "data_writer.disable_compression",
    "data_writer.file_max_items",
    "normalize.workers",
    "load.workers",
    "load.truncate_staging_dataset",
    "destination.duckdb.credentials.global_config",
)


def _pipeline(tmp_path: Path, name: str = "steps") -> Pipeline:
    return make_pipeline(
        destination=dlt.destinations.duckdb(str(tmp_path / "x.duckdb")),
        pipeline_name=name,
        pipelines_dir=str(tmp_path / "pipelines"),
        progress="log",
    )


def _opens_in_another_process(database: Path) -> bool:
    code = f"import duckdb; duckdb.connect({str(database)!r}).close()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_the_database_is_free_while_extracting_and_held_while_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = _pipeline(tmp_path)
    database = tmp_path / "x.duckdb"
    events: list[str] = []
    held_open = steps.duckdb_held_open

    @contextmanager
    def spy(pipeline: Pipeline) -> Iterator[bool]:
        with held_open(pipeline) as held:
            events.append(f"held {held}")
            yield held
        events.append("let go")

    monkeypatch.setattr(steps, "duckdb_held_open", spy)

    @dlt.resource(name="numbers", primary_key="id", write_disposition="merge")
    def numbers() -> Iterator[dict[str, int]]:
        events.append(f"extracting, file free: {_opens_in_another_process(database)}")
        yield from ({"id": n} for n in range(3))

    run_source(pipeline, numbers())  # creates the file
    events.clear()
    info = run_source(pipeline, numbers())
    assert not info.has_failed_jobs
    assert events == ["extracting, file free: True", "held True", "let go"]
    assert "load" not in vars(pipeline) and "extract" not in vars(pipeline)
    assert [r["id"] for r in rows(pipeline, "numbers", "id")] == [0, 1, 2]


def test_around_load_wraps_each_load_step_outermost_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pending package's load and the new one, each inside every `around_load`, in order,
    around the DuckDB hold; the pipeline object is never changed."""
    pipeline = _pipeline(tmp_path)
    events: list[str] = []
    held_open = steps.duckdb_held_open

    @contextmanager
    def spy(pipeline: Pipeline) -> Iterator[bool]:
        with held_open(pipeline) as held:
            events.append("held")
            yield held

    monkeypatch.setattr(steps, "duckdb_held_open", spy)

    def around(name: str) -> steps.AroundLoad:
        def wrap(wrapped: Pipeline, load_step: steps.LoadStep) -> Any:
            assert wrapped is pipeline
            events.append(f"{name} in")
            info = load_step()
            events.append(f"{name} out")
            return info

        return wrap

    resource = dlt.resource([{"id": 1}], name="numbers", primary_key="id")
    run_source(pipeline, resource)  # the dataset exists (dlt wipes a pipeline that has none)
    pipeline.extract(resource)  # a package an interrupted run left
    pipeline.normalize()
    events.clear()
    info = run_source(pipeline, resource, around_load=(around("outer"), around("inner")))
    assert not info.has_failed_jobs and not pipeline.has_pending_data
    one_load = ["outer in", "inner in", "held", "inner out", "outer out"]
    assert events == one_load + one_load, events  # the pending package, then the new one
    assert "load" not in vars(pipeline)


def test_a_package_that_can_never_normalize_is_named_with_its_fix(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)

    @dlt.resource(name="numbers", schema_contract={"data_type": "freeze"})
    def numbers(value: Any) -> Iterator[dict[str, Any]]:
        yield {"id": value}

    run_source(pipeline, numbers(1))
    with pytest.raises(PipelineStepFailed, match="step=normalize"):
        run_source(pipeline, numbers("not a number"))  # extracted, never normalizes

    with pytest.raises(PendingPackageError) as raised:
        run_source(pipeline, numbers(2))  # a healthy run after it
    message = str(raised.value)
    assert "\n" not in message
    assert "cannot be normalized" in message and "nothing new was read" in message
    assert f"dlt pipeline --pipelines-dir {tmp_path / 'pipelines'} steps abort-packages" in message

    pipeline.abort_packages()  # what the command does
    run_source(pipeline, numbers(2))
    assert sorted(r["id"] for r in rows(pipeline, "numbers")) == [1, 2]


def _global_settings() -> dict[str, Any]:
    return {
        "gc": gc.get_threshold(),
        "dlt filters": list(logging.getLogger("dlt").filters),
        "root filters": list(logging.getLogger().filters),
        "config": {key: dlt.config.get(key) for key in THROUGHPUT_KEYS},
        "environment": dict(os.environ),
    }


def test_make_pipeline_and_run_source_change_nothing_global(tmp_path: Path) -> None:
    gc_during_extraction: list[tuple[int, int, int]] = []

    @dlt.resource(name="numbers")
    def numbers() -> Iterator[dict[str, int]]:
        gc_during_extraction.append(gc.get_threshold())
        yield {"id": 1}

    before = _global_settings()
    run_source(_pipeline(tmp_path), numbers())
    assert _global_settings() == before
    assert gc_during_extraction == [before["gc"]]

    # tuned: fewer GC passes while extracting only
    run_source(_pipeline(tmp_path, "tuned"), numbers(), tuned=True)
    assert gc_during_extraction[-1][0] == 100_000
    assert _global_settings() == before


def test_importing_pixlee_changes_nothing_global() -> None:
    code = """
import gc, json, logging
import dlt, dlt.extract.extract as extract
def settings():
    return {
        "gc": gc.get_threshold(),
        "filters": [len(logging.getLogger(n).filters) for n in ("dlt", "", "pixlee")],
        "attribution": extract.aggregate_job_metrics.__module__,
        "config": dlt.config.get("data_writer.file_max_items"),
    }
before = settings()
import pixlee, pixlee.pipeline, pixlee.source, pixlee.cli
from pixlee.source.arrow import dlt_compat
print(json.dumps([before, settings(), dlt_compat.installed()]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    before, after, installed = json.loads(done.stdout.strip().splitlines()[-1])
    assert after == before
    assert before["attribution"] == "dlt.common.metrics"
    assert installed is False


def test_the_dlt_fix_refuses_a_dlt_it_does_not_know() -> None:
    with pytest.raises(dlt_compat.UnsupportedDltVersion, match="use_arrow=False"):
        dlt_compat._checked_target("1.32.0")
    assert dlt_compat._checked_target(dlt.__version__) is not None


def test_a_plain_dlt_run_with_the_exactly_once_destination(
    tmp_path: Path, shared_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """What the README tells a user of plain `pipeline.run`: pass our DuckDB factory. The
    source loads every media, its jobs are recorded and cleared with the load, dlt's warning
    about JSON kept as text in Arrow is not shown, and no logging filter stays behind."""
    from pixlee import pixlee_source
    from pixlee.pipeline import exactly_once
    from pixlee.source.media_items import _ExpectedJsonHintWarning

    dlt_logger = logging.getLogger("dlt")
    pipeline = dlt.pipeline(
        "plain",
        destination=exactly_once.duckdb(str(tmp_path / "plain.duckdb")),
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    source = pixlee_source(api_key=shared_sim.config.api_key, base_url=shared_sim.base_url)
    level = dlt_logger.level
    dlt_logger.addHandler(caplog.handler)  # dlt's logger may not propagate to the root
    dlt_logger.setLevel(logging.INFO)
    try:
        pipeline.run(source)
    finally:
        dlt_logger.removeHandler(caplog.handler)
        dlt_logger.setLevel(level)
    assert len(rows(pipeline, "media")) == len(shared_sim.truth_media())
    assert rows(pipeline, exactly_once.JOBS_TABLE) == []  # cleared with the load's completion
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [w for w in warnings if "hints were different" in w], warnings
    # dlt did find the JSON columns' hints different (its per-column detail, at INFO, stays)
    assert any("when merging arrow schema on column" in r.getMessage() for r in caplog.records)
    assert not [f for f in dlt_logger.filters if isinstance(f, _ExpectedJsonHintWarning)]
