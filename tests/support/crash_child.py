"""A pipeline run that kill -9s itself at a chosen point (run as a script by the crash tests).

`python crash_child.py '<plan as JSON>'`, where the plan names the database, pipeline folder,
simulator and one kill point:
- `{"at": ["Normalize", 7]}`: at the 7th progress update of that dlt step (dlt's own progress
  collector calls, so the kill lands between two units of that step's work; 0 = as it starts);
- `{"commit": 3}`: right after the 3rd load job (copy or merge) committed its transaction and
  before dlt records it as done: the window in which a job that is not idempotent runs twice;
- `{"complete": true}`: right after the package's completion committed (`_dlt_loads`);
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
    """dlt's progress collector, killing the process at the n-th update of one step."""

    def __init__(self, step: str, n: int) -> None:
        self._target, self._n = step, n
        self._step, self._count = "", 0

    def update(self, name: str, inc: int = 1, *args: Any, **kwargs: Any) -> None:
        if self._step.startswith(self._target):
            self._count += 1
            if self._count == self._n:
                die()

    def _start(self, step: str) -> None:
        self._step, self._count = step, 0
        if self._n == 0 and step.startswith(self._target):
            die()

    def _stop(self) -> None:
        pass


def _count_commit(n: int) -> None:
    global _committed
    with _lock:
        _committed += 1
        if _committed == n:
            die()


def killing_client(base: type[Any], commit: int, complete: bool) -> type[Any]:
    class Client(base):  # type: ignore[misc, valid-type]
        def create_load_job(self, *args: Any, **kwargs: Any) -> Any:
            job = super().create_load_job(*args, **kwargs)
            if commit and isinstance(job, RunnableLoadJob):
                run = job.run

                def run_then_die() -> None:
                    run()
                    _count_commit(commit)

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
    client = killing_client(base, plan.get("commit", 0), plan.get("complete", False))

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
    if "at" in plan:
        step, n = plan["at"]
        pipeline.collector = KillAtUpdate(step, n)
    source = pixlee_source(
        api_key=plan["key"],
        base_url=plan["base_url"],
        skus=plan.get("skus"),
        reconcile=plan.get("reconcile", "1d"),
        backoff_seconds=0.01,
    )
    run_source(pipeline, source)
    print("done", flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
