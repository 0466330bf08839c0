"""Shared fixtures: a simulated Pixlee on 127.0.0.1 and isolated dlt pipelines."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline import make_pipeline
from pixlee.simulator import Simulator, SimulatorConfig

# fixtures shared by every test folder (`chromium`: Debian's Chromium driven by playwright)
pytest_plugins = ["tests.support.browser"]

SMALL_ACCOUNT = {"albums": 3, "media_per_album": 130, "products": 6, "categories": 2, "seed": 11}


@pytest.fixture(autouse=True)
def _isolated_dlt_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's ~/.dlt or a .dlt/ in the repo, nor another test's env."""
    for name in list(os.environ):
        if name.startswith(("SOURCES__", "DESTINATION__", "RUNTIME__", "PIXLEE_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def shared_sim() -> Iterator[Simulator]:
    """A read-only account shared by tests that do not mutate it or change its faults."""
    with Simulator(SimulatorConfig(**SMALL_ACCOUNT)) as sim:  # type: ignore[arg-type]
        yield sim


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    """A fresh account for tests that mutate the world, faults or limits."""
    with Simulator(SimulatorConfig(**SMALL_ACCOUNT)) as simulator:  # type: ignore[arg-type]
        yield simulator


@pytest.fixture()
def pipeline(tmp_path: Path) -> Pipeline:
    """A DuckDB pipeline whose working folder and database live in the test's tmp dir."""
    return make_pipeline(
        destination=dlt.destinations.duckdb(str(tmp_path / "pixlee.duckdb")),
        pipeline_name="pixlee_test",
        pipelines_dir=str(tmp_path / "pipelines"),
        progress="log",
    )
