"""Micro-benchmark: what a page costs on today's path and on `JsonPages`, and how much of it
holds the GIL (issue 21, phase 1; not part of `make bench` yet).

Today: orjson decodes the body in a page thread, `MediaTables.build` lays batches of pages out
on the main thread. `JsonPages`: `parse` (pyarrow's JSON reader) in a page thread, `build` on
the main thread. Both take the same simulator bodies, batches of 20 pages (`MediaItems`'
2,000 items), interleaved A/B in every round so a loaded machine slows both alike.

CPU is the running thread's own CPU time (`time.thread_time`), which a loaded machine
inflates far less than wall time. GIL: orjson and `MediaTables` hold it throughout (orjson
never releases it; `MediaTables` converts Python objects); in `JsonPages.parse` the JSON
reader's C++ releases it, so the parse's GIL-held CPU is its CPU less that spent inside
`read_json` in the same calls (`parse_gil`). `JsonPages.build` is counted as held throughout,
an upper bound: `py-spy record --gil` saw it hold the GIL about half its time (its kernels
release it), the parse ~11%, orjson and `MediaTables` ~95%.

    .venv/bin/python -m bench.json_pages [--rounds 5] [--media-per-album 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import dlt
import orjson
import pyarrow.json as pa_json
import requests

from pixlee.simulator import Simulator, SimulatorConfig
from pixlee.source.arrow.json_pages import JsonPages, ParsedPage
from pixlee.source.arrow.tables import MediaTables, TableSpec
from pixlee.source.columns import MEDIA_COLUMNS, PRODUCT_COLUMNS, Columns

BATCH_PAGES = 20
NAMING = dlt.Schema("bench_json_pages").naming


def _listing(sim: Simulator, album_id: int) -> list[bytes]:
    """Every page of an album's listing, as the simulator sends it."""
    bodies: list[bytes] = []
    while not bodies or orjson.loads(bodies[-1])["next"]:
        query = {"api_key": sim.config.api_key, "per_page": 100, "page": len(bodies) + 1}
        url = f"{sim.base_url}/albums/{album_id}/photos"
        response = requests.get(url, params=query, timeout=30)
        response.raise_for_status()
        bodies.append(response.content)
    return bodies


def _bodies(media_per_album: int) -> list[bytes]:
    config = SimulatorConfig(albums=4, media_per_album=media_per_album, products=40, seed=11)
    with Simulator(config) as sim:
        return [
            body
            for album in sim.truth_albums()
            for body in _listing(sim, album["id"])
            if len(orjson.loads(body)["data"]) == 100
        ]


def _known_after_a_batch(specs: Sequence[TableSpec]) -> Callable[[str], dict[str, str]]:
    """Hints plus what one loaded batch pins (the live schema during a run)."""
    dlt_types = {"int64": "bigint", "double": "double", "bool": "bool", "string": "text"}
    seen: dict[str, dict[str, str]] = {}
    for spec in specs:
        for column in spec.table.schema:
            kind = "json" if column.name in spec.json_columns else dlt_types.get(str(column.type))
            if kind and not column.name.startswith("_dlt_"):
                seen.setdefault(spec.name, {})[column.name] = kind

    def known(table: str) -> dict[str, str]:
        hints: Columns = {"media": MEDIA_COLUMNS, "media__products": PRODUCT_COLUMNS}.get(table, {})
        return {**seen.get(table, {}), **{n: str(h["data_type"]) for n, h in hints.items()}}

    return known


def _batches(seq: Sequence[Any]) -> list[Sequence[Any]]:
    return [seq[i : i + BATCH_PAGES] for i in range(0, len(seq), BATCH_PAGES)]


def _cpu(work: Callable[[], Any]) -> float:
    start = time.thread_time()
    work()
    return time.thread_time() - start


class Stages:
    """The four stages over all bodies; each returns nothing, run for their cost."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        first = MediaTables("media", NAMING, 2, lambda t: {}).build(
            [(orjson.loads(bodies[0])["data"], None)], "load"
        )
        self.known = _known_after_a_batch(first)
        self.pages = JsonPages("media", NAMING, 2, self.known, required=["album_photo_id"])
        self.pages.learn(orjson.loads(bodies[0]))
        self.items = [orjson.loads(body)["data"] for body in bodies]
        self.builder = MediaTables("media", NAMING, 2, self.known, required=["album_photo_id"])
        self.parsed: list[ParsedPage] = [self.pages.parse(body) for body in bodies]
        fell_back = [p.reason for p in self.parsed if p.items is None]
        assert not fell_back, fell_back

    def orjson_parse(self) -> None:
        for body in self.bodies:
            orjson.loads(body)

    def mediatables_build(self) -> None:
        for batch in _batches(self.items):  # one builder for a run, as `MediaItems` keeps it
            self.builder.build([(items, None) for items in batch], "load")

    def arrow_parse(self) -> None:
        for body in self.bodies:
            self.pages.parse(body)

    def arrow_parse_outside_reader(self) -> float:
        """CPU of `arrow_parse` less that spent inside `read_json` in the same calls (the
        reader's C++ runs without the GIL; the rest of the parse holds it)."""
        inside = [0.0]
        read_json = pa_json.read_json

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return read_json(*args, **kwargs)
            finally:
                inside[0] += time.thread_time() - start

        pa_json.read_json = timed
        try:
            total = _cpu(self.arrow_parse)
        finally:
            pa_json.read_json = read_json
        return total - inside[0]

    def arrow_build(self) -> None:
        for batch in _batches(self.parsed):
            self.pages.build([(page, None) for page in batch], "load")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--media-per-album", type=int, default=1000)
    args = parser.parse_args(argv)
    stages = Stages(_bodies(args.media_per_album))
    pages = len(stages.bodies)
    names = ("orjson_parse", "mediatables_build", "arrow_parse", "arrow_build")
    cpu: dict[str, list[float]] = {name: [] for name in (*names, "parse_gil")}
    for _ in range(args.rounds):
        for name in names:  # A and B interleaved within every round
            cpu[name].append(_cpu(getattr(stages, name)) / pages * 1000)
        cpu["parse_gil"].append(stages.arrow_parse_outside_reader() / pages * 1000)
    ms = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"{pages} pages of 100 media, batches of {BATCH_PAGES} pages, {args.rounds} rounds")
    for name in (*names, "parse_gil"):
        spread = f"{min(cpu[name]):.2f}-{max(cpu[name]):.2f}"
        print(f"  {name:<18} CPU {ms[name]:6.2f} ms/page (median; {spread})")
    today_cpu = ms["orjson_parse"] + ms["mediatables_build"]
    mine_cpu = ms["arrow_parse"] + ms["arrow_build"]
    mine_gil = ms["parse_gil"] + ms["arrow_build"]
    for label, total, held in (("today", today_cpu, today_cpu), ("json_pages", mine_cpu, mine_gil)):
        print(
            f"{label:<11} CPU {total:5.2f} ms/page, GIL held {held:5.2f} ms/page;"
            f" 100,000 media (1,000 pages): CPU {total:5.2f} s, GIL {held:5.2f} s"
        )


if __name__ == "__main__":
    main()
