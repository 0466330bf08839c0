"""What each pipeline setting buys, and plain `pipeline.run` against `make_pipeline`.

Each variant loads the same albums of a local simulator (no latency, no rate limit) into a
fresh DuckDB file, in its own process; variants run interleaved (A B C A B C ...) so that a
busy machine slows them alike. Per run: wall seconds, CPU seconds of the pipeline process
(less sensitive to other load than wall time), dlt's step seconds, and peak memory (VmHWM of
the pipeline process; the tree figure adds its normalize workers' unique memory).

Run: ``python -m bench.pipeline_settings --media 100000 --reps 3`` (all variants), or name
some: ``--variants ours,plain``. It prints figures and never asserts them.

Variants (each differs from `ours` in one thing, except the plain ones):
- ours: `make_pipeline` + `run_source` (exactly-once DuckDB with its defaults: 128 MB cap, one
  thread fewer than the cores, 2 load jobs at a time; the connection held around the load;
  parquet; normalize workers per core), no process tunings;
- tuned: ours + `run_source(tuned=True)` (malloc arenas, GC thresholds, memory handed back);
- gc, arenas, trim: ours + one of those tunings;
- not_held: ours without the DuckDB connection held around the load step;
- duckdb_default: ours with DuckDB's own memory_limit (80% of RAM) and threads (cores);
- writer: ours with uncompressed intermediate files rotated every 10,000 rows (config);
- dlt_duckdb: ours through dlt's own DuckDB jobs, same DuckDB settings (exactly-once's cost);
- plain: `dlt.pipeline(destination="duckdb").run(pixlee_source())`, nothing else;
- plain_once: the same with `destination=pixlee.pipeline.exactly_once.duckdb(...)`;
- plain_tuned: plain_once inside `with pixlee.pipeline.tuned():` (a script that is the process).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.throughput import KEY, _control, _start_simulator, _vm_hwm_mb, _watch_tree_rss

MEDIA_PER_ALBUM = 1000
ALBUMS = 200
VARIANTS = (
    "ours",
    "tuned",
    "gc",
    "arenas",
    "trim",
    "not_held",
    "duckdb_default",
    "writer",
    "dlt_duckdb",
    "plain",
    "plain_once",
    "plain_tuned",
)
RESULT_PREFIX = "SETTINGS-RESULT "
WRITER_ENV = {"DATA_WRITER__DISABLE_COMPRESSION": "true", "DATA_WRITER__FILE_MAX_ITEMS": "10000"}


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """Load `spec["album_ids"]` as variant `spec["variant"]`; return what was measured."""
    variant = spec["variant"]
    if variant == "writer":
        os.environ.update(WRITER_ENV)
    workdir = Path(tempfile.mkdtemp(prefix="pixlee-settings-"))
    os.chdir(workdir)
    os.environ["DLT_DATA_DIR"] = str(workdir / "dlt")  # pipelines' state too: none is shared
    import dlt

    from pixlee import pixlee_source

    source = pixlee_source(
        api_key=KEY,
        base_url=spec["base_url"],
        album_ids=spec["album_ids"],
        rate_limit_per_minute=100_000_000,
    )
    started = time.perf_counter()
    if variant in ("plain", "plain_once", "plain_tuned"):
        from contextlib import nullcontext

        from pixlee.pipeline import exactly_once, tuned

        destination: Any = "duckdb"
        if variant != "plain":
            destination = exactly_once.duckdb(str(workdir / "settings.duckdb"))
        pipeline = dlt.pipeline("settings", destination=destination, progress="log")
        with tuned() if variant == "plain_tuned" else nullcontext():
            pipeline.run(source)
    else:
        pipeline = _ours(variant, workdir, source)
    seconds = time.perf_counter() - started
    with pipeline.sql_client() as client:
        media = client.execute_sql(
            f"SELECT count(*) FROM {client.make_qualified_table_name('media')}"
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    steps = {
        step.step: (step.finished_at - step.started_at).total_seconds()
        for step in pipeline.last_trace.steps
        if step.step in ("extract", "normalize", "load") and step.finished_at
    }
    database_mb = sum(f.stat().st_size for f in workdir.glob("*.duckdb")) / 2**20
    shutil.rmtree(workdir, ignore_errors=True)
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "rss_mb": _vm_hwm_mb(),
        "media": int(media[0][0]) if media else 0,
        "steps": steps,
        "database_mb": database_mb,
    }


def _ours(variant: str, workdir: Path, source: Any) -> Any:
    from contextlib import contextmanager

    import dlt
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    import pixlee.pipeline.steps as steps
    from pixlee.pipeline import make_pipeline, run_source, tune_process
    from pixlee.pipeline.exactly_once import DUCKDB_DEFAULTS
    from pixlee.pipeline.tuning import fewer_gc_passes, release_freed_memory

    database = str(workdir / "bench.duckdb")
    destination: Any = dlt.destinations.duckdb(database)
    if variant == "duckdb_default":  # DuckDB's own: 80% of RAM, a thread per core
        own = {"memory_limit": f"{_ram_gb() * 0.8:.1f}GB", "threads": os.cpu_count() or 1}
        destination = dlt.destinations.duckdb(DuckDbCredentials(database, global_config=own))
    if variant == "dlt_duckdb":
        same = dict(DUCKDB_DEFAULTS)
        destination = dlt.destinations.duckdb(DuckDbCredentials(database, global_config=same))
        pipeline = dlt.pipeline("settings", destination=destination, progress="log")
    else:
        pipeline = make_pipeline(destination=destination, pipeline_name="settings", progress="log")
    if variant == "arenas":
        tune_process()
    if variant == "not_held":

        @contextmanager
        def not_held(_: Any) -> Any:
            yield False

        steps.duckdb_held_open = not_held  # type: ignore[assignment]
    if variant == "gc":
        _wrap_extract(pipeline, fewer_gc_passes, None)
    if variant == "trim":
        _wrap_extract(pipeline, None, release_freed_memory)
    run_source(pipeline, source, tuned=variant == "tuned")
    return pipeline


def _ram_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def _wrap_extract(pipeline: Any, around: Any, after: Any) -> None:
    """Bench only: one tuning of `tuned=True` on its own, around this pipeline's extract."""
    extract = pipeline.extract

    def extract_once(*args: Any, **kwargs: Any) -> Any:
        if around is None:
            info = extract(*args, **kwargs)
        else:
            with around():
                info = extract(*args, **kwargs)
        if after is not None:
            after()
        return info

    pipeline.extract = extract_once


def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    for name in list(env):
        if name.startswith(("DATA_WRITER__", "DESTINATION__", "NORMALIZE__", "LOAD__")):
            del env[name]
    cmd = [sys.executable, "-m", "bench.pipeline_settings", "--child", json.dumps(spec)]
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, cwd=root)
        tree_mb = _watch_tree_rss(child)
        out.seek(0)
        err.seek(0)
        lines = [x for x in out.read().splitlines() if x.startswith(RESULT_PREFIX)]
        if child.returncode != 0 or not lines:
            return {"failed": err.read()[-600:]}
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    result["tree_mb"] = tree_mb
    return result


def _warm(base_url: str, albums: list[int]) -> None:
    """Every page once, so the simulator's first serialization is not charged to a variant."""
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    pages = MEDIA_PER_ALBUM // 100
    urls = [
        f"{base_url}/albums/{a}/photos?api_key={KEY}&per_page=100&page={p}"
        for a in albums
        for p in range(1, pages + 1)
    ]

    def fetch(url: str) -> None:
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(fetch, urls))


def _summary(name: str, runs: list[dict[str, Any]]) -> str:
    good = [r for r in runs if "failed" not in r]
    failed = len(runs) - len(good)
    if not good:
        return f"| {name} | failed ({runs[0]['failed'][-200:]!r}) |"

    def med(key: str) -> float:
        return statistics.median(r[key] for r in good)

    def step(name_: str) -> float:
        return statistics.median(r["steps"].get(name_, 0.0) for r in good)

    return (
        f"| {name} | {med('seconds'):.1f} | {med('cpu_seconds'):.1f} | "
        f"{step('extract'):.1f} / {step('normalize'):.1f} / {step('load'):.1f} | "
        f"{med('rss_mb'):.0f} | {med('tree_mb'):.0f} | {med('database_mb'):.0f} | "
        f"{len(good)}{f' ({failed} failed)' if failed else ''} |"
    )


def main(media: int, reps: int, variants: list[str]) -> str:
    albums_needed = -(-media // MEDIA_PER_ALBUM)
    proc, base_url = _start_simulator_sized(albums_needed)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    try:
        albums = [
            a["id"]
            for a in _control(base_url, "/_sim/truth/albums")
            if a["album_type"] == "standard"
        ][:albums_needed]
        _warm(base_url, albums)
        for rep in range(reps):
            for variant in variants:
                spec = {"variant": variant, "base_url": base_url, "album_ids": albums}
                result = _measure(spec)
                runs[variant].append(result)
                print(variant, rep, json.dumps(result), file=sys.stderr, flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lines = [
        f"{albums_needed * MEDIA_PER_ALBUM:,} media, {reps} interleaved runs per variant "
        "(medians).",
        "",
        "| variant | seconds | CPU s | extract / normalize / load s | peak RSS MB | "
        "tree MB | DuckDB file MB | runs |",
        "|---|---:|---:|---|---:|---:|---:|---|",
    ]
    lines += [_summary(v, runs[v]) for v in variants]
    return "\n".join(lines)


def _start_simulator_sized(albums: int) -> tuple[Any, str]:
    import bench.throughput as throughput

    throughput.MEDIA_PER_ALBUM = MEDIA_PER_ALBUM
    return _start_simulator(max(albums, 1), 0, 100_000_000)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child")
    parser.add_argument("--media", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    if args.child:
        print(RESULT_PREFIX + json.dumps(_child(json.loads(args.child))))
    else:
        print(main(args.media, args.reps, args.variants.split(",")))
