"""Request cost of an incremental run against a full reload (issue: incremental loads).

A 50-album x 5,000-media account is loaded once (a full load: every page of every album), then
1% new content arrives (50 items at the head of each album) and the default run reads it
incrementally. Both runs go through the real pipeline into DuckDB against the simulator; the
request counts come from the simulator's own counters. Prints a markdown table.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import dlt

from pixlee import pixlee_source
from pixlee.pipeline import run_source
from pixlee.simulator import Simulator, SimulatorConfig

ALBUMS, MEDIA_PER_ALBUM, NEW_SHARE = 50, 5000, 0.01


def main() -> str:
    config = SimulatorConfig(
        seed=5, albums=ALBUMS, media_per_album=MEDIA_PER_ALBUM, products=0, categories=0,
        rate_limit=10**9,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, Simulator(config) as sim:
        pipeline = dlt.pipeline(  # no progress display: the figures are the output
            pipeline_name="bench_incremental",
            destination=dlt.destinations.duckdb(str(Path(tmp) / "bench.duckdb")),
            dataset_name="pixlee_data",
            pipelines_dir=str(Path(tmp) / "pipelines"),
        )

        def load(**kwargs: object) -> tuple[int, float]:
            sim.stats.reset()
            started = time.perf_counter()
            run_source(
                pipeline,
                pixlee_source(
                    api_key=sim.config.api_key, base_url=sim.base_url, **kwargs
                ).with_resources("albums", "media"),
            )
            return sim.stats.count(), time.perf_counter() - started

        full_requests, full_seconds = load()
        new_per_album = int(MEDIA_PER_ALBUM * NEW_SHARE)
        for album in sim.truth_albums():
            sim.world.add_media(album["id"], count=new_per_album)
        incremental_requests, incremental_seconds = load()
        reload_requests, reload_seconds = load(reconcile="always")
        media = len(sim.truth_media())

    ratio = reload_requests / incremental_requests
    return "\n".join(
        [
            f"Account: {ALBUMS} albums x {MEDIA_PER_ALBUM:,} media; then {NEW_SHARE:.0%} new "
            f"content ({new_per_album} per album, {media:,} media in all).",
            "",
            "| run | requests | seconds |",
            "|---|---:|---:|",
            f"| first load (full) | {full_requests:,} | {full_seconds:.1f} |",
            f"| incremental, 1% new (default) | {incremental_requests:,} | "
            f"{incremental_seconds:.1f} |",
            f'| full reload (`reconcile="always"`) | {reload_requests:,} | {reload_seconds:.1f} |',
            "",
            f"Incremental costs **{ratio:.1f}x fewer requests** than a full reload "
            "(target: >= 20x).",
        ]
    )


if __name__ == "__main__":
    print(main())
