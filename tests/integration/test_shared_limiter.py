"""One key's request budget shared by several processes: SQLite on one machine, Redis across.

The behaviour test starts four real processes that page through the simulator on one key, each
pacing with a `RequestPacer` on the shared backend, and checks what the simulator saw: (almost)
no 429s, and together ≥ 90% of the limit. Time is scaled so it fits in ~20 s: the simulator's
sliding window is 6 s instead of 60 (a module constant, patched here), the limit is 60 per window
(600/min) and the pacers' burst is 1, since a burst of 5 in a 60-request window would be ten times
the share it has in Pixlee's 3600-request one.

Run as `python -m tests.integration.test_shared_limiter worker …` this module is the worker process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pixlee.api.errors import PixleeConfigError
from pixlee.api.pacing import RequestPacer, budget_name, make_pacer
from pixlee.simulator import Simulator, SimulatorConfig
from tests.destinations.services import REDIS_URL, require

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 4
PER_MINUTE = 600  # the pacers' budget; the simulator allows the same, on a 6 s window
WINDOW_SECONDS = 6.0
SCALE = 60.0 / WINDOW_SECONDS
START_DELAY_SECONDS = 4.0  # all workers import and connect before the common start
WARMUP_SECONDS = 1.0
MEASURED_SECONDS = 15.0


# --- the worker process ------------------------------------------------------------------------


def _worker(args: argparse.Namespace) -> None:
    """Page through every album until `end_at`, recording when each request completed."""
    from pixlee.api.client import PixleeClient, RetryPolicy

    client = PixleeClient(
        api_key=args.api_key,
        base_url=args.base_url,
        per_page=10,
        retry=RetryPolicy(max_attempts=20, backoff_seconds=0.2),
    )
    # Until `rate_limit_backend` is plumbed through the client, install the shared pacer here.
    client.read_pacer = make_pacer(
        args.per_minute, "get", backend=args.backend, api_key=args.api_key, burst=1
    )
    albums = [int(a) for a in args.albums.split(",")]
    done: list[float] = []
    time.sleep(max(0.0, args.start_at - time.time()))
    while time.time() < args.end_at:
        for album_id in albums:
            for _ in client.iter_album_photos(album_id):
                done.append(time.time())
                if time.time() >= args.end_at:
                    break
            if time.time() >= args.end_at:
                break
    client.read_pacer.close()
    Path(args.out).write_text(
        json.dumps({"done": done, "rate_limited": client.stats.rate_limited}), encoding="utf-8"
    )


def _worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    for name in ("base-url", "api-key", "backend", "albums", "out"):
        parser.add_argument(f"--{name}", required=name != "backend", default="")
    for name in ("start-at", "end-at"):
        parser.add_argument(f"--{name}", type=float, required=True)
    parser.add_argument("--per-minute", type=int, required=True)
    _worker(parser.parse_args(argv))


# --- the parent --------------------------------------------------------------------------------


@pytest.fixture()
def scaled_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A simulator whose rate window is 6 s, allowing PER_MINUTE per minute (60 per window)."""
    from pixlee.simulator import ratelimit

    monkeypatch.setattr(ratelimit, "WINDOW_SECONDS", WINDOW_SECONDS)
    per_window = int(PER_MINUTE / SCALE)
    config = SimulatorConfig(albums=3, media_per_album=130, products=6, categories=2, seed=11)
    with Simulator(config) as sim:
        sim.set_rate_limit(get_per_minute=per_window, retry_after=True)
        yield sim


def _run_workers(sim: Simulator, backend: str | None, tmp_path: Path) -> dict[str, Any]:
    albums = ",".join(str(a["id"]) for a in sim.truth_albums() if a["album_type"] == "standard")
    start_at = time.time() + START_DELAY_SECONDS
    end_at = start_at + WARMUP_SECONDS + MEASURED_SECONDS
    env = {**os.environ, "PYTHONPATH": str(REPO), "RUNTIME__DLTHUB_TELEMETRY": "false"}
    outs = [tmp_path / f"worker{i}.json" for i in range(PROCESSES)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.test_shared_limiter", "worker"]
            + ["--base-url", sim.base_url, "--api-key", sim.config.api_key]
            + ["--backend", backend or "", "--albums", albums, "--out", str(out)]
            + ["--start-at", str(start_at), "--end-at", str(end_at)]
            + ["--per-minute", str(PER_MINUTE)],
            cwd=REPO,
            env=env,
        )
        for out in outs
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    results = [json.loads(out.read_text(encoding="utf-8")) for out in outs]
    measured_from = start_at + WARMUP_SECONDS
    done = [t for r in results for t in r["done"] if measured_from <= t < end_at]
    per_worker = [sum(measured_from <= t < end_at for t in r["done"]) for r in results]
    achieved_per_minute = len(done) / MEASURED_SECONDS * 60.0
    summary = {
        "requests": sim.stats.count(method="GET"),
        "rate_limited": sim.stats.rate_limited,
        "achieved_per_minute": achieved_per_minute,
        "achieved_share": achieved_per_minute / PER_MINUTE,
        "per_worker": per_worker,
    }
    print(f"shared limiter ({backend or 'in-memory, not shared'}): {summary}")
    return summary


def _assert_shared_budget_held(summary: dict[str, Any]) -> None:
    assert summary["rate_limited"] <= 0.01 * summary["requests"], summary
    assert summary["achieved_share"] >= 0.90, summary
    # GCRA admits at most burst + rate × time: never above the limit beyond rounding
    assert summary["achieved_share"] <= 1.05, summary
    # every process got a real share of the budget, none was starved
    assert min(summary["per_worker"]) >= 0.10 * sum(summary["per_worker"]), summary


@pytest.mark.timeout(180)
def test_four_processes_share_the_budget_through_sqlite(
    scaled_sim: Simulator, tmp_path: Path
) -> None:
    backend = f"sqlite:///{tmp_path / 'limits.sqlite'}"
    _assert_shared_budget_held(_run_workers(scaled_sim, backend, tmp_path))


@pytest.mark.timeout(180)
def test_four_processes_share_the_budget_through_redis(
    scaled_sim: Simulator, tmp_path: Path, redis_url: str
) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(budget_name(scaled_sim.config.api_key, "get"))
    client.close()
    _assert_shared_budget_held(_run_workers(scaled_sim, redis_url, tmp_path))


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
