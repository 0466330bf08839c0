"""kill -9 at any point of extract, normalize or load, then one rerun: the dataset equals the
truth, with no row twice in any table (child tables included) and no cursor past unloaded data.

Kill points are seeded (`SEED`): dlt's progress updates within a step (`tests/support/
crash_child.py`), the moment right after a load job committed and before dlt recorded it (the
window in which a job that is not idempotent runs twice), right after a package's completion
committed, and moments on the wall clock. The first load starts from nothing; the merge load
starts from a copy of a loaded dataset, with new media in the account, and the killed run
scans in full (`reconcile="always"`) so that its package merges every row again.

The rerun is incremental and pages are small (`PER_PAGE`): it finishes the killed run's
package, then reads only each album's newest page, so rows the resumed package wrote twice are
not hidden by a merge of the same rows again (a full rerun would replace every media's child
rows and heal them).

`make test` runs 21 kills with the Postgres ones (each step's progress and the wall clock in a
first and a merge load, the commit-vs-record window of a child table's copy and of a merge job,
the package's completion, dlt's own jobs as the control; ~3 min on an idle 2-core machine).
`PIXLEE_CRASH_TRIALS=all` adds the other kinds of job (24), `PIXLEE_CRASH_TRIALS=lean` keeps 9
for working on this file.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline

from pixlee import pixlee_source
from pixlee.pipeline import exactly_once, make_pipeline, run_source
from pixlee.simulator import Simulator, SimulatorConfig
from tests.support.crash_child import run_child
from tests.support.dataset import rows
from tests.support.integrity import assert_no_row_twice, assert_truth

SEED = 20261201
# small enough that 16 kills and reruns stay within a couple of minutes; two albums, products
# (child tables), SKU albums (product_media) and a category
CRASH_ACCOUNT = {"albums": 2, "media_per_album": 60, "products": 4, "categories": 1, "seed": 11}
PER_PAGE = 20
EVERY_KILL_POINT = os.environ.get("PIXLEE_CRASH_TRIALS") != "lean"


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
        "per_page": PER_PAGE,
        **kill,
    }


def _killed(plan: dict[str, Any]) -> bool:
    """Run the child until it kills itself."""
    return run_child(plan)[0]


def _calibrated(plan: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """One uninterrupted run: the seconds it took in the child (a cold forkserver's imports
    are not part of it), dlt's progress updates per step, jobs committed."""
    killed, counts = run_child(plan)
    assert not killed and counts is not None
    return counts.pop("seconds"), counts


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
        per_page=PER_PAGE,
        backoff_seconds=0.01,
    )
    info = run_source(pipeline, source, normalize_workers=1)  # the child runs dlt's pool
    assert not info.has_failed_jobs
    return pipeline


def _add_media(sim: Simulator, trial: int) -> None:
    """New media since the loaded copy (the newest page: an incremental rerun reads it, also
    when the kill came before the full scan's package was saved)."""
    albums = [a["id"] for a in sim.truth_albums() if a["album_type"] == "standard"]
    sim.world.add_media(albums[trial % len(albums)], count=2)


def _kill_points(
    rng: random.Random, counts: dict[str, Any], lean: tuple[int, ...]
) -> list[dict[str, Any]]:
    """Seeded points in each step, drawn from what an uninterrupted first load did (dlt's
    progress updates per step, jobs committed; a full-scan merge does as much and
    more). `PIXLEE_CRASH_TRIALS=lean` keeps only the points at the `lean` positions."""
    points = [
        {"at": ["Extract", rng.randint(1, counts["Extract"])]},
        {"at": ["Normalize", rng.randint(0, counts["Normalize"])]},
        {"at": ["Normalize", rng.randint(1, counts["Normalize"])]},
        {"at": ["Load", rng.randint(1, counts["Load"])]},
        {"commit": rng.randint(1, counts["jobs"])},
        {"complete": True},
        {"wall": rng.uniform(0.3, 0.8)},  # of the run's seconds, on this machine, now
    ]
    return points if EVERY_KILL_POINT else [points[i] for i in lean]


def _killed_by_the_clock(
    plan: dict[str, Any], fraction: float, seconds: float, reset: Callable[[], None]
) -> bool:
    """Kill the run at `fraction` of its seconds. The machine's speed changes under other
    work (a run calibrated on a busy machine ends before its kill on an idle one): a run
    that ended is timed, and the place reset for another try at that run's seconds (3 tries)."""
    for _ in range(3):  # tries
        reset()
        killed, counts = run_child(plan, fraction * seconds)
        if killed and counts is None:
            return True
        assert counts is not None  # the run ended (a kill during the exit landed too late)
        seconds = counts["seconds"]
    return False


def _trial(
    place: Place,
    sim: Simulator,
    kill: dict[str, Any],
    reconcile: str,
    seconds: float,
    reset: Callable[[], None],
) -> str | None:
    """One kill, then one (incremental) rerun in this process: the truth, no row twice.
    Returns the kill point if the run ended before it (a kill that did not land)."""
    fraction = kill.pop("wall", None)
    plan = _plan(place, sim, reconcile=reconcile, **kill)
    if fraction is None:
        reset()
        killed = _killed(plan)
    else:
        killed = _killed_by_the_clock(plan, fraction, seconds, reset)
    pipeline = _rerun(place, sim)
    assert_truth(pipeline, sim, sim.skus()[:2])
    return None if killed else f"{reconcile}: {kill or {'wall': fraction}}"


@pytest.fixture()
def crash_sim() -> Iterator[Simulator]:
    with Simulator(SimulatorConfig(**CRASH_ACCOUNT)) as simulator:  # type: ignore[arg-type]
        yield simulator


@pytest.mark.timeout(900)  # ~30 s on an idle 2-core machine; a loaded one takes longer
def test_kills_in_a_first_and_a_merge_load_then_one_rerun_equals_truth(
    tmp_path: Path, crash_sim: Simulator
) -> None:
    """First load: each trial starts from nothing. Merge load: each trial starts from the same
    loaded dataset, with new media in the account since, and the killed run scans every album
    in full (`reconcile="always"`): its package merges every row again."""
    sim, rng = crash_sim, random.Random(SEED)
    place, loaded = Place(tmp_path / "run"), Place(tmp_path / "loaded")
    seconds, counts = _calibrated(_plan(loaded, sim))  # an uninterrupted first load
    missed: list[str | None] = []
    trials = 0
    for kill in _kill_points(rng, counts, lean=(0, 4)):
        reset = partial(shutil.rmtree, place.root, ignore_errors=True)
        missed.append(_trial(place, sim, kill, "1d", seconds, reset))
        trials += 1
    for trial, kill in enumerate(_kill_points(rng, counts, lean=(2, 5))):
        _add_media(sim, trial)
        missed.append(_trial(place, sim, kill, "always", seconds, partial(loaded.copy_to, place)))
        trials += 1
    missed = [point for point in missed if point]
    assert not missed, f"{len(missed)} of {trials} seeded kills did not land: {missed}"
    # new content arrives, and the run after is incremental: one page per album
    album = next(a["id"] for a in sim.truth_albums() if a["album_type"] == "standard")
    sim.world.add_media(album, count=2)
    sim.stats.reset()
    assert_truth(_rerun(place, sim), sim, sim.skus()[:2])
    assert sim.stats.count(route=PHOTOS) == len(sim.truth_albums())


# a child table's copy and a merge job in `make test`; every kind of job with
# PIXLEE_CRASH_TRIALS=all (the root's copy, the state row, another merge)
COMMIT_WINDOW_TABLES = {
    "lean": ["media__products"],
    "all": ["media", "media__products", "_dlt_pipeline_state", "media.sql", "statistics.sql"],
}.get(os.environ.get("PIXLEE_CRASH_TRIALS", ""), ["media__products", "media.sql"])


@pytest.mark.parametrize("table", COMMIT_WINDOW_TABLES)
def test_a_job_killed_between_commit_and_record_loads_once(
    tmp_path: Path, crash_sim: Simulator, table: str
) -> None:
    """The root and a child copy of a first load (straight into the final tables: see
    `exactly_once`), the state row appended to its final table, and two merge jobs of a load
    into loaded tables (a full scan, new media since): each killed right after its commit,
    then one rerun."""
    sim, place = crash_sim, Place(tmp_path / "run")
    reconcile = "1d"
    if table.endswith(".sql"):  # a first load merges no media: load once, then merge into it
        _rerun(place, sim)
        _add_media(sim, 0)
        reconcile = "always"
    assert _killed(_plan(place, sim, after_table=table, reconcile=reconcile))
    assert_truth(_rerun(place, sim), sim, sim.skus()[:2])


def test_dlt_alone_loads_such_a_job_twice(tmp_path: Path, crash_sim: Simulator) -> None:
    """The control: the same kill with dlt's own DuckDB jobs, and dlt finishing the package,
    leaves rows twice (child rows, or a root table's whose staging copy ran again): the kill
    lands in the window, and the exactly-once jobs are what keeps the data right."""
    sim, place = crash_sim, Place(tmp_path / "run")
    assert _killed(_plan(place, sim, after_table="media__products", destination="dlt"))
    pipeline = _pipeline(place, _DltDuckDb)
    pipeline.load()
    with pytest.raises(AssertionError, match="a row twice"):
        assert_no_row_twice(pipeline)


def test_a_first_load_dropped_after_its_root_copied_is_healed_by_the_next_run(
    tmp_path: Path, crash_sim: Simulator
) -> None:
    """A first load copies straight into the final tables, one job after another: killed
    after `media`'s copy and its package dropped (`dlt pipeline ... drop-pending-packages`),
    the rows its jobs committed stay, of a load never completed. The next run reads those
    media again (no cursor moved past them) and merges: the truth, no row twice."""
    sim, place = crash_sim, Place(tmp_path / "run")
    assert _killed(_plan(place, sim, after_table="media"))
    dropped = _pipeline(place)
    (load_id,) = dropped.list_normalized_load_packages()
    dropped.drop_pending_packages()
    assert rows(dropped, "media")  # the copy into the final table committed
    # the dropped package's job records stay (harmless: its load id never comes again)
    assert_truth(_rerun(place, sim), sim, sim.skus()[:2], dropped_loads={load_id})
