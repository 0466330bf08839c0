"""A pipeline run that kill -9s itself at a chosen point (run as a script by the crash tests).

`python crash_child.py '<plan as JSON>'`, where the plan names the database, pipeline folder,
simulator and one kill point:
- `{"at": ["Normalize", 7]}`: at the 7th progress update of that dlt step (dlt's own progress
  collector calls, so the kill lands between two units of that step's work; 0 = as it starts);
- `{"commit": 3}`: right after the 3rd load job (copy or merge) committed its transaction and
  before dlt records it as done: the window in which a job that is not idempotent runs twice;
- `{"after_table": "media__products"}`: right after the copy job of that table committed,
  before dlt records it (`"after_table": "media.sql"`: its merge job);
- `{"complete": true}`: right after the package's completion committed (`_dlt_loads`);
- nothing: no kill (the parent may kill it at a moment of its own).
A run that ends writes its counts, from which the parent draws kill points: how many progress
updates each step made, how many jobs committed, and how many seconds the run took in the
child (without the fork: a cold forkserver does not stretch it).
`"destination": "dlt"` uses dlt's own DuckDB/Postgres client instead of the exactly-once one
(the control that shows the kill lands in the window).

Tests call `run_child(plan)`: the child is forked from a forkserver that imported dlt, pyarrow,
DuckDB and pixlee once (a fresh interpreter per kill spent ~2 s of CPU on imports alone), in a
session of its own so that its normalize workers die with it.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from dlt.common.destination.client import RunnableLoadJob
from dlt.common.runtime.collector import Collector
from dlt.destinations.impl.duckdb.duck import DuckDbClient
from dlt.destinations.impl.postgres.postgres import PostgresClient

from pixlee import pixlee_source
from pixlee.pipeline import exactly_once, make_pipeline, run_source
from pixlee.pipeline.exactly_once_postgres import PostgresExactlyOnceClient

_lock = threading.Lock()
_committed = 0


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillAtUpdate(Collector):
    """dlt's progress collector, killing the process at the n-th update of one step (n = 0:
    as the step starts). It also counts the updates of each step's first run."""

    def __init__(self, step: str = "", n: int = -1) -> None:
        self._target, self._n = step, n
        self._step, self._count = "", 0
        self._done: set[str] = set()
        self.counts: dict[str, int] = {}

    def update(self, name: str, inc: int = 1, *args: Any, **kwargs: Any) -> None:
        self._count += 1
        kind = self._step.split(" ")[0]
        if kind not in self._done:
            self.counts[kind] = self._count
        if self._target and self._step.startswith(self._target) and self._count == self._n:
            die()

    def _start(self, step: str) -> None:
        self._step, self._count = step, 0
        if self._n == 0 and step.startswith(self._target):
            die()

    def _stop(self) -> None:
        self._done.add(self._step.split(" ")[0])


def _count_commit(n: int) -> None:
    global _committed
    with _lock:
        _committed += 1
        if n and _committed == n:
            die()


def _is_target(file_name: str, table: str) -> bool:
    """`media` names media's copy job; `media.sql` its merge job."""
    name = table.removesuffix(".sql")
    is_merge = file_name.endswith(".sql")
    return file_name.startswith(f"{name}.") and is_merge == table.endswith(".sql")


def killing_client(base: type[Any], plan: dict[str, Any]) -> type[Any]:
    commit, table, complete = plan.get("commit", 0), plan.get("after_table"), plan.get("complete")

    class Client(base):  # type: ignore[misc, valid-type]
        def create_load_job(self, *args: Any, **kwargs: Any) -> Any:
            job = super().create_load_job(*args, **kwargs)
            if isinstance(job, RunnableLoadJob):
                run = job.run
                target = table is not None and _is_target(job.file_name(), table)

                def run_then_die() -> None:
                    run()
                    _count_commit(commit)
                    if target:
                        die()

                job.run = run_then_die  # type: ignore[method-assign]
            return job

        def complete_load(self, load_id: str) -> None:
            super().complete_load(load_id)
            if complete:
                die()

    return Client


def destination(plan: dict[str, Any]) -> Any:
    ours = plan.get("destination", "ours") == "ours"
    if "postgres" in plan:
        factory: Any = exactly_once.postgres
        base = PostgresExactlyOnceClient if ours else PostgresClient
        credentials: Any = plan["postgres"]
    else:
        factory = exactly_once.duckdb
        base = exactly_once.DuckDbExactlyOnceClient if ours else DuckDbClient
        credentials = plan["db"]
    client = killing_client(base, plan)

    class killing(factory):  # type: ignore[misc, valid-type]  # noqa: N801
        @property
        def client_class(self) -> Any:
            return client

    return killing(credentials=credentials, destination_name=factory.__name__)


def main(plan: dict[str, Any]) -> None:
    started = time.monotonic()
    pipeline = make_pipeline(
        destination=destination(plan),
        dataset_name=plan.get("dataset", "pixlee_data"),
        pipeline_name=plan.get("pipeline_name", "crash"),
        pipelines_dir=plan["pipes"],
        progress="log",
    )
    collector = KillAtUpdate(*plan.get("at", ()))
    pipeline.collector = collector
    source = pixlee_source(
        api_key=plan["key"],
        base_url=plan["base_url"],
        skus=plan.get("skus"),
        reconcile=plan.get("reconcile", "1d"),
        per_page=plan.get("per_page", 100),
        backoff_seconds=0.01,
    )
    run_source(pipeline, source)
    if "counts_file" in plan:  # the run ended without a kill
        seconds = time.monotonic() - started
        counts = json.dumps({**collector.counts, "jobs": _committed, "seconds": seconds})
        Path(plan["counts_file"]).write_text(counts, encoding="utf-8")


def _forked(plan: dict[str, Any], err_file: str) -> None:
    """The child's body: its own session (the parent kills the group), errors to a file."""
    os.setsid()
    Path(plan["counts_file"]).with_name("started").touch()
    err = os.open(err_file, os.O_WRONLY | os.O_TRUNC)
    os.dup2(err, 2)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    main(plan)


def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, "pixlee.simulator"])
    return context


def _started(child: Any, started: Path, err_file: Path) -> None:
    """Wait until the child runs in its own session. A forked child first imports the parent's
    main module (~1.5 s under pytest-xdist): a kill sent before that, to a process group that
    does not exist yet, would never land."""
    deadline = time.monotonic() + 120
    while not started.exists():
        if not child.is_alive() or time.monotonic() > deadline:
            if started.exists():
                return
            stderr = err_file.read_text(encoding="utf-8", errors="replace")
            raise AssertionError(f"the crash child never started: {stderr[-3000:]}")
        time.sleep(0.005)


def run_child(
    plan: dict[str, Any], wall_seconds: float | None = None
) -> tuple[bool, dict[str, Any] | None]:
    """Run `plan` in a child until it ends or kills itself (or, after `wall_seconds`, the
    parent kills it); then its whole process group. Returns whether it was killed, and the
    counts a `count` plan wrote. A child that failed otherwise fails the test with its stderr.
    """
    with tempfile.TemporaryDirectory() as folder:
        err_file, counts_file = Path(folder, "stderr"), Path(folder, "counts.json")
        err_file.touch()
        child = _context().Process(
            target=_forked, args=({**plan, "counts_file": str(counts_file)}, str(err_file))
        )
        child.start()
        if wall_seconds is not None:  # from the run's start, not the fork's (see _started)
            _started(child, Path(folder, "started"), err_file)
        child.join(timeout=wall_seconds if wall_seconds is not None else 300)
        if child.exitcode is None and wall_seconds is None:
            raise AssertionError(f"the crash child ran past 300 s: {plan}")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(timeout=30)
        stderr = err_file.read_text(encoding="utf-8", errors="replace")
        assert child.exitcode in (0, -signal.SIGKILL), stderr[-3000:]
        counts = json.loads(counts_file.read_text()) if counts_file.exists() else None
    return child.exitcode == -signal.SIGKILL, counts


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
