"""Extraction and loading throughput against the simulator, ours and the `rest_api` baseline.

Measured in one run, each pipeline in its own process (so its peak RSS is its own, and it does
not share a GIL with the simulator, which runs in another process):

1. paced extraction, simulator latency 200 ms, limit 1,200/min: requests/s ÷ the limit, 429s;
2. the same at 3,600/min (needs >= 12 requests in flight);
3. local throughput: no latency, no limit, 100,000 media, end to end into DuckDB; peak RSS;
4. the baseline (`bench/baseline_rest_api.py`) for 1-3, over fewer requests/media since it is
   slow (its rate is what is compared);
5. peak RSS at 200,000 media;
6. paced at 1,200/min and 3,600/min, 200 ms latency, against a strict server of each window kind
   (sliding 60 s window, fixed window resetting on the minute, token bucket holding one second
   of requests: `tests/support/rate_limited_server.py`), each run long enough to slide a full
   window (~75 s): the share of the limit and the 429s.

Run: ``python -m bench.throughput`` (or ``make bench``, which writes BENCHMARKS.md). It prints
figures and never asserts them.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEY = "bench-key"
LATENCY_MS = 200
MEDIA_PER_ALBUM = 2000
PER_PAGE = 100
# standard albums of the latency simulator (2,000 media = 20 pages each): (1) reads 20 of them
# (400 pages), (2) all 80 (1,600 pages, ~27 s, so that the ~0.5 s between the last request and
# the end of the run weighs ~2%, as it does in any extraction that runs for minutes)
PACED_ALBUMS = 80
LOCAL_ALBUMS = 100  # standard albums of the local simulator (200,000 media)
BASELINE_PACED_ALBUMS = 5  # 5 x 21 requests ~ 21 s at 200 ms, one at a time
BASELINE_LOCAL_ALBUMS = 10  # 20,000 media
RESULT_PREFIX = "BENCH-RESULT "
WINDOW_RUN_SECONDS = 75  # more than a window: the first minute, then the window sliding
WINDOW_PAGES_PER_ALBUM = 20
WINDOW_KINDS = ("sliding", "fixed", "token_bucket")


@dataclass
class Figure:
    """One measured run of one pipeline."""

    seconds: float
    requests: int
    rate_limited: int
    media: int
    rss_mb: float
    tree_rss_mb: float = 0.0
    cpu_seconds: float = 0.0
    max_concurrent: int = 0
    steps: dict[str, float] | None = None  # dlt step -> seconds
    # seconds from the start of the run to the first request, and from the last request to
    # the end of the run (the simulator's clock and ours: one machine)
    lead_in: float = 0.0
    wind_down: float = 0.0
    extract_lead_in: float = 0.0  # from the start of dlt's extract step to the first request

    @property
    def request_span(self) -> float:
        """Seconds from the first request to the last one: the pace itself."""
        return max(1e-9, self.seconds - self.lead_in - self.wind_down)


# --- the simulator, in its own process -------------------------------------------------------


def _start_simulator(albums: int, latency_ms: float, rate_limit: int) -> tuple[Any, str]:
    cmd = [
        sys.executable, "-m", "pixlee.simulator", "--port", "0", "--albums", str(albums),
        "--media-per-album", str(MEDIA_PER_ALBUM), "--latency-ms", str(latency_ms),
        "--rate-limit", str(rate_limit), "--api-key", KEY, "--seed", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "serving on" not in line:
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].strip()


def _control(base_url: str, path: str, payload: dict[str, Any] | None = None) -> Any:
    root = base_url.split("/api/v2")[0]
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        root + path, data=data, method="GET" if data is None else "POST"
    )
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _standard_albums(base_url: str) -> list[int]:
    albums = _control(base_url, "/_sim/truth/albums")
    return [a["id"] for a in albums if a["album_type"] == "standard"]


# --- one measured pipeline, in a child process -----------------------------------------------


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one pipeline as `spec` says; return its timing, media count and peak RSS."""
    import dlt

    from bench.baseline_rest_api import baseline_source
    from pixlee import pixlee_source
    from pixlee.pipeline import make_pipeline, run_source

    workdir = Path(tempfile.mkdtemp(prefix="pixlee-bench-"))
    os.chdir(workdir)
    options: dict[str, Any] = {
        "destination": dlt.destinations.duckdb(str(workdir / "bench.duckdb")),
        "pipeline_name": f"bench_{spec['kind']}",
        "pipelines_dir": str(workdir / "pipelines"),
        "progress": "log",
    }
    if spec["mode"] == "plain":  # as a user's script: dlt.pipeline(...).run(pixlee_source())
        from pixlee.pipeline import exactly_once

        options["destination"] = exactly_once.duckdb(str(workdir / "bench.duckdb"))
        pipeline = dlt.pipeline(dataset_name="pixlee_data", **options)
        source = pixlee_source(
            api_key=KEY,
            base_url=spec["base_url"],
            album_ids=spec["album_ids"],
            rate_limit_per_minute=spec["limit"],
        )
    elif spec["kind"] == "ours":
        pipeline = make_pipeline(**options)  # exactly-once DuckDB
        source = pixlee_source(
            api_key=KEY,
            base_url=spec["base_url"],
            album_ids=spec["album_ids"],
            rate_limit_per_minute=spec["limit"],
            **spec.get("options", {}),
        )
    else:  # dlt's own defaults
        pipeline = dlt.pipeline(dataset_name="pixlee_data", **options)
        source = baseline_source(spec["base_url"], KEY, spec["album_ids"])
    started, started_at = time.perf_counter(), time.time()
    if spec["mode"] == "extract":
        fmt = "parquet" if spec["kind"] == "ours" else None
        pipeline.extract(source, loader_file_format=fmt)
    elif spec["mode"] == "plain":
        pipeline.run(source)
    elif spec["kind"] == "ours":
        run_source(pipeline, source, tuned=True)  # as pixlee_pipeline.py runs it
    else:
        pipeline.run(source)
    seconds, finished_at = time.perf_counter() - started, time.time()
    media = 0
    if spec["mode"] == "run":
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name("media")
            with client.execute_query(f"SELECT count(*) FROM {table}") as cursor:
                media = int(cursor.fetchone()[0])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    traced = [
        step
        for step in (pipeline.last_trace.steps if pipeline.last_trace else [])
        if step.step in ("extract", "normalize", "load") and step.finished_at
    ]
    steps = {step.step: (step.finished_at - step.started_at).total_seconds() for step in traced}
    extract_started_at = next(
        (step.started_at.timestamp() for step in traced if step.step == "extract"), started_at
    )
    shutil.rmtree(workdir, ignore_errors=True)  # a 200,000-media DuckDB file is ~1 GB
    return {
        "seconds": seconds,
        "started_at": started_at,
        "finished_at": finished_at,
        "media": media,
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the parent
        "rss_mb": _vm_hwm_mb(),
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "steps": steps,
        "extract_started_at": extract_started_at,
    }


def _vm_hwm_mb() -> float:
    """This process's peak resident set (Linux /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(spec: dict[str, Any]) -> Figure:
    """Reset the simulator's counters, run `spec` in a child process, read both sides."""
    base_url = spec["base_url"]
    stats_path = spec.get("stats_path", "/_sim/stats")
    _control(base_url, f"{stats_path}/reset", {})
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    cmd = [sys.executable, "-m", "bench.throughput", "--child", json.dumps(spec)]
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, cwd=root)
        tree_peak = _watch_tree_rss(child)
        out.seek(0)
        err.seek(0)
        lines = [x for x in out.read().splitlines() if x.startswith(RESULT_PREFIX)]
        if child.returncode != 0 or not lines:
            raise RuntimeError(f"bench child failed ({spec['kind']}): {err.read()[-2000:]}")
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    stats = _control(base_url, stats_path)
    return Figure(
        seconds=result["seconds"],
        requests=int(stats["total"]),
        rate_limited=int(stats["rate_limited"]),
        media=result["media"],
        rss_mb=result["rss_mb"],
        tree_rss_mb=tree_peak,
        cpu_seconds=result["cpu_seconds"],
        max_concurrent=int(stats["max_concurrent"]),
        steps=result.get("steps"),
        lead_in=(stats["first_request_at"] or result["started_at"]) - result["started_at"],
        extract_lead_in=(stats["first_request_at"] or result["started_at"])
        - result.get("extract_started_at", result["started_at"]),
        wind_down=result["finished_at"] - (stats["last_request_at"] or result["finished_at"]),
    )


def _watch_tree_rss(child: subprocess.Popen[str], every: float = 0.1) -> float:
    """Wait for `child`; return the peak of its RSS plus its workers' unique memory, in MB.

    Normalize workers are forked processes: their RSS repeats the pages they share with the
    pipeline process, so each worker counts with its USS (memory only it holds). Sampled every
    `every` seconds, so a shorter spike may be missed.
    """
    import psutil

    peak = 0
    process = psutil.Process(child.pid)
    while child.poll() is None:
        total = 0
        try:
            total = process.memory_info().rss
            for worker in process.children(recursive=True):
                try:
                    total += worker.memory_full_info().uss
                except psutil.Error:
                    continue
        except psutil.Error:
            pass
        peak = max(peak, total)
        time.sleep(every)
    return peak / 2**20


def _warm_up(base_url: str, albums: list[int]) -> None:
    """Read every page once, so the simulator has serialized every item before a measurement
    (its first serialization is slow and would be charged to the pipeline)."""
    prefix = (
        f"{base_url}/albums/{{}}/photos?api_key={KEY}&per_page={PER_PAGE}&unique_id=7&page={{}}"
    )
    urls = [prefix.format(a, p) for a in albums for p in range(1, MEDIA_PER_ALBUM // PER_PAGE + 1)]

    def fetch(url: str) -> None:
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(fetch, urls))


# --- the scenarios -------------------------------------------------------------------------


def _paced_albums_warmed(base_url: str) -> list[int]:
    """The paced simulator's albums, once it has serialized every item.

    Its start-up serialization (a background thread, ~20 s for 160,000 items) otherwise
    overlaps the first paced run and slows the simulator's answers: once measured as 76% of
    the 1,200/min limit instead of 97%. (Reading every page to warm it, as the local runs do,
    would spend the rate limit's window before the measurement.)
    """
    deadline = time.monotonic() + 300
    while not _control(base_url, "/_sim/config")["prewarmed"]:
        if time.monotonic() > deadline:
            raise RuntimeError("the simulator did not finish serializing its items in 300 s")
        time.sleep(0.5)
    return _standard_albums(base_url)


def _paced(base_url: str, albums: list[int], limit: int, baseline_albums: list[int]) -> Any:
    _control(base_url, "/_sim/rate_limit", {"get_per_minute": limit})
    ours = _measure(
        {
            "kind": "ours",
            "mode": "extract",
            "base_url": base_url,
            "album_ids": albums,
            "limit": limit,
        }  # fmt: skip
    )
    base = _measure(
        {
            "kind": "baseline",
            "mode": "extract",
            "base_url": base_url,
            "album_ids": baseline_albums,
            "limit": 0,
        }  # fmt: skip
    )
    return ours, base


def _start_window_server(kind: str, limit: int) -> tuple[Any, str]:
    """A strict stand-in of one window kind, in its own process, with enough pages for a run."""
    albums = -(-WINDOW_RUN_SECONDS * limit // 60 // WINDOW_PAGES_PER_ALBUM)
    cmd = [
        sys.executable, "-m", "tests.support.rate_limited_server", "--kind", kind,
        "--limit", str(limit), "--latency-ms", str(LATENCY_MS), "--albums", str(albums),
        "--pages", str(WINDOW_PAGES_PER_ALBUM),
    ]  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=root)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "serving on" not in line:
        proc.kill()
        raise RuntimeError(f"{kind} server did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].strip()


def _window_run(kind: str, limit: int, mode: str = "extract") -> Figure:
    """Our pipeline's extraction (`mode` "extract"), or a plain `pipeline.run` ("plain"),
    paced at `limit`, against a fresh server counting `kind`."""
    proc, base_url = _start_window_server(kind, limit)
    try:
        # album_ids None: every album GET /albums lists, as a first run reads them
        spec = {"kind": "ours", "mode": mode, "base_url": base_url, "album_ids": None}
        return _measure({**spec, "limit": limit, "stats_path": "/_stats"})
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def windows() -> str:
    """Scenario 6: a table of the share of the limit and the 429s per window kind and limit."""
    lines = [
        f"Our pipeline (extract), {LATENCY_MS} ms latency, against "
        "`tests/support/rate_limited_server.py` in its own process (a sliding 60 s window; a "
        "fixed window resetting on the minute; a token bucket of one second of requests), a "
        f"fresh server per run, each run ~{WINDOW_RUN_SECONDS} s. Share: all requests ÷ (run "
        "seconds × limit); in brackets from the first request to the last.",
        "",
        "| window | limit | share of the limit | 429s | in flight | before the first request / "
        "after the last | target | met |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for limit in (1200, 3600):
        for kind in WINDOW_KINDS:
            figure = _window_run(kind, limit)
            share = _rate(figure) * 60 / limit
            lines.append(
                f"| {kind} | {limit:,}/min | {share:.1%} ({figure.requests} requests in "
                f"{figure.seconds:.1f} s; {_span_share(figure, limit):.1%}) | "
                f"{figure.rate_limited} | {figure.max_concurrent} | {figure.lead_in:.1f} s / "
                f"{figure.wind_down:.1f} s | ≥ 95%, 0 × 429 | "
                f"{_met(share >= 0.95 and figure.rate_limited == 0)} |"
            )
    return "\n".join(lines)


def windows_plain() -> str:
    """Scenario 6 as a user's script runs it: `dlt.pipeline(destination=exactly_once.duckdb(
    ...)).run(pixlee_source())`; the share over dlt's extract step, where every request is."""
    lines = [
        f"A plain `pipeline.run` into the exactly-once DuckDB, {LATENCY_MS} ms latency, against "
        "the same servers. Share: all requests ÷ (dlt's extract step seconds × limit); in "
        "brackets from the first request to the last.",
        "",
        "| window | limit | share over the extract step | 429s | extract step start to the "
        "first request | target | met |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for limit in (1200, 3600):
        for kind in WINDOW_KINDS:
            figure = _window_run(kind, limit, mode="plain")
            extract = (figure.steps or {}).get("extract", figure.seconds)
            share = figure.requests / extract * 60 / limit
            lines.append(
                f"| {kind} | {limit:,}/min | {share:.1%} ({figure.requests} requests in "
                f"{extract:.1f} s; {_span_share(figure, limit):.1%}) | {figure.rate_limited} | "
                f"{figure.extract_lead_in:.1f} s | ≥ 95%, 0 × 429 | "
                f"{_met(share >= 0.95 and figure.rate_limited == 0)} |"
            )
    return "\n".join(lines)


def _local(base_url: str, albums: list[int], kind: str = "ours") -> Figure:
    return _measure(
        {"kind": kind, "mode": "run", "base_url": base_url, "album_ids": albums, "limit": 0}
    )


def _steps(figure: Figure) -> str:
    """dlt's extract / normalize / load seconds, then the rest of the run (set-up, and for
    DuckDB the checkpoint when the database closes after the load step)."""
    steps = figure.steps or {}
    seconds = [steps.get(name, 0.0) for name in ("extract", "normalize", "load")]
    return " / ".join(f"{s:.1f}" for s in [*seconds, max(0.0, figure.seconds - sum(seconds))])


def _rate(figure: Figure) -> float:
    return figure.requests / figure.seconds


def _span_share(figure: Figure, limit: int) -> float:
    """The pace between the first request and the last, ÷ the limit (no start-up, no tail)."""
    return (figure.requests - 1) / figure.request_span * 60 / limit


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def paced_only() -> str:
    """Scenarios 1, 2 and their baselines (for a quick look: `python -m bench.throughput paced`)."""
    proc, base_url = _start_simulator(PACED_ALBUMS, LATENCY_MS, 1200)
    try:
        paced = _paced_albums_warmed(base_url)
        figures = [
            *_paced(base_url, paced[:20], 1200, paced[:BASELINE_PACED_ALBUMS]),
            *_paced(
                base_url, paced, 3600, paced[BASELINE_PACED_ALBUMS : 2 * BASELINE_PACED_ALBUMS]
            ),
        ]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return "\n".join(str(f) for f in figures)


def local_only() -> str:
    """Scenario 3 for ours only (a quick look: `python -m bench.throughput local`)."""
    proc, base_url = _start_simulator(LOCAL_ALBUMS, 0, 100_000_000)
    try:
        local = _standard_albums(base_url)
        _warm_up(base_url, local)
        figure = _local(base_url, local[:50])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return str(figure)


def main() -> str:
    proc, base_url = _start_simulator(PACED_ALBUMS, LATENCY_MS, 1200)
    try:
        paced = _paced_albums_warmed(base_url)
        slow_ours, slow_base = _paced(base_url, paced[:20], 1200, paced[:BASELINE_PACED_ALBUMS])
        fast_ours, fast_base = _paced(
            base_url, paced, 3600, paced[BASELINE_PACED_ALBUMS : 2 * BASELINE_PACED_ALBUMS]
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    proc, base_url = _start_simulator(LOCAL_ALBUMS, 0, 100_000_000)
    try:
        local = _standard_albums(base_url)
        _warm_up(base_url, local)
        local_ours = _local(base_url, local[:50])
        local_base = _local(base_url, local[50 : 50 + BASELINE_LOCAL_ALBUMS], "baseline")
        large = _local(base_url, local)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return _table(slow_ours, slow_base, fast_ours, fast_base, local_ours, local_base, large)


def _table(
    slow_ours: Figure,
    slow_base: Figure,
    fast_ours: Figure,
    fast_base: Figure,
    local_ours: Figure,
    local_base: Figure,
    large: Figure,
) -> str:
    lines = [
        f"Simulator in its own process on 127.0.0.1, {PER_PAGE} media a page; each pipeline in "
        "its own process. Baseline: dlt `rest_api` getting-started recipe "
        "(`bench/baseline_rest_api.py`), INSERT into DuckDB.",
        "",
        "| measure | ours | baseline | ours ÷ baseline | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for label, limit, ours, base in (
        ("(1) paced 1,200/min, 200 ms", 1200, slow_ours, slow_base),
        ("(2) paced 3,600/min, 200 ms", 3600, fast_ours, fast_base),
    ):
        share, base_share = _rate(ours) * 60 / limit, _rate(base) * 60 / limit
        lines.append(
            f"| {label}: requests/s ÷ limit | {share:.1%} ({ours.requests} requests in "
            f"{ours.seconds:.1f} s, {ours.max_concurrent} in flight; {_span_share(ours, limit):.1%}"
            f" from first request to last) | {base_share:.1%} "
            f"({base.requests} in {base.seconds:.1f} s) | {share / base_share:.1f}× "
            f"| ≥ 95% | {_met(share >= 0.95)} |"
        )
        limited = ours.rate_limited / max(1, ours.requests)
        lines.append(
            f"| {label}: CPU of the pipeline process | {ours.cpu_seconds:.1f} s in "
            f"{ours.seconds:.1f} s | {base.cpu_seconds:.1f} s | | | |"
        )
        lines.append(
            f"| {label}: 429s | {ours.rate_limited} ({limited:.1%}) | {base.rate_limited} | "
            f"| ≤ 1% | {_met(limited <= 0.01)} |"
        )
    ours_rate = local_ours.media / local_ours.seconds
    base_rate = local_base.media / local_base.seconds
    lines += [
        f"| (3) local, end to end into DuckDB: media/s | {ours_rate:,.0f} ({local_ours.media:,} "
        f"media in {local_ours.seconds:.1f} s) | {base_rate:,.0f} ({local_base.media:,} in "
        f"{local_base.seconds:.1f} s) | {ours_rate / base_rate:.1f}× | ≥ 6,000 and ≥ 10× | "
        f"{_met(ours_rate >= 6000 and ours_rate >= 10 * base_rate)} |",
        f"| (3) local: peak RSS, pipeline process (+ normalize workers) | "
        f"{local_ours.rss_mb:,.0f} MB ({local_ours.tree_rss_mb:,.0f} MB) | "
        f"{local_base.rss_mb:,.0f} MB ({local_base.tree_rss_mb:,.0f} MB) at "
        f"{local_base.media:,} media | | | |",
        f"| (3) local: CPU seconds of the pipeline process | {local_ours.cpu_seconds:,.0f} | "
        f"{local_base.cpu_seconds:,.0f} | | | |",
        f"| (3) local: seconds in dlt's extract / normalize / load / the rest | "
        f"{_steps(local_ours)} | "
        f"{_steps(local_base)} | | | |",
        f"| (5) {large.media:,} media: peak RSS, pipeline process (+ normalize workers) | "
        f"{large.rss_mb:,.0f} MB ({large.tree_rss_mb:,.0f} MB); "
        f"{large.media / large.seconds:,.0f} media/s | | | ≤ 500 MB | "
        f"{_met(large.tree_rss_mb <= 500)} |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(RESULT_PREFIX + json.dumps(_child(json.loads(sys.argv[2]))), flush=True)
    elif sys.argv[1:] == ["paced"]:
        print(paced_only())
    elif sys.argv[1:] == ["local"]:
        print(local_only())
    elif sys.argv[1:] == ["windows"]:
        print(windows())
    elif sys.argv[1:] == ["windows-plain"]:
        print(windows_plain())
    else:
        print(main())
