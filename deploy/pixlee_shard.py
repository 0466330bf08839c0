"""Run one shard of a Pixlee load: a fixed share of the albums, in a pipeline of its own.

Orchestrators (the GitHub Actions workflow beside this file, an Airflow or Dagster task) run
`python deploy/pixlee_shard.py --shard N --shards M` as M parallel tasks. Each shard:

* reads the album list once and keeps the albums whose position (by id) is N modulo M, so the
  split is stable from run to run and every album belongs to exactly one shard;
* runs pipeline `pixlee_albums_<N>_of_<M>`: its own dlt state, so shards never overwrite each
  other's state, and a rerun of a shard resumes only its own albums;
* loads `media`, `products` and `statistics` into the shared dataset (merge on their keys, so
  shards writing the same tables never duplicate) through a staging dataset of its own
  (`pixlee_data_staging_<N>_of_<M>`): two shards merging at once never share staging tables;
* `--catalog` instead runs pipeline `pixlee_catalog` for `albums` and the SKUs' `product_media`.

`categories` needs every album in one scan, so sharded runs leave it out: run the unsharded
`pixlee run` now and then, or count `media__tag_album_ids` in SQL.

All shards pace on one budget when `[sources.pixlee_source] rate_limit_backend` (or
SOURCES__PIXLEE_SOURCE__RATE_LIMIT_BACKEND) names a Redis server they all reach.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

SHARD_RESOURCES = ("media", "products", "statistics")
CATALOG_RESOURCES = ("albums", "product_media")


def shard_pipeline_name(shard: int, shards: int) -> str:
    return f"pixlee_albums_{shard}_of_{shards}"


def split_albums(album_ids: Sequence[int], shards: int) -> list[list[int]]:
    """Albums dealt round-robin by id: disjoint, covering, and stable while albums are added."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    ordered = sorted(set(album_ids))
    return [ordered[i::shards] for i in range(shards)]


def list_album_ids(**client_kwargs: Any) -> list[int]:
    from pixlee.api.client import PixleeClient

    with PixleeClient(**client_kwargs) as client:
        return [
            item["id"]
            for page in client.iter_albums()
            for item in page.items
            if isinstance(item.get("id"), int)
        ]


def run(
    shard: int | None,
    shards: int,
    destination: Any = "duckdb",
    dataset: str = "pixlee_data",
    skus: Sequence[str] = (),
    source_kwargs: dict[str, Any] | None = None,
    pipelines_dir: str | None = None,
) -> Any:
    """Load one shard (or, with `shard=None`, the catalog); returns dlt's LoadInfo."""
    from pixlee.pipeline import make_pipeline, run_source
    from pixlee.source import pixlee_source

    source_kwargs = dict(source_kwargs or {})
    if shard is None:
        name = "pixlee_catalog"
        source = pixlee_source(skus=list(skus), **source_kwargs).with_resources(*CATALOG_RESOURCES)
    else:
        if not 0 <= shard < shards:
            raise ValueError(f"shard must be in 0..{shards - 1}, got {shard}")
        client_kwargs = {k: source_kwargs[k] for k in ("api_key", "base_url") if k in source_kwargs}
        albums = split_albums(list_album_ids(**client_kwargs), shards)[shard]
        name = shard_pipeline_name(shard, shards)
        if not albums:
            print(f"{name}: no albums in this shard, nothing to load")
            return None
        source = pixlee_source(album_ids=albums, **source_kwargs).with_resources(*SHARD_RESOURCES)
    # one staging dataset per pipeline: concurrent merges must not share staging tables
    os.environ["DESTINATION__STAGING_DATASET_NAME_LAYOUT"] = f"%s_staging_{name}"
    pipeline = make_pipeline(
        destination=destination,
        dataset_name=dataset,
        pipeline_name=name,
        progress="log",
        pipelines_dir=pipelines_dir,
    )
    return run_source(pipeline, source)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--shard", type=int, help="this task's shard, 0-based")
    target.add_argument("--catalog", action="store_true", help="load albums and product_media")
    parser.add_argument("--shards", type=int, default=1, help="how many shards in all")
    parser.add_argument("--destination", default="duckdb", help="dlt destination name")
    parser.add_argument("--dataset", default="pixlee_data")
    parser.add_argument("--skus", default="", help="comma-separated SKUs (catalog)")
    args = parser.parse_args(argv)
    skus = [s for s in args.skus.split(",") if s.strip()]
    info = run(
        None if args.catalog else args.shard, args.shards, args.destination, args.dataset, skus
    )
    print(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
