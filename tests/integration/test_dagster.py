"""The Dagster code location for real: Dagster in-process and its CLI, against the simulator.

* two accounts side by side, each in two shards, each dataset equal to its own account's truth
  (every table), a shard that fails retried alone, each shard's rows and requests exact in the
  metadata, one budget per key;
* two materializations at once on one key, through the shared limiter, no 429 and together
  >= 90% of its limit (time scaled as in test_shared_limiter.py), into one Postgres dataset;
* `dagster asset materialize` killed with SIGKILL mid-shard, then the shards materialized
  again: exact, and the shard that had loaded reads incrementally.

Run as `python -m tests.integration.test_dagster worker …` this module is a concurrent run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from pixlee.api.errors import PixleeConfigError
from pixlee.api.pacing import DEFAULT_BURST, budget_name
from pixlee.simulator import Simulator, SimulatorConfig
from tests.support.dataset import assert_rows_match
from tests.support.rate_windows import most_in_any_window

REPO = Path(__file__).resolve().parents[2]
PHOTOS = "/api/v2/albums/{album_id}/photos"
ACCOUNT = {"albums": 3, "media_per_album": 60, "products": 6, "categories": 2}
Reader = Callable[[str], list[dict[str, Any]]]


# --- reading a dataset back and comparing it with the truth ------------------------------------


def duckdb_reader(database: Path, dataset: str) -> Reader:
    def read(table: str) -> list[dict[str, Any]]:
        with duckdb.connect(str(database), read_only=True) as con:
            cursor = con.execute(f'SELECT * FROM "{dataset}"."{table}"')
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    return read


def postgres_reader(url: str, dataset: str) -> Reader:
    def read(table: str) -> list[dict[str, Any]]:
        import psycopg2

        with psycopg2.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute(f'SELECT * FROM "{dataset}"."{table}"')
            names = [d[0] for d in cursor.description]
            found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        conn.close()
        return found

    return read


def _match(expected: list[dict[str, Any]], loaded: list[dict[str, Any]], key: Any) -> None:
    assert loaded, "nothing loaded"
    assert_rows_match(expected, loaded, key, set(loaded[0]))


def expected_categories(sim: Simulator) -> dict[int, tuple[Any, int, bool]]:
    """What the unsharded source counts: distinct current photos per category tag."""
    albums = {a["id"]: a for a in sim.truth_albums() if a["album_type"] == "category"}
    photos: dict[int, set[int]] = {}
    for item in sim.truth_media():
        for tag in item["tag_album_ids"]:
            photos.setdefault(tag, set()).add(item["id"])
    return {
        category: (
            albums.get(category, {}).get("title"),
            len(photos.get(category, ())),
            category in albums,
        )
        for category in set(albums) | set(photos)
    }


def assert_account_equals_truth(
    sim: Simulator, read: Reader, skus: list[str], catalog: bool = True
) -> None:
    """Every table of the account equals the simulator's world, each row once; without
    `catalog`, the shards' tables only (not `albums`, `product_media`, `categories`)."""
    truth_media = sim.truth_media()
    media = read("media")
    _match(truth_media, [r for r in media if r["removed_at"] is None], "album_photo_id")
    assert len({r["album_photo_id"] for r in media}) == len(media)
    to_media = {row["_dlt_id"]: row["album_photo_id"] for row in media}
    assert Counter((to_media[r["_dlt_parent_id"]], r["id"]) for r in read("media__products")) == (
        Counter((i["album_photo_id"], p["id"]) for i in truth_media for p in i["products"])
    )
    assert Counter(
        (to_media[r["_dlt_parent_id"]], r["value"]) for r in read("media__tag_album_ids")
    ) == Counter((i["album_photo_id"], c) for i in truth_media for c in i["tag_album_ids"])
    assert sorted(r["id"] for r in read("products")) == sorted(
        {p["id"] for i in truth_media for p in i["products"]}
    )
    latest: dict[int, dict[str, Any]] = {}
    for row in sorted(read("statistics"), key=lambda r: r["snapshot_at"]):
        latest[row["album_id"]] = row
    per_album = Counter(i["album_id"] for i in truth_media)
    assert {a: r["media_count"] for a, r in latest.items()} == {
        a["id"]: per_album[a["id"]] for a in sim.truth_albums()
    }
    if not catalog:
        return
    _match(sim.truth_albums(), read("albums"), "id")
    if skus:
        expected_sku = [{**i, "sku": s} for s in skus for i in sim.truth_sku_media(s)]
        _match(expected_sku, read("product_media"), ("sku", "album_photo_id"))
    categories = {
        r["id"]: (r["title"], r["media_count"], r["listed_in_albums"]) for r in read("categories")
    }
    assert categories == expected_categories(sim)


# --- running the code location -----------------------------------------------------------------


@pytest.fixture()
def quick_dlt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small test loads: normalize in the step's process (no worker pool to start per load)."""
    monkeypatch.setenv("NORMALIZE__WORKERS", "1")


def _source_env(monkeypatch: pytest.MonkeyPatch, sim: Simulator, **settings: Any) -> None:
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__API_KEY", sim.config.api_key)
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__BASE_URL", sim.base_url)
    for name, value in settings.items():
        text = json.dumps(value) if isinstance(value, list) else str(value)
        monkeypatch.setenv(f"SOURCES__PIXLEE_SOURCE__{name.upper()}", text)


def _materialize(settings: Any, selection: list[Any] | None = None) -> Any:
    """One run of the code location's assets, in this process, on a throwaway instance."""
    import dagster as dg

    from pixlee.orchestration.dagster import pixlee_definitions

    job = pixlee_definitions(settings).get_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, asset_selection=selection)
        events = instance.all_logs(result.run_id)
    return result, events


def _metadata(result: Any) -> dict[str, dict[str, Any]]:
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        found[materialization.asset_key.to_user_string()] = {
            name: value.value for name, value in materialization.metadata.items()
        }
    return found


def _photo_requests(sim: Simulator, album_ids: set[int]) -> int:
    paths = {PHOTOS.format(album_id=a) for a in album_ids}
    return sum(record.path in paths for record in sim.stats.requests)


def _fail_first_request(sim: Simulator, path: str) -> list[str]:
    """The simulator answers 500 to the first GET of `path` (then as usual); returns the log."""
    from pixlee.simulator.api import ApiResponse

    route = sim.app.route
    failed: list[str] = []

    def failing_route(method: str, request_path: str) -> Any:
        template, handler, params = route(method, request_path)
        if request_path == path and not failed:
            failed.append(request_path)
            return (
                template,
                lambda *a, **k: ApiResponse(500, b'{"error":"Internal error."}'),
                params,
            )
        return template, handler, params

    sim.app.route = failing_route  # type: ignore[method-assign]
    return failed


# --- two accounts, each in shards -------------------------------------------------------------


@pytest.mark.timeout(300)
def test_two_accounts_in_shards_equal_their_truth_and_a_failed_shard_retries_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, quick_dlt: None
) -> None:
    from pixlee.orchestration.settings import read_settings

    limits = tmp_path / "limits.sqlite"
    with (
        Simulator(SimulatorConfig(**ACCOUNT, seed=31, api_key="key-of-brand-a")) as brand_a,  # type: ignore[arg-type]
        Simulator(SimulatorConfig(**ACCOUNT, seed=32, api_key="key-of-brand-b")) as brand_b,  # type: ignore[arg-type]
    ):
        brands = {"brand_a": brand_a, "brand_b": brand_b}
        _accounts_env(monkeypatch, tmp_path, brands, limits)
        settings = read_settings()
        assert [(a.name, a.dataset_name) for a in settings.accounts] == [
            ("brand_a", "pixlee_data_brand_a"),
            ("brand_b", "pixlee_data_brand_b"),
        ]
        shard_albums = {
            n: {a["id"] for a in brand_a.truth_albums() if a["id"] % 2 == n} for n in range(2)
        }
        failed = _fail_first_request(brand_a, PHOTOS.format(album_id=min(shard_albums[1])))

        result, events = _materialize(settings)

        assert result.success and failed
        # brand_a's shard 1 failed once (a 500, max_attempts=1) and was retried alone
        loads = [f"{b}_{load}" for b in brands for load in ("catalog", "categories")]
        loads += [f"{b}_albums_{n}_of_2" for b in brands for n in range(2)]
        _assert_retried_alone(events, loads, "brand_a_albums_1_of_2")
        assert not [e for e in events if "key-of-brand" in str(e)]  # no key in Dagster's log
        for name, sim in brands.items():
            read = duckdb_reader(tmp_path / "brands.duckdb", f"pixlee_data_{name}")
            assert_account_equals_truth(sim, read, sim.skus()[:1])
            # each account's requests went to its own server with its own key only
            assert {r.query.get("api_key") for r in sim.stats.requests} == {"***"}
            assert sim.stats.count(status=401) == 0
        _assert_own_pipelines_and_staging(tmp_path, loads)
        # metadata: rows per table of each shard, and exactly the requests the server saw
        metadata = _metadata(result)
        _assert_shard_metadata(brand_a, metadata, shard_albums, failed_shard=1)
        assert metadata["brand_a/albums"]["rows_loaded"] == len(brand_a.truth_albums())
        assert metadata["brand_a/categories"]["rows_loaded"] == len(expected_categories(brand_a))
        # one budget per key in the shared store, and no key in it
        with sqlite3.connect(limits) as con:
            buckets = {row[0] for row in con.execute("SELECT bucket FROM pixlee_rate_state")}
        assert {budget_name("key-of-brand-a", "get"), budget_name("key-of-brand-b", "get")} <= (
            buckets
        )
        assert "key-of-brand" not in "".join(buckets)


def _accounts_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, brands: dict[str, Simulator], limits: Path
) -> None:
    """Shared settings in [sources.pixlee_source] (one album at a time, pages not read ahead:
    each shard's requests are exact); each account's own in its section."""
    _source_env(monkeypatch, brands["brand_a"], max_attempts=1, per_page=20, max_in_flight=1)
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__RATE_LIMIT_BACKEND", f"sqlite:///{limits}")
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__API_KEY", "the-default-key-is-never-used")
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__SKUS", json.dumps(["not-a-brand-sku"]))
    for name, sim in brands.items():
        section = f"SOURCES__PIXLEE_SOURCE__{name.upper()}"
        monkeypatch.setenv(f"{section}__API_KEY", sim.config.api_key)
        monkeypatch.setenv(f"{section}__BASE_URL", sim.base_url)
        monkeypatch.setenv(f"{section}__SKUS", json.dumps(sim.skus()[:1]))
    monkeypatch.setenv("PIXLEE_DAGSTER__ACCOUNTS", json.dumps(list(brands)))
    monkeypatch.setenv("PIXLEE_DAGSTER__SHARDS", "2")
    monkeypatch.setenv("PIXLEE_DAGSTER__RETRY_DELAY_SECONDS", "0")
    monkeypatch.setenv("PIXLEE_DAGSTER__DUCKDB_FILE", str(tmp_path / "brands.duckdb"))
    monkeypatch.setenv("PIXLEE_DAGSTER__PIPELINES_DIR", str(tmp_path / "pipelines"))


def _assert_retried_alone(events: list[Any], steps: list[str], failing: str) -> None:
    restarted = Counter(e.step_key for e in events if e.dagster_event_type == "STEP_RESTARTED")
    assert restarted == {failing: 1}
    started = Counter(e.step_key for e in events if e.dagster_event_type == "STEP_START")
    assert started == dict.fromkeys(steps, 1)


def _assert_own_pipelines_and_staging(tmp_path: Path, loads: list[str]) -> None:
    """Each load its own pipeline folder (state) and, for the shards, staging dataset."""
    assert sorted(p.name for p in (tmp_path / "pipelines").iterdir()) == sorted(loads)
    with duckdb.connect(str(tmp_path / "brands.duckdb"), read_only=True) as con:
        schemas = {r[0] for r in con.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()}
    shards = [load for load in loads if "_albums_" in load]
    staging = {f"pixlee_data_{s.split('_albums_')[0]}_staging_{s}" for s in shards}
    assert staging <= schemas, schemas


def _assert_shard_metadata(
    sim: Simulator, metadata: dict[str, Any], shard_albums: dict[int, set[int]], failed_shard: int
) -> None:
    """brand_a's shards: rows of each table, the server's requests, one `_pixlee_runs` row."""
    truth_media = sim.truth_media()
    shards = len(shard_albums)
    for n, albums in shard_albums.items():
        prefix = f"brand_a/albums_{n}_of_{shards}"
        shard = metadata[f"{prefix}/media"]
        assert shard["rows_loaded"] == sum(i["album_id"] in albums for i in truth_media)
        served = _photo_requests(sim, albums) - (1 if n == failed_shard else 0)  # the 500
        assert shard["pixlee/requests"] == served, n
        assert (shard["pixlee/albums_full"], shard["pixlee/items_read"]) == (
            len(albums),
            shard["rows_loaded"],
        )
        assert metadata[f"{prefix}/statistics"]["rows_loaded"] == len(albums)
        assert metadata[f"{prefix}/_pixlee_runs"]["rows_loaded"] == 1
        assert metadata[f"{prefix}/_pixlee_album_scans"]["rows_loaded"] == len(albums)


# --- two materializations at once on one key ---------------------------------------------------

PER_MINUTE = 600  # the key's budget, time scaled tenfold: 60 per 6 s window
WINDOW_SECONDS = 6.0
WARMUP_SECONDS = 0.5


def _worker(args: argparse.Namespace) -> None:
    """One run of one shard's assets, started when the parent says go (config from the env)."""
    import dagster as dg

    from pixlee.orchestration.dagster import defs

    job = defs.get_implicit_global_asset_job_def()
    keys = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if args.label in k.path]
    _import_what_a_run_imports()
    with dg.DagsterInstance.ephemeral() as instance:
        Path(args.ready).touch()  # a cold start of one worker must not eat the runs' overlap
        go = Path(args.go)
        while not go.exists():
            time.sleep(0.01)
        time.sleep(max(0.0, float(go.read_text()) - time.time()))
        result = job.execute_in_process(
            instance=instance, asset_selection=keys, raise_on_error=False
        )
    sys.exit(0 if result.success else 1)


def _import_what_a_run_imports() -> None:
    """What a load imports on first use (seconds of CPU on a loaded 2-core machine), so that
    both workers start reading when the parent says go."""
    import importlib

    modules = ("psycopg2", "pyarrow.parquet", "dlt.destinations", "pixlee.pipeline")
    for module in (*modules, "pixlee.pipeline.exactly_once_postgres"):
        importlib.import_module(module)


class Arrivals:
    """When each GET reached the server, and for which album, and what it was answered."""

    def __init__(self, sim: Simulator) -> None:
        self.seen: list[tuple[float, str, int]] = []
        record = sim.stats.record

        def recording(entry: Any) -> None:
            self.seen.append((time.time(), entry.path, entry.status))
            record(entry)

        sim.stats.record = recording  # type: ignore[method-assign]

    def of_albums(self, album_ids: set[int]) -> list[float]:
        paths = {PHOTOS.format(album_id=a) for a in album_ids}
        return [t for t, path, _ in self.seen if path in paths]


@pytest.fixture()
def scaled_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """The key allows PER_MINUTE a minute, on a 6 s window (plus the pacers' GCRA burst: time
    scaled tenfold makes the burst of 5 a tenfold larger share of a window than at 3600/min)."""
    from pixlee.simulator import ratelimit

    monkeypatch.setattr(ratelimit, "WINDOW_SECONDS", WINDOW_SECONDS)
    config = SimulatorConfig(albums=4, media_per_album=70, products=6, categories=2, seed=11)
    with Simulator(config) as sim:
        per_window = int(PER_MINUTE * WINDOW_SECONDS / 60)
        sim.set_rate_limit(get_per_minute=per_window + DEFAULT_BURST, retry_after=True)
        yield sim


def _budget_summary(
    sim: Simulator, arrivals: Arrivals, shard_albums: list[set[int]]
) -> dict[str, Any]:
    """What the server saw while both runs were reading their albums."""
    starts = [min(arrivals.of_albums(albums)) for albums in shard_albums]
    ends = [max(arrivals.of_albums(albums)) for albums in shard_albums]
    measured_from, measured_to = max(starts) + WARMUP_SECONDS, min(ends)
    overlap = measured_to - measured_from
    assert overlap >= 8.0, f"the runs read together for {overlap:.1f} s only: {starts}, {ends}"
    inside = [t for t, _, _ in arrivals.seen if measured_from <= t < measured_to]
    achieved_per_minute = len(inside) / (measured_to - measured_from) * 60.0
    return {
        "requests": len(arrivals.seen),
        "rate_limited": sim.stats.rate_limited,
        "most_in_a_window": most_in_any_window([t for t, _, _ in arrivals.seen], WINDOW_SECONDS),
        "achieved_share": round(achieved_per_minute / PER_MINUTE, 3),
        "measured_seconds": round(measured_to - measured_from, 1),
        "shares": [
            sum(measured_from <= t < measured_to for t in arrivals.of_albums(albums))
            for albums in shard_albums
        ],
    }


def _drop_datasets(url: str, dataset: str) -> None:
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{dataset}%",))
        for (schema,) in cursor.fetchall():
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    conn.close()


def _start_workers(
    tmp_path: Path, env: dict[str, str], shards: int
) -> list[subprocess.Popen[bytes]]:
    procs = []
    for n in range(shards):
        ready = tmp_path / f"ready{n}"
        args = ["--label", f"albums_{n}_of_{shards}", "--ready", str(ready)]
        args += ["--go", str(tmp_path / "go")]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.integration.test_dagster", "worker", *args],
                cwd=tmp_path,
                env=env,
            )
        )
    deadline = time.time() + 120
    while not all((tmp_path / f"ready{n}").exists() for n in range(shards)):
        assert time.time() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.05)
    (tmp_path / "go").write_text(str(time.time() + 0.3))
    return procs


@pytest.mark.paced
@pytest.mark.timeout(300)
def test_two_runs_on_one_key_share_its_budget_and_load_one_dataset(
    scaled_sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quick_dlt: None
) -> None:
    from tests.destinations.services import POSTGRES_URL, require

    postgres_url = require("PostgreSQL", POSTGRES_URL, "postgresql")
    sim = scaled_sim
    dataset = f"pixlee_dagster_{uuid.uuid4().hex[:8]}"
    _source_env(
        monkeypatch,
        sim,
        per_page=4,
        rate_limit_per_minute=PER_MINUTE,
        rate_limit_backend=f"sqlite:///{tmp_path / 'limits.sqlite'}",
        max_attempts=20,
        backoff_seconds=0.2,
    )
    for name, value in {
        "PIXLEE_DAGSTER__SHARDS": "2",
        "PIXLEE_DAGSTER__DESTINATION": "postgres",
        "PIXLEE_DAGSTER__DATASET_NAME": dataset,
        "PIXLEE_DAGSTER__PIPELINES_DIR": str(tmp_path / "pipelines"),
        "PIXLEE_DAGSTER__RETRY_DELAY_SECONDS": "0",
        "DESTINATION__POSTGRES__CREDENTIALS": postgres_url,
    }.items():
        monkeypatch.setenv(name, value)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    arrivals = Arrivals(sim)
    shard_albums = [{a["id"] for a in sim.truth_albums() if a["id"] % 2 == n} for n in range(2)]
    try:
        procs = _start_workers(tmp_path, env, 2)
        assert [p.wait(timeout=240) for p in procs] == [0, 0]

        summary = _budget_summary(sim, arrivals, shard_albums)
        print(f"two runs on one key: {summary}")
        assert summary["rate_limited"] == 0, summary  # the server counted none over its limit
        assert 0.90 <= summary["achieved_share"] <= 1.05, summary
        # neither run starved (fair is 50%; a pacer bug once gave some processes 0%)
        assert min(summary["shares"]) >= 0.15 * sum(summary["shares"]), summary

        # the two shards' tables in one Postgres dataset: exact, each shared product once
        assert_account_equals_truth(sim, postgres_reader(postgres_url, dataset), [], catalog=False)
    finally:
        _drop_datasets(postgres_url, dataset)


# --- kill -9 mid-run ---------------------------------------------------------------------------


SHARD_TABLES = ("media", "products", "statistics", "_pixlee_runs", "_pixlee_album_scans")


def _shard_keys(shards: int) -> list[str]:
    return [f"pixlee/albums_{n}_of_{shards}/{t}" for n in range(shards) for t in SHARD_TABLES]


def _cli(tmp_path: Path, env: dict[str, str], select: str) -> subprocess.Popen[bytes]:
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "asset", "materialize", "-m", "pixlee.orchestration.dagster"]
    return subprocess.Popen(
        [*command, "--select", select],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


@pytest.mark.timeout(300)
def test_cli_run_killed_mid_shard_then_rematerialized_ends_exact_the_other_incremental(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`dagster asset materialize` of both shards, SIGKILLed while the second one reads (the
    first one loaded); the shards materialized again: the killed one scans its albums in full,
    the loaded one reads one page per album, and the tables are exact."""
    from pixlee.orchestration.settings import read_settings

    with Simulator(SimulatorConfig(**ACCOUNT, seed=22)) as sim:  # type: ignore[arg-type]
        database = tmp_path / "pixlee.duckdb"
        (tmp_path / "home").mkdir()
        _source_env(monkeypatch, sim, per_page=5, rate_limit_per_minute=1200)
        for name, value in {
            "DAGSTER_HOME": str(tmp_path / "home"),
            "PIXLEE_DAGSTER__SHARDS": "2",
            "PIXLEE_DAGSTER__DUCKDB_FILE": str(database),
            "PIXLEE_DAGSTER__PIPELINES_DIR": str(tmp_path / "pipelines"),
            "NORMALIZE__WORKERS": "1",
        }.items():
            monkeypatch.setenv(name, value)
        shard_albums = [{a["id"] for a in sim.truth_albums() if a["id"] % 2 == n} for n in (0, 1)]
        run = _cli(tmp_path, dict(os.environ), ",".join(_shard_keys(2)))
        # in one process, one step after another: kill once the second shard is reading
        deadline = time.time() + 120
        while min(_photo_requests(sim, albums) for albums in shard_albums) < 3:
            assert run.poll() is None, run.stderr.read() if run.stderr else b""
            assert time.time() < deadline
            time.sleep(0.005)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
        assert run.returncode == -signal.SIGKILL
        loaded = _loaded_album_photo_ids(database)
        assert loaded < {i["album_photo_id"] for i in sim.truth_media()}  # mid-run: incomplete
        was_loaded = [
            {i["album_photo_id"] for i in sim.truth_media() if i["album_id"] in albums} <= loaded
            for albums in shard_albums
        ]
        assert sorted(was_loaded) == [False, True]

        import dagster as dg

        result, _ = _materialize(
            read_settings(), [dg.AssetKey.from_user_string(k) for k in _shard_keys(2)]
        )

        assert result.success
        metadata = _metadata(result)
        for n, albums in enumerate(shard_albums):
            shard = metadata[f"pixlee/albums_{n}_of_2/media"]
            scans = (shard["pixlee/albums_incremental"], shard["pixlee/albums_full"])
            assert scans == ((len(albums), 0) if was_loaded[n] else (0, len(albums))), n
        read = duckdb_reader(database, "pixlee_data")
        assert_account_equals_truth(sim, read, [], catalog=False)


def _loaded_album_photo_ids(database: Path) -> set[int]:
    if not database.exists():
        return set()
    with duckdb.connect(str(database), read_only=True) as con:
        try:
            found = con.execute("SELECT album_photo_id FROM pixlee_data.media").fetchall()
        except duckdb.CatalogException:
            return set()
    return {row[0] for row in found}


# --- the definitions ---------------------------------------------------------------------------


def test_definitions_need_no_key_and_an_account_without_one_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pixlee.orchestration.dagster import pixlee_definitions
    from pixlee.orchestration.settings import Account, read_settings

    # nothing reachable, no key: the code location still loads (a webserver lists assets)
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__RATE_LIMIT_BACKEND", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("PIXLEE_DAGSTER__SHARDS", "2")
    monkeypatch.setenv("PIXLEE_DAGSTER__DESTINATION", "postgres")
    keys = pixlee_definitions(read_settings()).resolve_asset_graph().get_all_asset_keys()
    shards = [
        f"pixlee/albums_{n}_of_2/{t}" for n in range(2) for t in (*SHARD_TABLES, "_pixlee_rejected")
    ]
    catalog = [
        "pixlee/albums",
        "pixlee/product_media",
        "pixlee/_pixlee_runs",
        "pixlee/_pixlee_rejected",
    ]
    assert sorted(k.to_user_string() for k in keys) == sorted(
        [*catalog, *shards, "pixlee/categories"]
    )
    # a named account never borrows the default key
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__API_KEY", "default-key")
    with pytest.raises(PixleeConfigError) as raised:
        Account("brand_c", "pixlee_data_brand_c", named=True).source_kwargs()
    assert "SOURCES__PIXLEE_SOURCE__BRAND_C__API_KEY" in str(raised.value)
    assert "default-key" not in str(raised.value)
    monkeypatch.setenv("PIXLEE_DAGSTER__ACCOUNTS", '["Brand C"]')
    with pytest.raises(PixleeConfigError, match="lower-case names"):
        read_settings()
    monkeypatch.setenv("PIXLEE_DAGSTER__ACCOUNTS", "[]")
    monkeypatch.setenv("PIXLEE_DAGSTER__SHARDS", "0")
    with pytest.raises(PixleeConfigError, match="shards must be between 1"):
        read_settings()


def test_a_shard_without_albums_loads_nothing_rather_than_every_album() -> None:
    """A shard with no album (fewer albums than shards) has nothing to load: it runs no
    source (which would refuse an empty `album_ids`, or with none read every album)."""
    from pixlee.orchestration.loads import Load
    from pixlee.orchestration.settings import Account

    account = Account(overrides={"api_key": "k", "album_ids": [4, 6]})
    pipeline: Any = None  # a shard's source does not read the dataset
    assert Load(account, "shard", 1, 2).source(pipeline) is None
    source = Load(account, "shard", 0, 2).source(pipeline)
    assert source is not None and sorted(source.selected_resources) == sorted(
        SHARD_TABLES + ("_pixlee_rejected",)
    )


def test_an_empty_album_list_in_an_accounts_config_is_refused() -> None:
    from pixlee.orchestration.loads import Load
    from pixlee.orchestration.settings import Account

    account = Account(overrides={"api_key": "k", "album_ids": []})
    with pytest.raises(PixleeConfigError) as raised:
        Load(account, "shard", 0, 2).source(None)  # type: ignore[arg-type]
    assert str(raised.value) == (
        "album_ids under [sources.pixlee_source] is empty: list at least one album id, "
        "or leave album_ids out to load every album"
    )


# --- a failed load is loaded again in place --------------------------------------------------


def _pending_pipeline(tmp_path: Path, rows: list[dict[str, Any]]) -> Any:
    """A pipeline with one loaded package and, extracted and normalized, one pending."""
    pipeline = dlt.pipeline(
        "retry_in_place",
        destination=dlt.destinations.duckdb(str(tmp_path / "retry.duckdb")),
        dataset_name="d",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    pipeline.run(dlt.resource([{"id": 1}], name="t", primary_key="id"))
    pipeline.extract(dlt.resource(rows, name="t", primary_key="id"))
    pipeline.normalize()
    return pipeline


def test_a_load_that_fails_while_pending_is_loaded_again_without_extracting(
    tmp_path: Path,
) -> None:
    from pixlee.orchestration.load_retry import retried_while_pending

    pipeline = _pending_pipeline(tmp_path, [{"id": 2}])
    # another process holds the DuckDB file (a notebook, a second writer) until the first wait
    database = str(tmp_path / "retry.duckdb")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({database!r}); "
         "print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout and holder.stdout.readline().strip() == "held"
    waits: list[float] = []

    def release(seconds: float) -> None:
        waits.append(seconds)
        assert holder.stdin
        holder.stdin.close()
        holder.wait(timeout=30)

    info = retried_while_pending(pipeline, pipeline.load, sleep=release)
    assert waits == [2.0]
    assert not info.has_failed_jobs and not pipeline.has_pending_data
    with duckdb.connect(database, read_only=True) as con:
        assert con.execute("SELECT id FROM d.t ORDER BY id").fetchall() == [(1,), (2,)]


def test_a_load_that_keeps_failing_is_retried_a_bounded_number_of_times(tmp_path: Path) -> None:
    from dlt.pipeline.exceptions import PipelineStepFailed

    from pixlee.orchestration.load_retry import retried_while_pending

    pipeline = _pending_pipeline(tmp_path, [{"id": -5}])
    with duckdb.connect(str(tmp_path / "retry.duckdb")) as con:  # a row the table refuses
        con.execute("DROP TABLE d.t")
        con.execute(
            "CREATE TABLE d.t (id BIGINT CHECK (id > 0), _dlt_load_id VARCHAR NOT NULL, "
            "_dlt_id VARCHAR NOT NULL UNIQUE)"
        )
    waits: list[float] = []
    with pytest.raises(PipelineStepFailed):
        retried_while_pending(pipeline, pipeline.load, sleep=waits.append)
    assert waits == [2.0, 4.0]  # three attempts, then the failure is the step's
    assert pipeline.has_pending_data  # nothing was dropped: the next run loads it


def test_shared_dataset_loads_retry_outside_the_lock() -> None:
    """Each retry takes the dataset's lock afresh: a failed load does not hold the other shards'
    loads through its backoff. (`run_source` applies `around_load` outermost first.)"""
    from pixlee.orchestration.dataset_lock import load_in_turn
    from pixlee.orchestration.load_retry import retried_while_pending
    from pixlee.orchestration.loads import SHARED_DATASET_LOADS

    assert (retried_while_pending, load_in_turn) == SHARED_DATASET_LOADS


@pytest.mark.parametrize("factory", ["dlt", "exactly_once"])
def test_loads_into_one_postgres_dataset_wait_for_each_other(tmp_path: Path, factory: str) -> None:
    """While another load holds the dataset's lock, a load waits (seen in `pg_locks`, not
    timed) and merges once it is released: two merges of one product never overlap. Through
    dlt's Postgres and through the exactly-once one that `make_pipeline` picks."""
    import threading

    import psycopg2

    from pixlee.orchestration.dataset_lock import load_in_turn, lock_key
    from tests.destinations.services import POSTGRES_URL, require

    url = require("PostgreSQL", POSTGRES_URL, "postgresql")
    dataset = f"pixlee_turns_{uuid.uuid4().hex[:8]}"
    from pixlee.pipeline import exactly_once

    postgres = dlt.destinations.postgres if factory == "dlt" else exactly_once.postgres
    pipeline = dlt.pipeline(
        "turns",
        destination=postgres(credentials=url),
        dataset_name=dataset,
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    pipeline.extract(dlt.resource([{"id": 7, "title": "new"}], name="products", primary_key="id"))
    pipeline.normalize()
    key = lock_key(dataset)
    holder = psycopg2.connect(url)
    holder.autocommit = True
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (key,))
        errors: list[BaseException] = []

        def load() -> None:
            try:
                load_in_turn(pipeline, pipeline.load)
            except BaseException as exc:  # reported by the test thread
                errors.append(exc)

        loader = threading.Thread(target=load)
        loader.start()
        _wait_for_advisory_waiter(holder, key, loader)
        assert loader.is_alive() and not _postgres_tables(holder, dataset)  # nothing merged
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))
        loader.join(timeout=120)
        assert not loader.is_alive() and not errors, errors
        assert postgres_reader(url, dataset)("products")[0]["title"] == "new"
    finally:
        holder.close()
        _drop_datasets(url, dataset)


def _wait_for_advisory_waiter(connection: Any, key: int, loader: Any) -> None:
    """Until a backend waits for the advisory lock `key` (pg_locks splits it in two oids)."""
    high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    deadline = time.monotonic() + 120
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND classid::bigint = %s AND objid::bigint = %s",
                (high, low),
            )
            (waiting,) = cursor.fetchone()
        if waiting:
            return
        assert loader.is_alive(), "the load finished without waiting for the lock"
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _postgres_tables(connection: Any, dataset: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name = 'products'",
            (dataset,),
        )
        return [row[0] for row in cursor.fetchall()]


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    parser = argparse.ArgumentParser()
    for option in ("label", "ready", "go"):
        parser.add_argument(f"--{option}", required=True)
    _worker(parser.parse_args(sys.argv[2:]))
