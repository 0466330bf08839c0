"""End to end, local: media/s and peak RSS of a whole run into DuckDB, A/B (issue 21).

The simulator (no latency, no limit) runs in its own process, each pipeline in another, as in
`bench/throughput.py`, whose helpers this reuses. Two ways of running the source:

* `plain`: `dlt.pipeline(destination=exactly_once.duckdb(path)).run(pixlee_source(...))`,
  what users write;
* `run_source`: `make_pipeline` + `run_source`, the project's own way.

Each is run with the code under test and with another tree of the package (`--before`, a
directory holding `src/pixlee`, e.g. an export of `main`), in alternation (A, B, A, B, …), so
a loaded machine slows both alike. It prints one line per run: media/s, seconds, CPU
seconds of the pipeline process, peak RSS (the process's own high-water mark, and with its
normalize workers' unique memory), dlt's step seconds, and the load average when it started.

    .venv/bin/python -m bench.arrow_e2e --before /tmp/main-tree [--albums 50] [--rounds 2]
        [--ways plain,run_source]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.throughput import (
    KEY,
    LOCAL_ALBUMS,
    _standard_albums,
    _start_simulator,
    _vm_hwm_mb,
    _warm_up,
    _watch_tree_rss,
)

RESULT_PREFIX = "ARROW-E2E-RESULT "
ROOT = Path(__file__).resolve().parents[1]


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    import dlt

    import pixlee
    from pixlee import pixlee_source
    from pixlee.pipeline import exactly_once

    workdir = Path(tempfile.mkdtemp(prefix="pixlee-arrow-e2e-"))
    os.chdir(workdir)
    destination = exactly_once.duckdb(str(workdir / "bench.duckdb"))
    source = pixlee_source(
        api_key=KEY, base_url=spec["base_url"], album_ids=spec["album_ids"],
        rate_limit_per_minute=100_000_000,
    )  # fmt: skip
    started = time.perf_counter()
    if spec["way"] == "plain":
        pipeline = dlt.pipeline(
            pipeline_name="bench_plain", destination=destination,
            dataset_name="pixlee_data", pipelines_dir=str(workdir / "pipelines"),
        )  # fmt: skip
        pipeline.run(source)
    else:
        from pixlee.pipeline import make_pipeline, run_source

        pipeline = make_pipeline(destination, pipelines_dir=str(workdir / "pipelines"))
        run_source(pipeline, source)
    seconds = time.perf_counter() - started
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("media")
        with client.execute_query(f"SELECT count(*) FROM {table}") as cursor:
            media = int(cursor.fetchone()[0])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    trace = pipeline.last_trace
    steps = {
        step.step: (step.finished_at - step.started_at).total_seconds()
        for step in (trace.steps if trace else [])
        if step.step in ("extract", "normalize", "load") and step.finished_at
    }
    shutil.rmtree(workdir, ignore_errors=True)
    return {
        "seconds": seconds,
        "media": media,
        "rss_mb": _vm_hwm_mb(),
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "steps": steps,
        "package": str(Path(pixlee.__file__).parent),
    }


def _measure(spec: dict[str, Any], tree: Path | None) -> dict[str, Any]:
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    if tree is not None:  # ahead of the editable install's path
        env["PYTHONPATH"] = os.pathsep.join([str(tree / "src"), str(ROOT)])
    cmd = [sys.executable, "-m", "bench.arrow_e2e", "--child", json.dumps(spec)]
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, cwd=ROOT)
        tree_peak = _watch_tree_rss(child)
        out.seek(0)
        err.seek(0)
        lines = [x for x in out.read().splitlines() if x.startswith(RESULT_PREFIX)]
        if child.returncode != 0 or not lines:
            raise RuntimeError(f"child failed: {err.read()[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    result.update(tree_rss_mb=tree_peak, load=load)
    return result


def _line(label: str, way: str, result: dict[str, Any]) -> str:
    steps = result["steps"]
    return (
        f"{label:>6} {way:>10}: {result['media'] / result['seconds']:7,.0f} media/s "
        f"({result['media']:,} in {result['seconds']:5.1f} s), CPU {result['cpu_seconds']:5.1f} s, "
        f"RSS {result['rss_mb']:4.0f} MB ({result['tree_rss_mb']:4.0f} MB with workers), "
        f"extract/normalize/load {steps.get('extract', 0):.1f}/{steps.get('normalize', 0):.1f}/"
        f"{steps.get('load', 0):.1f} s, load avg {result['load']:.1f}  [{result['package']}]"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, default=None)
    parser.add_argument("--albums", type=int, default=50)  # 2,000 media each
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ways", default="plain,run_source")
    parser.add_argument("--only", choices=("after", "before"), default=None)
    args = parser.parse_args(argv)
    # this checkout's own src, not whatever `pixlee` the venv's editable install points at
    trees: list[tuple[str, Path | None]] = [("after", ROOT)]
    if args.before is not None:
        trees.append(("before", args.before))
    if args.only:
        trees = [tree for tree in trees if tree[0] == args.only]
    proc, base_url = _start_simulator(max(LOCAL_ALBUMS, args.albums), 0, 10**8)
    try:
        albums = _standard_albums(base_url)[: args.albums]
        _warm_up(base_url, albums)
        for round_no in range(args.rounds):
            for way in args.ways.split(","):
                order = trees if round_no % 2 == 0 else trees[::-1]
                for label, tree in order:
                    spec = {"way": way, "base_url": base_url, "album_ids": albums}
                    print(_line(label, way, _measure(spec, tree)), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(RESULT_PREFIX + json.dumps(_child(json.loads(sys.argv[2]))), flush=True)
    else:
        main()
