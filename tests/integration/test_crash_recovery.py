"""kill -9 at any moment (extract, between normalize and load, inside load), then rerun: the
dataset equals the truth, with no lost rows, no duplicates and no cursor past unloaded data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline import make_pipeline
from pixlee.simulator import Simulator
from tests.support.dataset import assert_rows_match, rows

PHOTOS = "/api/v2/albums/{album_id}/photos"

CHILD = """
import os, signal, sys
import dlt
from pixlee import pixlee_source
from pixlee.pipeline import make_pipeline, run_source

mode, db, pipes, base_url, key = sys.argv[1:6]
pipeline = make_pipeline(destination=dlt.destinations.duckdb(db), pipeline_name="crash",
                         pipelines_dir=pipes, progress="log")
source = pixlee_source(api_key=key, base_url=base_url, backoff_seconds=0.01)
if mode == "after_normalize":
    pipeline.extract(source, loader_file_format="parquet")
    pipeline.normalize()
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "inside_load":
    from dlt.load.load import Load
    def die(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    Load.complete_package = die
run_source(pipeline, source)
print("done")
"""


def _child(tmp_path: Path, sim: Simulator, mode: str) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    args = [
        sys.executable, str(script), mode, str(tmp_path / "crash.duckdb"),
        str(tmp_path / "pipelines"), sim.base_url, sim.config.api_key,
    ]  # fmt: skip
    return subprocess.Popen(
        args, cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _pipeline(tmp_path: Path) -> Pipeline:
    return make_pipeline(
        destination=dlt.destinations.duckdb(str(tmp_path / "crash.duckdb")),
        pipeline_name="crash",
        pipelines_dir=str(tmp_path / "pipelines"),
        progress="log",
    )


def _assert_truth(tmp_path: Path, sim: Simulator) -> None:
    pipeline = _pipeline(tmp_path)
    loaded = rows(pipeline, "media")
    keys = [r["album_photo_id"] for r in loaded]
    assert len(keys) == len(set(keys))
    current = [r for r in loaded if r["removed_at"] is None]
    columns = set(pipeline.default_schema.get_table_columns("media"))
    assert_rows_match(sim.truth_media(), current, "album_photo_id", columns)
    tags = len(rows(pipeline, "media__products"))
    assert tags == sum(len(i["products"]) for i in sim.truth_media())


@pytest.mark.parametrize("mode", ["during_extract", "after_normalize", "inside_load"])
def test_kill_9_then_rerun_equals_truth(tmp_path: Path, sim: Simulator, mode: str) -> None:
    if mode == "during_extract":
        sim.set_faults(latency_ms=40)
        child = _child(tmp_path, sim, "run")
        deadline = time.monotonic() + 60
        while sim.stats.count(route=PHOTOS) < 4 and time.monotonic() < deadline:
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        sim.set_faults(latency_ms=0)
    else:
        child = _child(tmp_path, sim, mode)
        child.wait(timeout=120)
        assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""

    # new content arrives before the rerun: the cursor must not have skipped it
    album = next(a["id"] for a in sim.truth_albums() if a["album_type"] == "standard")
    sim.world.add_media(album, count=3)
    rerun = _child(tmp_path, sim, "run")
    out, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, err
    _assert_truth(tmp_path, sim)

    # and the run after that is incremental again: one page per album
    sim.world.add_media(album, count=2)
    sim.stats.reset()
    again = _child(tmp_path, sim, "run")
    out, err = again.communicate(timeout=180)
    assert again.returncode == 0, err
    assert sim.stats.count(route=PHOTOS) == len(sim.truth_albums())
    _assert_truth(tmp_path, sim)
