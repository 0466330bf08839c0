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
- `{"count": true}`: no kill; print how many progress updates each step made and how many
  jobs committed (`COUNTS {...}`), for the parent to draw kill points from;
- nothing: no kill (the parent may kill it at a moment of its own).
`"destination": "dlt"` uses dlt's own DuckDB/Postgres client instead of the exactly-once one
(the control that shows the kill lands in the window).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import Any

from dlt.common.destination.client import RunnableLoadJob
from dlt.common.runtime.collector import Collector
from dlt.destinations.impl.duckdb.duck import DuckDbClient
from dlt.destinations.impl.postgres.postgres import PostgresClient

from pixlee import pixlee_source
from pixlee.pipeline import exactly_once, make_pipeline, run_source

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
        base = exactly_once.PostgresExactlyOnceClient if ours else PostgresClient
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
    if plan.get("count"):
        print("COUNTS " + json.dumps({**collector.counts, "jobs": _committed}), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
