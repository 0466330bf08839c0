"""The API key appears nowhere: logs, exceptions, trace, working folder, packages, the DB."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from pixlee import pixlee_source
from pixlee.pipeline import run_source
from pixlee.simulator import Simulator, SimulatorConfig

SECRET = "sEcReT-kEy-0123456789"


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            hits.append(path)
    return hits


def test_api_key_never_leaks(
    tmp_path: Path, pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    config = SimulatorConfig(
        albums=2, media_per_album=120, products=3, categories=1, seed=4, api_key=SECRET
    )
    with Simulator(config) as sim:
        sim.set_faults(fault_rate=0.2, fault_kinds=("500", "reset", "502"), seed=9)
        with caplog.at_level(logging.DEBUG):
            source = pixlee_source(
                api_key=SECRET,
                base_url=sim.base_url,
                skus=sim.skus()[:1],
                backoff_seconds=0.01,
                max_attempts=12,
            )
            info = run_source(pipeline, source)
        assert any(r.fault for r in sim.stats.requests)  # retries happened, so URLs were logged
        assert any("api_key=***" in r.getMessage() for r in caplog.records)

        # a failing run: the error and the trace
        sim.set_faults(fault_rate=1.0, fault_kinds=("503",), seed=1)
        with caplog.at_level(logging.DEBUG), pytest.raises(PipelineStepFailed) as failure:
            run_source(
                pipeline,
                pixlee_source(
                    api_key=SECRET, base_url=sim.base_url, backoff_seconds=0.01, max_attempts=2
                ),
            )

    assert SECRET not in caplog.text
    for record in caplog.records:
        assert SECRET not in record.getMessage()
    assert SECRET not in str(info)
    assert SECRET not in str(failure.value)
    assert SECRET not in repr(failure.value)
    trace = pipeline.last_trace
    assert trace is not None
    assert SECRET not in str(trace) and SECRET not in repr(trace.asdict())
    assert _files_containing(tmp_path, SECRET.encode()) == []


def test_api_key_never_leaks_when_the_connection_is_refused(
    tmp_path: Path, pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    """urllib3's message for a refused connection quotes the whole URL, key included; refused
    before any answer, the run says at once that base_url is wrong (without the URL's query)."""
    with Simulator(SimulatorConfig(albums=1, media_per_album=1, seed=4, api_key=SECRET)) as sim:
        base_url = sim.base_url  # closed on exit: every connection is refused
    with caplog.at_level(logging.DEBUG), pytest.raises(PipelineStepFailed) as failure:
        run_source(
            pipeline,
            pixlee_source(api_key=SECRET, base_url=base_url, backoff_seconds=0.01, max_attempts=2),
        )
    assert f"cannot reach Pixlee at {base_url} (connection refused)" in str(failure.value)
    assert SECRET not in caplog.text
    assert SECRET not in str(failure.value) and SECRET not in repr(failure.value)
    trace = pipeline.last_trace
    assert trace is not None
    assert SECRET not in str(trace) and SECRET not in repr(trace.asdict())
    assert _files_containing(tmp_path, SECRET.encode()) == []
