"""Exactly-once load jobs: a job that committed runs again as a no-op; what they keep and clear.

The end-to-end proof is in tests/integration/test_crash_recovery.py (kill -9 in the window
between a job's commit and dlt's record of it); these pin the parts: which destinations and
jobs are exactly-once, the records, and that the factories keep dlt's names and arguments.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.common.destination.client import RunnableLoadJob
from dlt.common.storages.load_package import ParsedLoadJobFileName
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.impl.duckdb.duck import DuckDbClient
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline import exactly_once, make_pipeline
from pixlee.pipeline.exactly_once import DuckDbExactlyOnceClient, exactly_once_variant
from tests.support.dataset import rows

ITEMS = [{"id": n, "tags": [{"t": f"{n}-{i}"} for i in range(3)]} for n in range(4)]


def _pipeline(tmp_path: Path, destination: Any, name: str = "once") -> Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        destination=destination,
        dataset_name="data",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def _run_every_copy_job_again(pipeline: Pipeline, load_id: str) -> None:
    """Run each copy job of a loaded package once more, as dlt resumes a job it had started
    but not recorded (a kill between the job's commit and its record): same load, same file,
    same dataset."""
    client = pipeline.destination_client()
    jobs = Path(pipeline.working_dir, "load", "normalized", load_id, "completed_jobs")
    copies = [p for p in sorted(jobs.iterdir()) if not p.name.endswith(".sql")]
    assert copies
    for path in copies:
        parsed = ParsedLoadJobFileName.parse(path.name)
        table = client.prepare_load_table(parsed.table_name)
        job = client.create_load_job(table, str(path), load_id, restore=True)
        assert isinstance(job, RunnableLoadJob)
        job.set_run_vars(load_id, pipeline.default_schema, table)
        staging = client.should_load_data_to_staging_dataset(parsed.table_name)
        with client.with_staging_dataset() if staging else nullcontext():
            job.run_managed(client, None)
        assert job.state() == "completed", job.exception()


def _staged(pipeline: Pipeline, table: str) -> int:
    with pipeline.sql_client() as client, client.with_staging_dataset():
        name = client.make_qualified_table_name(table)
        return int(client.execute_sql(f"SELECT count(*) FROM {name}")[0][0])


class CompletionFails(Exception):
    pass


def _not_completing(client_class: type[Any], factory: type[Any]) -> Any:
    """The destination with a package completion that fails: every job of the package has
    committed and is recorded as done, the package stays pending (as after a kill there)."""

    class Client(client_class):  # type: ignore[misc, valid-type]
        def complete_load(self, load_id: str) -> None:
            raise CompletionFails(load_id)

    class not_completing(factory):  # type: ignore[misc, valid-type]  # noqa: N801
        @property
        def client_class(self) -> Any:
            return Client

    return not_completing


@pytest.mark.parametrize("file_format", ["parquet", "jsonl", "insert_values"])
@pytest.mark.parametrize("destination", ["exactly_once", "dlt"])
def test_a_job_run_again_for_the_same_load_changes_nothing(
    tmp_path: Path, file_format: str, destination: str
) -> None:
    if destination == "exactly_once":
        factory = _not_completing(DuckDbExactlyOnceClient, exactly_once.duckdb)
    else:
        factory = _not_completing(DuckDbClient, dlt.destinations.duckdb)
    pipeline = _pipeline(tmp_path, factory(str(tmp_path / "x.duckdb"), destination_name="duckdb"))
    with pytest.raises(PipelineStepFailed, match="CompletionFails"):
        pipeline.run(
            ITEMS,
            table_name="items",
            write_disposition="merge",
            primary_key="id",
            loader_file_format=file_format,  # type: ignore[arg-type]
        )
    (load_id,) = pipeline.list_normalized_load_packages()
    assert _staged(pipeline, "items__tags") == 12
    _run_every_copy_job_again(pipeline, load_id)
    # dlt's own job inserts its file again (the control); the exactly-once one does not
    once = destination == "exactly_once"
    assert _staged(pipeline, "items__tags") == (12 if once else 24)
    assert _staged(pipeline, "items") == (4 if once else 8)
    assert len(rows(pipeline, "_dlt_pipeline_state")) == (1 if once else 2)


def test_the_records_go_with_the_completed_load(tmp_path: Path) -> None:
    pipeline = make_pipeline(
        destination=dlt.destinations.duckdb(str(tmp_path / "x.duckdb")),
        pipeline_name="records",
        pipelines_dir=str(tmp_path / "pipelines"),
        progress="log",
    )
    pipeline.run(ITEMS, table_name="items", write_disposition="merge", primary_key="id")
    pipeline.run(ITEMS[:2], table_name="items", write_disposition="merge", primary_key="id")
    assert rows(pipeline, "_pixlee_load_jobs") == []
    loads = [r["load_id"] for r in rows(pipeline, "_dlt_loads")]
    assert len(loads) == len(set(loads)) == 2


def test_a_completion_run_again_records_the_load_once(tmp_path: Path) -> None:
    pipeline = make_pipeline(
        destination=dlt.destinations.duckdb(str(tmp_path / "x.duckdb")),
        pipeline_name="complete",
        pipelines_dir=str(tmp_path / "pipelines"),
        progress="log",
    )
    info = pipeline.run(ITEMS, table_name="items")
    with pipeline.destination_client() as client:
        client.complete_load(info.loads_ids[0])  # as dlt does when a kill came after it
    assert [r["load_id"] for r in rows(pipeline, "_dlt_loads")] == info.loads_ids


def test_duckdb_and_postgres_get_their_exactly_once_variant(tmp_path: Path) -> None:
    path = str(tmp_path / "x.duckdb")
    upgraded = exactly_once_variant(dlt.destinations.duckdb(path, create_indexes=True))
    assert isinstance(upgraded, exactly_once.duckdb)
    assert upgraded.config_params["credentials"] == path
    assert upgraded.config_params["create_indexes"] is True
    assert upgraded.destination_name == "duckdb"  # [destination.duckdb] config still applies
    assert isinstance(exactly_once_variant("postgres"), exactly_once.postgres)
    assert exactly_once_variant("postgres").destination_name == "postgres"
    lake = dlt.destinations.filesystem("file:///tmp/lake")
    assert exactly_once_variant(lake) is lake
    assert exactly_once_variant("bigquery") == "bigquery"


def test_a_later_process_finds_the_destination_by_its_reference(tmp_path: Path) -> None:
    """dlt keeps the destination type in the pipeline's state; `dlt.pipeline(name)` without a
    destination (the dashboard, notebooks) must resolve it again."""
    path = str(tmp_path / "x.duckdb")
    pipeline = _pipeline(tmp_path, exactly_once.duckdb(path), "by_reference")
    pipeline.run(ITEMS, table_name="items")
    again = dlt.pipeline("by_reference", pipelines_dir=str(tmp_path / "pipelines"))
    assert type(again.destination) is exactly_once.duckdb
    assert again.destination.destination_type == "pixlee.pipeline.exactly_once.duckdb"
    by_name = dlt.pipeline(
        "by_name",
        destination="pixlee.pipeline.exactly_once.duckdb",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    assert type(by_name.destination) is exactly_once.duckdb


def test_a_plain_run_loads_under_the_factorys_memory_cap_and_job_count(tmp_path: Path) -> None:
    """`dlt.pipeline(destination=exactly_once.duckdb(...)).run(...)` gets the same DuckDB
    settings and load parallelism as `make_pipeline`: the load's peak depends on both."""
    from dlt.load.configuration import LoaderConfiguration
    from dlt.load.utils import get_available_worker_slots

    pipeline = _pipeline(tmp_path, exactly_once.duckdb(str(tmp_path / "x.duckdb")), "caps")
    pipeline.run(ITEMS, table_name="items")
    with pipeline.sql_client() as client:
        limit = client.execute_sql("SELECT current_setting('memory_limit')")[0][0]
    with duckdb.connect(config={"memory_limit": "128MB"}) as reference:
        expected = reference.execute("SELECT current_setting('memory_limit')").fetchone()
    assert expected is not None and limit == expected[0]  # as this DuckDB writes 128MB
    assert exactly_once.DUCKDB_DEFAULTS["memory_limit"] == "128MB"
    caps = pipeline.destination.capabilities()
    assert caps.max_parallel_load_jobs == exactly_once.PARALLEL_LOAD_JOBS == 2
    dlt_default = LoaderConfiguration(workers=20)
    assert get_available_worker_slots(dlt_default, caps, []) == 2
    chosen = exactly_once.duckdb(str(tmp_path / "y.duckdb"), max_parallel_load_jobs=6)
    assert get_available_worker_slots(dlt_default, chosen.capabilities(), []) == 6


DEDUPLICATED = {"disposition": "merge", "strategy": "delete-insert", "deduplicated": True}


def _merge_jobs(pipeline: Pipeline, load_id: str) -> list[str]:
    jobs = pipeline.get_load_package_info(load_id).jobs["completed_jobs"]
    return sorted(job.job_file_info.table_name for job in jobs if job.file_path.endswith(".sql"))


def _tags(pipeline: Pipeline) -> dict[int, list[str]]:
    """Each item's tags in list order, read through the parent ids."""
    ids = {r["_dlt_id"]: r["id"] for r in rows(pipeline, "items")}
    tags: dict[int, list[tuple[int, str]]] = {}
    for row in rows(pipeline, "items__tags"):
        tags.setdefault(ids[row["_dlt_parent_id"]], []).append((row["_dlt_list_idx"], row["t"]))
    return {key: [t for _, t in sorted(found)] for key, found in sorted(tags.items())}


def test_a_deduplicated_merge_into_empty_tables_loads_them_straight_then_merges(
    tmp_path: Path,
) -> None:
    """The first load copies into the final tables (no staging table, no merge job) and the
    choice is in the package's state; the next load into those tables merges as dlt does."""
    pipeline = _pipeline(tmp_path, exactly_once.duckdb(str(tmp_path / "x.duckdb")), "direct")
    first = pipeline.run(
        ITEMS, table_name="items", write_disposition=DEDUPLICATED, primary_key="id"
    )
    load_id = first.loads_ids[0]
    assert "items" not in _merge_jobs(pipeline, load_id)
    state = pipeline.get_load_package_state(load_id)["destination_state"]  # type: ignore[typeddict-item]
    assert state[exactly_once.DIRECT_MERGES]["items"] is True
    with pytest.raises(DatabaseUndefinedRelation):
        _staged(pipeline, "items")
    assert _tags(pipeline) == {n: [f"{n}-{i}" for i in range(3)] for n in range(4)}

    changed = [{"id": 1, "tags": [{"t": "new"}]}, {"id": 9, "tags": []}]
    second = pipeline.run(
        changed, table_name="items", write_disposition=DEDUPLICATED, primary_key="id"
    )
    assert _merge_jobs(pipeline, second.loads_ids[0]) == ["items"]
    assert sorted(r["id"] for r in rows(pipeline, "items")) == [0, 1, 2, 3, 9]
    assert _tags(pipeline) == {
        0: ["0-0", "0-1", "0-2"],
        1: ["new"],
        2: ["2-0", "2-1", "2-2"],
        3: ["3-0", "3-1", "3-2"],
    }


@pytest.mark.parametrize(
    "hints",
    [
        {"write_disposition": "merge"},  # dlt's merge deduplicates the staging rows itself
        {"write_disposition": {**DEDUPLICATED, "strategy": "upsert"}},
        {"write_disposition": DEDUPLICATED, "columns": {"gone": {"hard_delete": True}}},
        {"write_disposition": DEDUPLICATED, "columns": {"id": {"dedup_sort": "desc"}}},
        {"write_disposition": {**DEDUPLICATED, "source_filter": "id < 3"}},
    ],
    ids=["not deduplicated", "upsert", "hard delete", "dedup sort", "source filter"],
)
def test_other_merges_into_empty_tables_stay_staged(tmp_path: Path, hints: dict[str, Any]) -> None:
    """Where dlt's merge would do more than copy (deduplicate, upsert, delete rows), the
    first load goes through staging and its merge job, and loads what dlt loads."""
    pipeline = _pipeline(tmp_path, exactly_once.duckdb(str(tmp_path / "x.duckdb")), "staged")
    items = [{**item, "gone": False} for item in ITEMS]
    info = pipeline.run(items, table_name="items", primary_key="id", **hints)
    assert _merge_jobs(pipeline, info.loads_ids[0]) == ["items"]
    assert _staged(pipeline, "items") == 4
    kept = range(3) if "source_filter" in str(hints) else range(4)  # dlt's merge drops id 3
    assert _tags(pipeline) == {n: [f"{n}-{i}" for i in range(3)] for n in kept}


def test_a_package_with_a_job_loaded_before_the_choice_stays_staged(tmp_path: Path) -> None:
    """A package resumed with jobs already recorded but no choice in its state began staged
    (by a version before the choice): it finishes staged and merges, or its staged rows
    would never reach the final tables."""

    class BegunStaged(DuckDbExactlyOnceClient):
        def _may_load_direct(self, root: str, load_id: str) -> bool:
            self.record_job(load_id, "an-earlier-job.parquet")  # as if loaded before
            return super()._may_load_direct(root, load_id)

    class begun_staged(exactly_once.duckdb):  # noqa: N801
        @property
        def client_class(self) -> Any:
            return BegunStaged

    pipeline = _pipeline(tmp_path, begun_staged(str(tmp_path / "x.duckdb")), "begun")
    info = pipeline.run(ITEMS, table_name="items", write_disposition=DEDUPLICATED, primary_key="id")
    assert _merge_jobs(pipeline, info.loads_ids[0]) == ["items"]
    assert _tags(pipeline) == {n: [f"{n}-{i}" for i in range(3)] for n in range(4)}


class ChildJobFails(Exception):
    pass


def test_a_package_begun_staged_and_resumed_past_its_initialization_merges(
    tmp_path: Path,
) -> None:
    """A package begun by a version without the choice (always staged, none in its state),
    stopped with its root's copy done: resumed, dlt skips initialization and asks first when
    it creates the child's job, on a client it has not opened. It finishes staged, and its
    merge brings the rows staged before the stop."""

    class Before(DuckDbExactlyOnceClient):
        def merges_into_empty(self, table_name: str) -> bool:
            return False

        def create_load_job(
            self, table: Any, file_path: str, load_id: str, restore: bool = False
        ) -> Any:
            if table["name"] == "items__tags":
                raise ChildJobFails(file_path)
            return super().create_load_job(table, file_path, load_id, restore)

    class before(exactly_once.duckdb):  # noqa: N801
        @property
        def client_class(self) -> Any:
            return Before

    path = str(tmp_path / "x.duckdb")
    pipeline = _pipeline(tmp_path, before(path), "resumed")
    with pytest.raises(PipelineStepFailed, match="ChildJobFails"):
        pipeline.run(ITEMS, table_name="items", write_disposition=DEDUPLICATED, primary_key="id")
    (load_id,) = pipeline.list_normalized_load_packages()
    assert _staged(pipeline, "items") == 4  # the root's copy, done before the stop
    resumed = _pipeline(tmp_path, exactly_once.duckdb(path), "resumed")
    resumed.load()
    assert _merge_jobs(resumed, load_id) == ["items"]
    state = resumed.get_load_package_state(load_id)["destination_state"]  # type: ignore[typeddict-item]
    assert state[exactly_once.DIRECT_MERGES] == {"items": False}
    assert _tags(resumed) == {n: [f"{n}-{i}" for i in range(3)] for n in range(4)}
