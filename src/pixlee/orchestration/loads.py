"""An account as independent dlt loads: its catalogue, its album shards, its categories.

Each load is its own dlt pipeline, so loads of one account run side by side (other processes,
other machines) without the traps of sharing one pipeline (dlt#1102, #2687, #4052;
dagster#21022):

* its own **pipeline name** (`<account>_albums_<N>_of_<M>`, `<account>_catalog`,
  `<account>_categories`): its own dlt state, so a shard's album cursors are never overwritten
  by another shard, and a rerun of a shard resumes only its own albums;
* its own **staging dataset** (`<dataset>_staging_<pipeline name>`): merges of loads running at
  once never share staging tables (set as explicit destination config, not a process-wide
  environment variable, so loads in one process cannot change each other's);
* the **one dataset** of the account for the tables: every table merges on its key, so shards
  writing `media` or `products` at once never duplicate a row.

Albums are dealt to shards by id (`album_id % shards`): a shard's albums never change while
albums are added or removed, so a shard never loses its cursors to another, and loads that
list the albums at different moments never skip or double an album. Pixlee's album ids are
sequential, so the split is even in count (albums still differ in size).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dlt
from dlt.common.destination import Destination
from dlt.extract.source import DltSource
from dlt.pipeline.pipeline import Pipeline

from pixlee.orchestration.categories import categories_source, category_rows
from pixlee.orchestration.dataset_lock import load_in_turn
from pixlee.orchestration.load_retry import retried_while_pending
from pixlee.orchestration.settings import Account, OrchestrationSettings
from pixlee.pipeline import DUCKDB_FILE, AroundLoad, make_pipeline
from pixlee.pipeline.local_files import absolute_database, claim_for_this_folder
from pixlee.source import pixlee_source
from pixlee.source.settings import ALBUM_SCANS, REJECTED, RUNS

# every load also writes the source's run tables: its `_pixlee_runs` row (and the figures the
# orchestrator shows, `run_metrics`), its album scans, and any rejected item (nothing is lost)
SHARD_RESOURCES = ("media", "products", "statistics", RUNS, ALBUM_SCANS, REJECTED)
CATALOG_RESOURCES = ("albums", "product_media", RUNS, REJECTED)
CATEGORY_RESOURCES = ("categories",)
LoadKind = Literal["catalog", "shard", "categories"]
# the definitions' stand-in sources are never run; this only satisfies the key check
BLUEPRINT_API_KEY = "not-a-key-definitions-only"


# around each load of a shard, the catalog or the categories (`run_source(around_load=…)`): a
# pending package loaded again in place when its load fails, each attempt in turn with the
# other loads into the same dataset
SHARED_DATASET_LOADS: tuple[AroundLoad, ...] = (retried_while_pending, load_in_turn)


def shard_of(album_id: int, shards: int) -> int:
    return album_id % shards


def split_albums(album_ids: Sequence[int], shards: int) -> list[list[int]]:
    """Albums dealt by id: disjoint, covering, and each album's shard fixed while others come
    and go."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    parts: list[list[int]] = [[] for _ in range(shards)]
    for album_id in sorted(set(album_ids)):
        parts[shard_of(album_id, shards)].append(album_id)
    return parts


def shard_pipeline_name(shard: int, shards: int, account: str = "pixlee") -> str:
    return f"{account}_albums_{shard}_of_{shards}"


def staging_layout(pipeline_name: str) -> str:
    return f"%s_staging_{pipeline_name}"


def with_staging_dataset(destination: Destination[Any, Any], pipeline_name: str) -> Any:
    """`destination` with a staging dataset of this pipeline's own (where it has one)."""
    if "staging_dataset_name_layout" not in destination.spec.get_resolvable_fields():
        return destination  # e.g. filesystem: no staging dataset
    own = copy.copy(destination)
    # explicit config params win over config files and the environment
    own.config_params = {
        **destination.config_params,
        "staging_dataset_name_layout": staging_layout(pipeline_name),
    }
    return own


def resolve_destination(destination: Any, duckdb_file: str = DUCKDB_FILE) -> Any:
    """A destination factory from a name (`duckdb` means the file `duckdb_file`) or a factory."""
    if destination == "duckdb":  # an absolute path, as `make_pipeline` (pipeline.local_files)
        return dlt.destinations.duckdb(absolute_database(duckdb_file))
    if isinstance(destination, str):
        return Destination.from_reference(destination)
    return destination


def list_album_ids(source_kwargs: dict[str, Any]) -> list[int]:
    """Every album of the account, listed by the source itself (same key, pacing, retries)."""
    albums = pixlee_source(**{**source_kwargs, "album_ids": None}).with_resources("albums")
    return [row["id"] for row in albums if isinstance(row.get("id"), int)]


@dataclass(frozen=True)
class Load:
    """One dlt load of the plan: an account's catalogue, one album shard, or its categories."""

    account: Account
    kind: LoadKind
    shard: int = 0
    shards: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.shard < self.shards:
            raise ValueError(f"shard must be in 0..{self.shards - 1}, got {self.shard}")

    @property
    def label(self) -> str:
        """`catalog`, `albums_<N>_of_<M>` or `categories`."""
        return f"albums_{self.shard}_of_{self.shards}" if self.kind == "shard" else self.kind

    @property
    def pipeline_name(self) -> str:
        return f"{self.account.name}_{self.label}"

    @property
    def resources(self) -> tuple[str, ...]:
        return {"catalog": CATALOG_RESOURCES, "shard": SHARD_RESOURCES}.get(
            self.kind, CATEGORY_RESOURCES
        )

    def pipeline(
        self, destination: Any, pipelines_dir: str | None = None, duckdb_file: str = DUCKDB_FILE
    ) -> Pipeline:
        """The load's own pipeline (and staging dataset), as `pixlee run` makes one."""
        own = with_staging_dataset(
            resolve_destination(destination, duckdb_file), self.pipeline_name
        )
        pipeline = make_pipeline(
            destination=own,
            dataset_name=self.account.dataset_name,
            pipeline_name=self.pipeline_name,
            progress="log",
            pipelines_dir=pipelines_dir,
        )
        # a DuckDB file belongs to this folder, and so must the state (pipeline.local_files)
        return claim_for_this_folder(pipeline) if destination == "duckdb" else pipeline

    def shard_album_ids(self, source_kwargs: dict[str, Any]) -> list[int]:
        """This shard's albums: of the configured `album_ids`, else of all the account's."""
        album_ids = self.account.configured_album_ids()
        if album_ids is None:
            album_ids = list_album_ids(source_kwargs)
        return split_albums(album_ids, self.shards)[self.shard]

    def source(self, pipeline: Pipeline) -> DltSource | None:
        """The source to run now (reads config and, for a shard, lists the albums); None for a
        shard without albums (an account with fewer albums than shards): nothing to load."""
        if self.kind == "categories":
            return categories_source(category_rows(pipeline))
        kwargs = self.account.source_kwargs()
        if self.kind == "shard":
            kwargs["album_ids"] = self.shard_album_ids(kwargs)
            if not kwargs["album_ids"]:  # fewer albums than shards: nothing to load here
                return None
        source: DltSource = pixlee_source(**kwargs).with_resources(*self.resources)
        return source

    def blueprint_source(self) -> DltSource:
        """A stand-in with the same resources, for definitions: no key, no request, no limiter
        backend (pacing off), whatever the config holds."""
        if self.kind == "categories":
            return categories_source([])
        source: DltSource = pixlee_source(
            api_key=BLUEPRINT_API_KEY,
            album_ids=None,
            skus=[],
            rate_limit_per_minute=0,
            write_rate_limit_per_minute=0,
        ).with_resources(*self.resources)
        return source


def plan(settings: OrchestrationSettings) -> list[Load]:
    """Every load of every account: catalogue, shards, then categories."""
    loads: list[Load] = []
    for account in settings.accounts:
        loads.append(Load(account, "catalog"))
        loads.extend(Load(account, "shard", n, settings.shards) for n in range(settings.shards))
        loads.append(Load(account, "categories"))
    return loads
