"""kill -9 at any point of extract, normalize or load, then one rerun: the dataset equals the
truth, with no row twice in any table (child tables included) and no cursor past unloaded data.

Kill points are seeded (`SEED`): dlt's progress updates within a step (`tests/support/
crash_child.py`), the moment right after a load job committed and before dlt recorded it (the
window in which a job that is not idempotent runs twice), right after a package's completion
committed, and moments on the wall clock. The first load starts from nothing; the merge load
starts from a copy of a loaded dataset, with edits and new media in the account, and a full
scan (`reconcile="always"`) so that every row is merged again.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline

import tests.support.crash_child as crash_child
from pixlee import pixlee_source
from pixlee.pipeline import exactly_once, make_pipeline, run_source
from pixlee.simulator import Simulator
from tests.support.integrity import assert_no_row_twice, assert_truth

SEED = 20261201


class _DltDuckDb(dlt.destinations.duckdb):
    """dlt's own DuckDB destination, past `make_pipeline`'s exactly-once upgrade (a subclass
    of dlt's factory is used as given)."""


PHOTOS = "/api/v2/albums/{album_id}/photos"


@dataclass
class Place:
    """Where a run keeps its database and pipeline folder."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / "crash.duckdb"

    @property
    def pipes(self) -> Path:
        return self.root / "pipelines"

    def copy_to(self, other: Place) -> None:
        shutil.rmtree(other.root, ignore_errors=True)
        shutil.copytree(self.root, other.root)


def _plan(place: Place, sim: Simulator, **kill: Any) -> dict[str, Any]:
    return {
        "db": str(place.db),
        "pipes": str(place.pipes),
        "base_url": sim.base_url,
        "key": sim.config.api_key,
        "skus": sim.skus()[:2],
        **kill,
    }


def _start(plan: dict[str, Any]) -> subprocess.Popen[str]:
    args = [sys.executable, crash_child.__file__, json.dumps(plan)]
    return subprocess.Popen(args, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _killed(plan: dict[str, Any], wall_seconds: float | None = None) -> bool:
    """Run the child until it kills itself (or the parent kills it after `wall_seconds`)."""
    child = _start(plan)
    if wall_seconds is not None:
        try:
            child.wait(timeout=wall_seconds)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
    _, err = child.communicate(timeout=180)
    assert child.returncode in (0, -signal.SIGKILL), err[-3000:]
    return child.returncode == -signal.SIGKILL


def _timed_full_run(plan: dict[str, Any]) -> float:
    started = time.monotonic()
    assert not _killed(plan)
    return time.monotonic() - started


def _pipeline(place: Place, factory: Any = exactly_once.duckdb) -> Pipeline:
    return make_pipeline(
        destination=factory(str(place.db)),
        pipeline_name="crash",
        pipelines_dir=str(place.pipes),
        progress="log",
    )


def _rerun(
    place: Place, sim: Simulator, reconcile: str = "1d", factory: Any = exactly_once.duckdb
) -> Pipeline:
    pipeline = _pipeline(place, factory)
    source = pixlee_source(
        api_key=sim.config.api_key,
        base_url=sim.base_url,
        skus=sim.skus()[:2],
        reconcile=reconcile,
        backoff_seconds=0.01,
    )
    info = run_source(pipeline, source)
    assert not info.has_failed_jobs
    return pipeline


def _change_the_account(sim: Simulator, rng: random.Random, trial: int) -> None:
    """Edits to media the dataset holds, and new media: the merge load has work on both."""
    media = sim.truth_media()
    for item in rng.sample(media, 3):
        sim.world.edit_media(item["album_photo_id"], title=f"edited in trial {trial}")
    album = next(a["id"] for a in sim.truth_albums() if a["album_type"] == "standard")
    sim.world.add_media(album, count=2)


def _kill_points(rng: random.Random, calibrated: float) -> list[dict[str, Any]]:
    """Seeded points in each step; dlt's progress updates per step for this account are ~34
    (extract), ~24 (normalize) and ~57 (load), its load jobs ~40 (copies and merges)."""
    return [
        {"at": ["Extract", rng.randint(1, 30)]},
        {"at": ["Normalize", rng.randint(0, 20)]},
        {"at": ["Normalize", rng.randint(1, 20)]},
        {"at": ["Load", rng.randint(1, 50)]},
        {"commit": rng.randint(1, 30)},
        {"commit": rng.randint(1, 30)},
        {"complete": True},
        {"wall": rng.uniform(0.3, 0.9) * calibrated},
    ]


def _trial(place: Place, sim: Simulator, kill: dict[str, Any], reconcile: str) -> bool:
    """One kill, then one rerun in this process: the truth, no row twice."""
    wall = kill.pop("wall", None)
    killed = _killed(_plan(place, sim, reconcile=reconcile, **kill), wall)
    pipeline = _rerun(place, sim, reconcile)
    assert_truth(pipeline, sim, sim.skus()[:2])
    return killed


def test_kill_9_at_seeded_points_then_one_rerun_equals_truth(
    tmp_path: Path, sim: Simulator
) -> None:
    rng = random.Random(SEED)
    place, loaded = Place(tmp_path / "run"), Place(tmp_path / "loaded")
    kills = 0

    # first loads: each trial starts from nothing
    first_load = _timed_full_run(_plan(Place(tmp_path / "calibration"), sim))
    for kill in _kill_points(rng, first_load):
        shutil.rmtree(place.root, ignore_errors=True)
        kills += _trial(place, sim, kill, "1d")
    # new content arrives, and the run after is incremental: one page per album
    album = next(a["id"] for a in sim.truth_albums() if a["album_type"] == "standard")
    sim.world.add_media(album, count=2)
    sim.stats.reset()
    assert_truth(_rerun(place, sim), sim, sim.skus()[:2])
    assert sim.stats.count(route=PHOTOS) == len(sim.truth_albums())

    # merge loads: each trial starts from the same loaded dataset, the account changed since
    assert not _killed(_plan(loaded, sim))
    calibration = Place(tmp_path / "merge_calibration")
    loaded.copy_to(calibration)
    merge_load = _timed_full_run(_plan(calibration, sim, reconcile="always"))
    for trial, kill in enumerate(_kill_points(rng, merge_load)):
        loaded.copy_to(place)
        _change_the_account(sim, rng, trial)
        kills += _trial(place, sim, kill, "always")
    assert kills >= 15, f"only {kills} of the seeded kills landed: the account changed?"


@pytest.mark.parametrize("commit", [1, 4, 9])
def test_a_job_killed_between_commit_and_record_loads_once(
    tmp_path: Path, sim: Simulator, commit: int
) -> None:
    place = Place(tmp_path / "run")
    assert _killed(_plan(place, sim, commit=commit))
    assert_truth(_rerun(place, sim), sim, sim.skus()[:2])


def test_dlt_alone_loads_such_a_job_twice(tmp_path: Path, sim: Simulator) -> None:
    """The control: the same kill with dlt's own DuckDB jobs leaves rows twice, so the kill
    above lands in the window and the exactly-once jobs are what keeps the data right."""
    place = Place(tmp_path / "run")
    assert _killed(_plan(place, sim, commit=2, destination="dlt"))
    pipeline = _rerun(place, sim, factory=_DltDuckDb)
    with pytest.raises(AssertionError, match="twice"):
        assert_no_row_twice(pipeline)
