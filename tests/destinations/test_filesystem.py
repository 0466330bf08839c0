"""The filesystem destination (a local folder standing in for a bucket): parquet files and delta
tables, read back with pyarrow/deltalake (not through dlt) and compared with the truth."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
from deltalake import DeltaTable

from pixlee.pipeline import DATASET_NAME, run_source
from pixlee.simulator import Simulator
from tests.destinations.conftest import lake_pipeline
from tests.destinations.scenarios import (
    assert_edit_merged,
    assert_full_load,
    columns,
    row_counts,
    source,
)
from tests.support.dataset import assert_rows_match


def parquet_rows(lake: Path, table: str, load_id: str | None = None) -> list[dict[str, Any]]:
    """Every row of a table's parquet files, or only those of one load.

    Files are laid out `<dataset>/<table>/<load_id>.<file_id>.parquet` (dlt's default layout),
    which is how child tables, without a `_dlt_load_id` column, are told apart by load.
    """
    folder = lake / DATASET_NAME / table
    files = sorted(folder.glob(f"{load_id}.*.parquet" if load_id else "*.parquet"))
    assert files, f"no parquet files in {folder}"
    rows: list[dict[str, Any]] = (
        ds.dataset([str(f) for f in files], format="parquet").to_table().to_pylist()
    )
    return rows


def delta_rows(lake: Path, table: str) -> list[dict[str, Any]]:
    table_dir = lake / DATASET_NAME / table
    assert (table_dir / "_delta_log").is_dir(), f"{table_dir} is not a delta table"
    rows: list[dict[str, Any]] = DeltaTable(str(table_dir)).to_pyarrow_table().to_pylist()
    return rows


def test_parquet_files_equal_ground_truth(
    shared_sim: Simulator, lake: Path, tmp_path: Path
) -> None:
    pipeline = lake_pipeline(lake, tmp_path)
    skus = shared_sim.skus()[:2]
    info = run_source(pipeline, source(shared_sim, skus=skus))
    assert not info.has_failed_jobs
    media_files = list((lake / DATASET_NAME / "media").iterdir())
    assert media_files and all(f.suffix == ".parquet" for f in media_files)
    assert_full_load(shared_sim, pipeline, lambda table: parquet_rows(lake, table), skus)


def latest_by_key(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Each key's row from the newest load: how an append-only table is read as current."""
    latest: dict[Any, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["_dlt_load_id"]):
        latest[row[key]] = row
    return list(latest.values())


def test_parquet_reruns_append_and_the_newest_rows_equal_truth(
    sim: Simulator, lake: Path, tmp_path: Path
) -> None:
    """Plain files cannot be updated in place: dlt appends (with a warning), so a rerun adds
    what it read (an incremental scan: new and changed media), told apart by `_dlt_load_id`.
    The newest row per key is the current table. Use a table format (delta) to merge."""
    pipeline = lake_pipeline(lake, tmp_path)
    first = run_source(pipeline, source(sim))
    edited = sim.truth_media()[3]["album_photo_id"]
    sim.world.edit_media(edited, title="changed in Pixlee")
    second = run_source(pipeline, source(sim))
    assert first.loads_ids != second.loads_ids

    all_media = parquet_rows(lake, "media")
    assert {r["_dlt_load_id"] for r in all_media} == {*first.loads_ids, *second.loads_ids}
    reloaded = [r for r in all_media if r["_dlt_load_id"] in second.loads_ids]
    assert edited in {r["album_photo_id"] for r in reloaded}
    current = latest_by_key(all_media, "album_photo_id")
    assert_rows_match(sim.truth_media(), current, "album_photo_id", columns(pipeline, "media"))
    assert next(r for r in current if r["album_photo_id"] == edited)["title"] == (
        "changed in Pixlee"
    )


def test_delta_tables_equal_truth_merge_and_rerun(
    sim: Simulator, lake: Path, tmp_path: Path
) -> None:
    pipeline = lake_pipeline(lake, tmp_path, name="pixlee_delta_test")
    skus = sim.skus()[:1]

    def read(table: str) -> list[dict[str, Any]]:
        return delta_rows(lake, table)

    info = run_source(pipeline, source(sim, skus=skus), table_format="delta")
    assert not info.has_failed_jobs
    assert_full_load(sim, pipeline, read, skus)
    first = row_counts(read)

    run_source(pipeline, source(sim, skus=skus), table_format="delta")
    assert row_counts(read) == first

    edited = sim.truth_media()[7]["album_photo_id"]
    sim.world.edit_media(edited, title="changed in Pixlee")
    run_source(pipeline, source(sim, skus=skus), table_format="delta")
    assert_edit_merged(sim, read, edited, "changed in Pixlee")
    assert row_counts(read) == first
    # statistics merge on (album_id, snapshot_at): no snapshot is stored twice
    snapshots = Counter((r["album_id"], r["snapshot_at"]) for r in read("statistics"))
    assert snapshots and set(snapshots.values()) == {1}
