"""One key's request budget shared by several processes: SQLite on one machine, Redis across.

The behaviour test starts four real processes that page through a strict server (a sliding
window, `tests.support.rate_limited_server`) on one key, each pacing with a `RequestPacer` on
the shared backend. Time is scaled tenfold: a 6 s window of 60 requests stands for Pixlee's
minute of 600, and the pacers keep a 20% margin with a burst of 2 (a second of scheduling delay
is a sixth of a scaled window; see `tests/integration/test_rate_windows.py`).

What is asserted, and against what:

* the budget is held, as the server counts it: no 429, and no 6 s interval with more than 60;
* together the processes use the budget: while all four are running (from the last one's first
  request to the first one's last), the server admits at least 80% of what the pacers' shared
  plan allows (the plan is 79.7% of the limit: 478/min of 600). Measured on the shared two-core
  machine at load 5 and, with four extra busy loops, at load 12: 100-101% of the plan, SQLite
  and Redis alike. The span is where all four run, not a fixed common start: on a loaded
  machine a process may start seconds late, which says nothing about the limiter (the old
  ≥ 90%-of-the-limit check from a common start saw 19-40% that way);
* no process is starved: each gets at least 5% of the requests in that span (fair is 25%;
  measured at load 12: 11% at worst; the drifting-waiter bug in `RequestPacer`'s docstring
  gave three processes 0%).

Run as `python -m tests.integration.test_shared_limiter worker …` this module is the worker process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pixlee.api.errors import PixleeConfigError
from pixlee.api.pacing import RequestPacer, budget_name, make_pacer, plan_pacing
from pixlee.simulator import Simulator, SimulatorConfig
from tests.destinations.services import REDIS_URL, require
from tests.support.rate_limited_server import Catalogue, rate_limited_server
from tests.support.rate_windows import SlidingWindow, most_in_any_window
from tests.support.virtual_time import VirtualClock

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 4
KEY = "shared-limiter-key"
WINDOW_SECONDS = 6.0
LIMIT_PER_WINDOW = 60
PER_MINUTE = int(LIMIT_PER_WINDOW * 60 / WINDOW_SECONDS)  # what the pacers are told: 600
MARGIN = 0.2
BURST = 2
RUN_SECONDS = 12.0  # two windows once all four have started
READY_TIMEOUT_SECONDS = 120.0  # four interpreters importing dlt on a loaded machine


# --- the worker process ------------------------------------------------------------------------


def _worker(args: argparse.Namespace) -> None:
    """Get ready, wait for the common start, page through an album until the end, record."""
    from pixlee.api.client import PixleeClient, RetryPolicy

    client = PixleeClient(
        api_key=KEY,
        base_url=args.base_url,
        per_page=1,
        retry=RetryPolicy(max_attempts=20, backoff_seconds=0.2),
    )
    # Until `rate_limit_backend` is plumbed through the client, install the shared pacer here.
    client.read_pacer.close()
    client.read_pacer = make_pacer(
        PER_MINUTE, "get", backend=args.backend, api_key=KEY, burst=BURST, safety_margin=MARGIN
    )
    go = Path(args.go)
    Path(args.ready).touch()
    while not go.exists():
        time.sleep(0.02)
    start_at, end_at = json.loads(go.read_text(encoding="utf-8"))
    time.sleep(max(0.0, start_at - time.time()))
    done: list[float] = []
    for _ in client.iter_album_photos(args.album):
        done.append(time.time())
        if done[-1] >= end_at:
            break
    client.read_pacer.close()
    Path(args.out).write_text(json.dumps(done), encoding="utf-8")


def _worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    for name in ("base-url", "backend", "ready", "go", "out"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--album", type=int, required=True)
    _worker(parser.parse_args(argv))


# --- the parent --------------------------------------------------------------------------------


def _start_workers(base_url: str, albums: list[int], backend: str, tmp_path: Path) -> list[Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RUNTIME__DLTHUB_TELEMETRY": "false"}
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.test_shared_limiter", "worker"]
            + ["--base-url", base_url, "--backend", backend, "--album", str(album)]
            + ["--ready", str(tmp_path / f"ready{i}"), "--go", str(tmp_path / "go")]
            + ["--out", str(tmp_path / f"worker{i}.json")],
            cwd=REPO,
            env=env,
        )
        for i, album in enumerate(albums)
    ]


def _release_when_ready(tmp_path: Path) -> None:
    """Give the common start once every worker has imported and connected."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not all((tmp_path / f"ready{i}").exists() for i in range(PROCESSES)):
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.05)
    start_at = time.time() + 0.5
    go = tmp_path / "go.tmp"
    go.write_text(json.dumps([start_at, start_at + RUN_SECONDS]), encoding="utf-8")
    go.rename(tmp_path / "go")


def _run_workers(backend: str, tmp_path: Path) -> dict[str, Any]:
    window = SlidingWindow(LIMIT_PER_WINDOW, WINDOW_SECONDS)
    with rate_limited_server(window, catalogue=Catalogue(PROCESSES, 1000)) as server:
        procs = _start_workers(server.base_url, server.catalogue.album_ids(), backend, tmp_path)
        try:
            _release_when_ready(tmp_path)
            for proc in procs:
                assert proc.wait(timeout=120) == 0
        finally:
            for proc in procs:
                proc.kill()
    done = [
        json.loads((tmp_path / f"worker{i}.json").read_text(encoding="utf-8"))
        for i in range(PROCESSES)
    ]
    all_running = (max(d[0] for d in done), min(d[-1] for d in done))
    admitted = server.arrivals.admitted
    span = all_running[1] - all_running[0]
    in_span = sum(all_running[0] <= t <= all_running[1] for t in admitted)
    plan = plan_pacing(PER_MINUTE, MARGIN, BURST)
    summary = {
        "requests": len(admitted) + len(server.arrivals.refused),
        "rate_limited": len(server.arrivals.refused),
        "most_in_a_window": most_in_any_window(admitted, WINDOW_SECONDS),
        "span_seconds": span,
        "share_of_plan": in_span / (span * plan.per_minute / 60),
        "share_of_limit": in_span / (span * PER_MINUTE / 60),
        "per_worker": [sum(all_running[0] <= t <= all_running[1] for t in d) for d in done],
    }
    print(f"shared limiter ({backend}): {summary}")
    return summary


def _assert_shared_budget_held(summary: dict[str, Any]) -> None:
    assert summary["rate_limited"] == 0, summary
    assert summary["most_in_a_window"] <= LIMIT_PER_WINDOW, summary
    assert summary["span_seconds"] >= RUN_SECONDS / 2, summary
    assert summary["share_of_plan"] >= 0.80, summary
    assert min(summary["per_worker"]) >= 0.05 * sum(summary["per_worker"]), summary


@pytest.mark.paced
@pytest.mark.timeout(300)
def test_four_processes_share_the_budget_through_sqlite(tmp_path: Path) -> None:
    backend = f"sqlite:///{tmp_path / 'limits.sqlite'}"
    _assert_shared_budget_held(_run_workers(backend, tmp_path))


@pytest.mark.paced
@pytest.mark.timeout(300)
def test_four_processes_share_the_budget_through_redis(redis_url: str, tmp_path: Path) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(budget_name(KEY, "get"))
    client.close()
    _assert_shared_budget_held(_run_workers(redis_url, tmp_path))


# --- the pacer's contract, without timing --------------------------------------------------------


@pytest.fixture(scope="module")
def redis_url() -> str:
    return require("Redis", REDIS_URL, "redis-server")


def test_budget_name_hides_the_key_and_separates_kinds() -> None:
    name = budget_name("very-secret-key", "get")
    assert "very-secret-key" not in name
    assert name.startswith("pixlee:") and name.endswith(":get")
    assert budget_name("very-secret-key", "write") == name[: -len("get")] + "write"
    assert budget_name("another-key", "get") != name
    with pytest.raises(ValueError):
        budget_name("k", "delete")  # type: ignore[arg-type]


def test_local_pacer_keeps_its_old_interface() -> None:
    pacer = RequestPacer(120)
    assert pacer.per_minute == 120 and not pacer.shared
    pacer.wait()
    off = RequestPacer(0)
    off.wait()
    assert off.acquire_nowait()


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_pacers_on_one_backend_draw_from_one_budget(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "redis":
        backend: str = request.getfixturevalue("redis_url")
        import redis

        client = redis.Redis.from_url(backend)
        for key in ("shared-key", "other-key"):
            for k in ("get", "write"):
                client.delete(budget_name(key, k))  # type: ignore[arg-type]
        client.close()
    else:
        backend = f"sqlite:///{tmp_path / 'limits.sqlite'}"
    first = make_pacer(60, "get", backend=backend, api_key="shared-key", burst=3)
    second = make_pacer(60, "get", backend=backend, api_key="shared-key", burst=3)
    writes = make_pacer(60, "write", backend=backend, api_key="shared-key", burst=3)
    other_key = make_pacer(60, "get", backend=backend, api_key="other-key", burst=3)
    try:
        assert first.shared
        assert [first.acquire_nowait() for _ in range(3)] == [True, True, True]
        # the burst is spent for every pacer of this key and kind …
        assert not second.acquire_nowait()
        assert not first.acquire_nowait()
        # … but writes and other keys have budgets of their own
        assert writes.acquire_nowait()
        assert other_key.acquire_nowait()
    finally:
        for pacer in (first, second, writes, other_key):
            pacer.close()


@pytest.mark.paced
@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_pacers_on_one_backend_hold_the_plan_together_in_virtual_time(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Three pacers taking turns on one budget: never above the ceiling in any 60 s, yet ≥ 97%."""
    backend = f"sqlite:///{tmp_path / 'limits.sqlite'}"
    if kind == "redis":
        backend = request.getfixturevalue("redis_url")
        import redis

        client = redis.Redis.from_url(backend)
        client.delete(budget_name("virtual-time-key", "get"))
        client.close()
    clock = VirtualClock()  # moved onto wall-clock time by the shared pacer
    pacers = [
        make_pacer(
            1200, backend=backend, api_key="virtual-time-key", clock=clock, sleep=clock.sleep
        )
        for _ in range(3)
    ]
    granted = []
    for turn in range(1500):  # 75 s: more than one window
        pacers[turn % 3].wait()
        granted.append(clock())
    for pacer in pacers:
        pacer.close()
    plan = plan_pacing(1200)
    assert most_in_any_window(granted, 60.0) <= plan.ceiling_per_minute
    assert len(granted) / ((granted[-1] - granted[0]) / 60) >= 0.97 * 1200


def test_a_pacer_on_a_monotonic_clock_shares_a_budget_kept_in_wall_time(tmp_path: Path) -> None:
    """A client passes its own clock (monotonic, or virtual in tests); the store keeps wall time."""
    backend = f"sqlite:///{tmp_path / 'limits.sqlite'}"
    clock = VirtualClock(start=5.0)  # nowhere near the epoch, as time.monotonic() is not
    injected = make_pacer(60, backend=backend, api_key="k", burst=2, clock=clock, sleep=clock.sleep)
    default = make_pacer(60, backend=backend, api_key="k", burst=2)  # the store's wall clock
    assert injected.acquire_nowait() and injected.acquire_nowait()
    assert not default.acquire_nowait()  # it sees the burst spent, at its own wall time
    clock.sleep(60)  # a minute later on the injected clock only: its budget is free again …
    assert injected.acquire_nowait()
    assert not default.acquire_nowait()  # … which the wall clock has not reached
    for pacer in (injected, default):
        pacer.close()


def test_unknown_or_unreachable_backend_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(PixleeConfigError, match="not supported"):
        make_pacer(60, backend="memcached://127.0.0.1:11211")
    with pytest.raises(PixleeConfigError, match="not a SQLite file URL"):
        make_pacer(60, backend="sqlite://relative-without-third-slash")
    with pytest.raises(PixleeConfigError) as raised:
        make_pacer(60, backend="redis://:hunter2-password@127.0.0.1:1/0")
    assert "not reachable" in str(raised.value)
    assert "hunter2-password" not in str(raised.value)


def test_sqlite_budget_survives_reopening(tmp_path: Path) -> None:
    """The state lives in the file: a new process (here, a new pacer) sees the spent burst."""
    backend = f"sqlite:///{tmp_path / 'nested' / 'limits.sqlite'}"
    pacer = make_pacer(60, backend=backend, api_key="k", burst=2)
    assert pacer.acquire_nowait() and pacer.acquire_nowait()
    pacer.close()
    reopened = make_pacer(60, backend=backend, api_key="k", burst=2)
    assert not reopened.acquire_nowait()
    reopened.close()


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    _worker_main(sys.argv[2:])


def test_source_reads_the_backend_from_config_and_shares_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[sources.pixlee_source] rate_limit_backend` (here its env form) reaches the pacers."""
    import sqlite3

    import dlt

    from pixlee import pixlee_source
    from pixlee.pipeline import make_pipeline, run_source
    from tests.conftest import SMALL_ACCOUNT
    from tests.support.dataset import rows

    database = tmp_path / "limits.sqlite"
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__RATE_LIMIT_BACKEND", f"sqlite:///{database}")
    with Simulator(SimulatorConfig(**SMALL_ACCOUNT)) as sim:  # type: ignore[arg-type]
        pipeline = make_pipeline(
            destination=dlt.destinations.duckdb(str(tmp_path / "p.duckdb")),
            pipeline_name="shared_limiter_source",
            pipelines_dir=str(tmp_path / "pipelines"),
            progress="log",
        )
        run_source(pipeline, pixlee_source(api_key=sim.config.api_key, base_url=sim.base_url))
        loaded = sorted(r["album_photo_id"] for r in rows(pipeline, "media"))
        assert loaded == sorted(i["album_photo_id"] for i in sim.truth_media())
        key = sim.config.api_key
    with sqlite3.connect(database) as con:
        buckets = {row[0] for row in con.execute("SELECT bucket FROM pixlee_rate_state")}
    assert budget_name(key, "get") in buckets
    assert key not in "".join(buckets)
