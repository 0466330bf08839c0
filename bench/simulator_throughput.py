"""How many 100-item pages per second the simulator serves (it must never be the bottleneck).

Starts ``python -m pixlee.simulator`` (20 albums x 2,000 media, no latency, faults or rate
limit) in a subprocess, then drives it from client processes over keep-alive connections:

1. warm-up: every page once (first serialization of every item; a cache miss each),
2. fresh: ``unique_id`` differs on every request, so every request reaches the origin,
3. cached: a fixed set of URLs, so the CDN cache answers.

Prints a markdown table; it does not assert anything. Run: ``python bench/simulator_throughput.py``.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit

ALBUMS, MEDIA_PER_ALBUM, PER_PAGE = 20, 2000, 100
CLIENTS = 3
PHASE_SECONDS = float(os.environ.get("SIM_BENCH_SECONDS", "5"))
KEY = "bench-key"


def _start_simulator() -> tuple[subprocess.Popen[str], str]:
    cmd = [
        sys.executable, "-m", "pixlee.simulator", "--port", "0",
        "--albums", str(ALBUMS), "--media-per-album", str(MEDIA_PER_ALBUM),
        "--rate-limit", "100000000", "--api-key", KEY, "--seed", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "serving on" not in line:
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].strip()


def _album_ids(base_url: str) -> list[int]:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
    conn.request("GET", "/_sim/truth/albums")
    albums = json.loads(conn.getresponse().read())
    conn.close()
    return [a["id"] for a in albums if a["album_type"] == "standard"]


def _client(
    args: tuple[str, list[str], float, int],
) -> tuple[int, int, float]:
    """Fetch paths round-robin until the deadline; returns (requests, bytes, seconds)."""
    base_url, paths, seconds, offset = args
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
    done = nbytes = 0
    start = time.perf_counter()
    deadline = start + seconds
    i = offset
    while seconds <= 0 or time.perf_counter() < deadline:
        path = paths[i % len(paths)].replace("{n}", f"{os.getpid()}-{i}")
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status} for {path}")
        done += 1
        nbytes += len(body)
        i += 1
        if seconds <= 0 and i - offset >= len(paths):
            break
    conn.close()
    return done, nbytes, time.perf_counter() - start


def _phase(
    pool: mp.pool.Pool, base_url: str, paths: list[str], seconds: float
) -> tuple[float, float, int]:
    """Run every client for ``seconds``: (requests/s, MB/s, requests)."""
    started = time.perf_counter()
    results = pool.map(
        _client, [(base_url, paths, seconds, k * len(paths) // CLIENTS) for k in range(CLIENTS)]
    )
    elapsed = time.perf_counter() - started
    requests = sum(r[0] for r in results)
    return requests / elapsed, sum(r[1] for r in results) / elapsed / 1e6, requests


def main() -> str:
    proc, base_url = _start_simulator()
    try:
        prefix = urlsplit(base_url).path
        albums = _album_ids(base_url)
        pages = MEDIA_PER_ALBUM // PER_PAGE
        page_paths = [
            f"{prefix}/albums/{a}/photos?api_key={KEY}&per_page={PER_PAGE}&page={p}"
            for a in albums
            for p in range(1, pages + 1)
        ]
        with mp.Pool(CLIENTS) as pool:
            started = time.perf_counter()
            warm = pool.map(
                _client,
                [(base_url, page_paths[k::CLIENTS], 0.0, 0) for k in range(CLIENTS)],
            )
            warm_seconds = time.perf_counter() - started
            warm_requests = sum(r[0] for r in warm)
            fresh = _phase(
                pool, base_url, [p + "&unique_id={n}" for p in page_paths], PHASE_SECONDS
            )
            cached = _phase(pool, base_url, page_paths, PHASE_SECONDS)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    rows = [
        ("warm-up (first serialization)", warm_requests / warm_seconds, warm_requests),
        ("fresh (`unique_id` per request)", fresh[0], fresh[2]),
        ("cached (CDN hits)", cached[0], cached[2]),
    ]
    lines = [
        f"Simulator throughput: {ALBUMS} albums x {MEDIA_PER_ALBUM} media, "
        f"per_page={PER_PAGE}, {CLIENTS} client processes, {os.cpu_count()} CPUs",
        "",
        "| phase | pages/s | items/s | requests |",
        "|---|---:|---:|---:|",
    ]
    for name, rate, count in rows:
        lines.append(f"| {name} | {rate:,.0f} | {rate * PER_PAGE:,.0f} | {count:,} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
