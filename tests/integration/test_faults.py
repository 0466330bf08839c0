"""Faults survived: the dataset equals the truth, or the run fails loudly, nothing half-loaded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from pixlee import PixleeRetriesExhausted, pixlee_source
from pixlee.pipeline import run_source
from pixlee.simulator import FakeClock, Simulator, SimulatorConfig
from tests.conftest import SMALL_ACCOUNT
from tests.support.dataset import rows


@contextmanager
def _running_clock(clock: FakeClock, step: float = 1.0, every: float = 0.02) -> Iterator[None]:
    """Simulated time runs ~50x faster than real time, so a 60-s window frees within ~1 s."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            clock.advance(step)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _source(sim: Simulator, **kwargs: Any) -> Any:
    return pixlee_source(
        api_key=sim.config.api_key, base_url=sim.base_url, backoff_seconds=0.01, **kwargs
    )


@pytest.mark.parametrize("kind", ["500", "502", "503", "504", "reset", "truncate", "slow"])
def test_each_fault_kind_is_survived(sim: Simulator, pipeline: Pipeline, kind: str) -> None:
    sim.set_faults(fault_rate=0.3, fault_kinds=(kind,), seed=3)
    run_source(pipeline, _source(sim, max_attempts=12).with_resources("albums", "media"))
    faulted = [r for r in sim.stats.requests if r.fault == kind]
    assert faulted, f"no {kind} fault was injected"
    loaded = sorted(r["album_photo_id"] for r in rows(pipeline, "media"))
    assert loaded == sorted(i["album_photo_id"] for i in sim.truth_media())
    assert len(rows(pipeline, "albums")) == len(sim.truth_albums())


@pytest.mark.parametrize("retry_after", [True, False])
def test_mixed_faults_and_429_bursts_equal_the_truth(pipeline: Pipeline, retry_after: bool) -> None:
    """A tight per-minute budget on a fast clock: 429 bursts with and without Retry-After."""
    clock = FakeClock()
    config = SimulatorConfig(
        **SMALL_ACCOUNT,
        clock=clock,
        rate_limit=8,
        retry_after=retry_after,  # type: ignore[arg-type]
        fault_rate=0.05,
    )
    with Simulator(config) as sim, _running_clock(clock):
        source = _source(sim, skus=sim.skus()[:2], max_attempts=40, max_retry_after_seconds=0.2)
        run_source(pipeline, source)
        assert sim.stats.rate_limited > 0
        loaded = sorted(r["album_photo_id"] for r in rows(pipeline, "media"))
        assert loaded == sorted(i["album_photo_id"] for i in sim.truth_media())
        assert len(rows(pipeline, "product_media")) == sum(
            len(sim.truth_sku_media(sku)) for sku in sim.skus()[:2]
        )


def test_api_down_past_the_budget_fails_loudly_and_loads_nothing(
    sim: Simulator, pipeline: Pipeline
) -> None:
    sim.set_faults(fault_rate=1.0, fault_kinds=("503",), seed=1)
    with pytest.raises(PipelineStepFailed) as error:
        run_source(pipeline, _source(sim, max_attempts=3))
    assert error.value.step == "extract"
    cause = error.value.__context__ or error.value.__cause__
    chain = []
    while cause is not None:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    assert any(isinstance(c, PixleeRetriesExhausted) for c in chain) or (
        "still failing after 3 attempts" in str(error.value)
    )
    # nothing was loaded: no schema was even committed, let alone a media row
    assert pipeline.default_schema_name is None
    assert pipeline.list_completed_load_packages() == []

    # the next run, with the API back, recovers completely
    sim.set_faults(fault_rate=0.0)
    run_source(pipeline, _source(sim))
    loaded = sorted(r["album_photo_id"] for r in rows(pipeline, "media"))
    assert loaded == sorted(i["album_photo_id"] for i in sim.truth_media())


def test_album_failing_midway_fails_the_run_without_partial_statistics(
    sim: Simulator, pipeline: Pipeline
) -> None:
    run_source(pipeline, _source(sim))
    before = rows(pipeline, "statistics")
    sim.set_faults(fault_rate=1.0, fault_kinds=("500",), seed=2)
    with pytest.raises(PipelineStepFailed):
        run_source(pipeline, _source(sim, max_attempts=2))
    assert rows(pipeline, "statistics") == before
