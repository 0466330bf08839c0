"""`--full-refresh` interrupted (kill -9) at any point: the next plain run ends with the whole
account loaded, never incremental on the old watermarks over half-dropped tables."""

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
pipeline = make_pipeline(destination=dlt.destinations.duckdb(db), pipeline_name="refresh",
                         pipelines_dir=pipes, progress="log")
source = pixlee_source(api_key=key, base_url=base_url, backoff_seconds=0.01)
if mode != "run":
    from dlt.load.load import Load
    def die(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    # after the package's tables were dropped: before any job, or after every job
    setattr(Load, "start_new_jobs" if mode == "after_drop" else "complete_package", die)
run_source(pipeline, source, full_refresh=mode != "run" or sys.argv[6:] == ["refresh"])
print("done")
"""


def _child(tmp_path: Path, sim: Simulator, mode: str, *extra: str) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    args = [
        sys.executable, str(script), mode, str(tmp_path / "refresh.duckdb"),
        str(tmp_path / "pipelines"), sim.base_url, sim.config.api_key, *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        args, cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _finish(child: subprocess.Popen[str]) -> None:
    _, err = child.communicate(timeout=240)
    assert child.returncode == 0, err


def _pipeline(tmp_path: Path) -> Pipeline:
    return make_pipeline(
        destination=dlt.destinations.duckdb(str(tmp_path / "refresh.duckdb")),
        pipeline_name="refresh",
        pipelines_dir=str(tmp_path / "pipelines"),
        progress="log",
    )


@pytest.mark.parametrize("mode", ["during_extract", "after_drop"])
def test_an_interrupted_refresh_is_completed_by_the_next_plain_run(
    tmp_path: Path, sim: Simulator, mode: str
) -> None:
    _finish(_child(tmp_path, sim, "run"))
    album = next(a["id"] for a in sim.truth_albums() if a["album_type"] == "standard")
    sim.world.add_media(album, count=3)
    if mode == "during_extract":
        sim.set_faults(latency_ms=40)
        sim.stats.reset()
        child = _child(tmp_path, sim, "run", "refresh")
        deadline = time.monotonic() + 60
        while sim.stats.count(route=PHOTOS) < 4 and time.monotonic() < deadline:
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        sim.set_faults(latency_ms=0)
    else:
        child = _child(tmp_path, sim, mode)
    child.wait(timeout=240)
    assert child.returncode == -signal.SIGKILL

    sim.world.add_media(album, count=2)
    _finish(_child(tmp_path, sim, "run"))  # a plain run, no refresh asked
    pipeline = _pipeline(tmp_path)
    loaded = rows(pipeline, "media")
    assert len({r["album_photo_id"] for r in loaded}) == len(loaded)
    columns = set(pipeline.default_schema.get_table_columns("media"))
    assert_rows_match(sim.truth_media(), loaded, "album_photo_id", columns)
    assert len(rows(pipeline, "media__products")) == sum(
        len(i["products"]) for i in sim.truth_media()
    )
