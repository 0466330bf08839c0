"""Removal marking never depends on the DuckDB file being unopened: another process reading the
file during extraction changes nothing, and one holding it for writing gets a one-line error
naming it (DuckDB's message carries its PID)."""

from __future__ import annotations

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

from pixlee import pixlee_source
from pixlee.pipeline import make_pipeline, run_source
from pixlee.simulator import Simulator
from pixlee.source import loaded_rows
from pixlee.source.loaded_rows import PixleeDestinationLocked
from tests.support.dataset import rows

HOLDER = """
import sys, duckdb
connection = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "read")
connection.execute("SELECT 1").fetchall()
print("holding", flush=True)
sys.stdin.readline()  # until the test says so
connection.close()
"""


@contextmanager
def _held(database: Path, mode: str) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(database), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        yield holder
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)


def _pipeline(tmp_path: Path) -> tuple[Pipeline, Path]:
    database = tmp_path / "locked.duckdb"
    pipeline = make_pipeline(
        destination=dlt.destinations.duckdb(str(database)),
        pipeline_name="locked",
        pipelines_dir=str(tmp_path / "pipelines"),
        progress="log",
    )
    return pipeline, database


def _source(sim: Simulator, album: int) -> Any:
    return pixlee_source(
        api_key=sim.config.api_key, base_url=sim.base_url, album_ids=[album], reconcile="always"
    ).with_resources("media")


def test_a_reader_in_another_process_does_not_stop_removal_marking(
    sim: Simulator, tmp_path: Path
) -> None:
    pipeline, database = _pipeline(tmp_path)
    album = next(a["id"] for a in sim.truth_albums() if a["album_type"] == "standard")
    run_source(pipeline, _source(sim, album))
    victim = sim.truth_media([album])[-1]["album_photo_id"]
    sim.world.remove_media(victim)
    with _held(database, "read"):  # e.g. a notebook peeking at the file during extraction
        pipeline.extract(_source(sim, album), loader_file_format="parquet")
    pipeline.normalize()
    pipeline.load()
    assert {r["album_photo_id"] for r in rows(pipeline, "media") if r["removed_at"]} == {victim}


def test_a_writer_in_another_process_fails_the_run_naming_it(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline, database = _pipeline(tmp_path)
    album = next(a["id"] for a in sim.truth_albums() if a["album_type"] == "standard")
    run_source(pipeline, _source(sim, album))
    monkeypatch.setattr(loaded_rows, "LOCK_RETRY_SECONDS", (0.0, 0.0))  # retried, not waited
    with _held(database, "write") as holder, pytest.raises(PipelineStepFailed) as failed:
        pipeline.extract(_source(sim, album), loader_file_format="parquet")
    cause: BaseException | None = failed.value
    while cause is not None and not isinstance(cause, PixleeDestinationLocked):
        cause = cause.__cause__ or cause.__context__
    assert isinstance(cause, PixleeDestinationLocked)
    message = str(cause)
    assert "\n" not in message
    assert message.startswith(f"{database} is locked by another process")
    assert f"PID {holder.pid}" in message
    assert message.endswith("close that process (or wait for it to finish) and run again")
