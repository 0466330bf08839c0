"""Run one shard of a Pixlee load: a fixed share of the albums, in a pipeline of its own.

Orchestrators (the GitHub Actions workflow beside this file, an Airflow task, cron) run
`python deploy/pixlee_shard.py --shard N --shards M` as M parallel tasks. Each shard:

* lists the albums and keeps those with `album_id % M == N`: every album belongs to exactly one
  shard, and to the same one while other albums are added or removed;
* runs pipeline `pixlee_albums_<N>_of_<M>`: its own dlt state, so shards never overwrite each
  other's state, and a rerun of a shard resumes only its own albums;
* loads `media`, `products` and `statistics` into the shared dataset (merge on their keys, so
  shards writing the same tables never duplicate) through a staging dataset of its own
  (`pixlee_data_staging_pixlee_albums_<N>_of_<M>`): two shards merging at once never share
  staging tables;
* `--catalog` instead runs pipeline `pixlee_catalog` for `albums` and the SKUs' `product_media`;
* `--categories` (after every shard and the catalog) computes `categories` from the dataset;
* on Postgres, loads into the dataset take turns (`pixlee.orchestration.dataset_lock`: two
  shards merging the same product at once would both insert it).

The loads are `pixlee.orchestration.loads`, the same the Dagster code location runs
(`pixlee.orchestration.dagster`): the pipelines, states and staging datasets are the same,
so a deployment can move from one to the other and keep its state.

All shards pace on one budget when `[sources.pixlee_source] rate_limit_backend` (or
SOURCES__PIXLEE_SOURCE__RATE_LIMIT_BACKEND) names a Redis server they all reach.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from pixlee.orchestration.loads import (
    CATALOG_RESOURCES,
    SHARD_RESOURCES,
    SHARED_DATASET_LOADS,
    Load,
    list_album_ids,
    shard_pipeline_name,
    split_albums,
)
from pixlee.orchestration.settings import Account

__all__ = [
    "CATALOG_RESOURCES",
    "SHARD_RESOURCES",
    "list_album_ids",
    "main",
    "run",
    "shard_pipeline_name",
    "split_albums",
]


def run(
    shard: int | None,
    shards: int,
    destination: Any = "duckdb",
    dataset: str = "pixlee_data",
    skus: Sequence[str] = (),
    source_kwargs: dict[str, Any] | None = None,
    pipelines_dir: str | None = None,
    categories: bool = False,
) -> Any:
    """Load one shard (or, with `shard=None`, the catalog, or the categories); dlt's LoadInfo."""
    from pixlee.pipeline import run_source

    overrides = dict(source_kwargs or {})
    if skus:
        overrides["skus"] = list(skus)
    account = Account(dataset_name=dataset, overrides=overrides)
    if categories:
        load = Load(account, "categories")
    elif shard is None:
        load = Load(account, "catalog")
    else:
        load = Load(account, "shard", shard, shards)
    pipeline = load.pipeline(destination, pipelines_dir)
    source = load.source(pipeline)
    if source is None:
        return f"{load.pipeline_name}: no album in this shard, nothing to load"
    return run_source(pipeline, source, around_load=SHARED_DATASET_LOADS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--shard", type=int, help="this task's shard, 0-based")
    target.add_argument("--catalog", action="store_true", help="load albums and product_media")
    target.add_argument("--categories", action="store_true", help="categories, after the rest")
    parser.add_argument("--shards", type=int, default=1, help="how many shards in all")
    parser.add_argument("--destination", default="duckdb", help="dlt destination name")
    parser.add_argument("--dataset", default="pixlee_data")
    parser.add_argument("--skus", default="", help="comma-separated SKUs (catalog)")
    args = parser.parse_args(argv)
    skus = [s for s in args.skus.split(",") if s.strip()]
    shard = None if args.catalog or args.categories else args.shard
    info = run(shard, args.shards, args.destination, args.dataset, skus, categories=args.categories)
    print(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
