"""The production recipe: the GitHub Actions workflow is valid and sharded without overlapping
state, and the shard runner it calls really splits the albums and loads them all."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import dlt
import duckdb
import pytest
import yaml

from pixlee.simulator import Simulator
from tests.destinations.services import REPO
from tests.support.dataset import assert_rows_match

WORKFLOW = REPO / "deploy" / "github-actions" / "pixlee.yml"


def _shard_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "pixlee_shard", REPO / "deploy" / "pixlee_shard.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_workflow_shards_albums_with_one_pipeline_and_lock_per_shard() -> None:
    workflow: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    shards = int(workflow["env"]["SHARDS"])
    albums = workflow["jobs"]["albums"]
    assert albums["strategy"]["matrix"]["shard"] == list(range(shards))
    assert "${{ matrix.shard }}" in albums["concurrency"]["group"]
    assert albums["concurrency"]["cancel-in-progress"] is False
    commands = [step["run"] for step in albums["steps"] if "run" in step]
    assert any(
        "deploy/pixlee_shard.py --shard ${{ matrix.shard }} --shards" in command
        for command in commands
    )
    catalog = [s["run"] for s in workflow["jobs"]["catalog"]["steps"] if "run" in s]
    assert any("--catalog" in command for command in catalog)
    # categories count over the whole dataset: only after every shard and the catalog
    categories = workflow["jobs"]["categories"]
    assert set(categories["needs"]) == {"albums", "catalog"}
    assert any("--categories" in s.get("run", "") for s in categories["steps"])
    # credentials only ever come from the orchestrator's secrets
    for name, value in workflow["env"].items():
        if name.endswith(("API_KEY", "CREDENTIALS", "RATE_LIMIT_BACKEND")):
            assert re.fullmatch(r"\$\{\{ secrets\.[A-Z_]+ \}\}", value), name
    # `on:` parses as True in YAML 1.1; the schedule must be there
    assert workflow[True]["schedule"][0]["cron"]


def test_split_albums_is_disjoint_covering_and_stable() -> None:
    shard = _shard_module()
    ids = [31, 7, 12, 99, 5, 40, 8]
    parts = shard.split_albums(ids, 3)
    assert sorted(a for part in parts for a in part) == sorted(ids)
    assert len({a for part in parts for a in part}) == len(ids)
    assert parts == shard.split_albums(list(reversed(ids)), 3)
    assert {shard.shard_pipeline_name(i, 3) for i in range(3)} == {
        "pixlee_albums_0_of_3",
        "pixlee_albums_1_of_3",
        "pixlee_albums_2_of_3",
    }
    with pytest.raises(ValueError):
        shard.split_albums(ids, 0)


def test_shards_and_catalog_together_load_the_whole_account(
    shared_sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shard = _shard_module()
    monkeypatch.setenv("DESTINATION__STAGING_DATASET_NAME_LAYOUT", "%s_staging")  # restored after
    database = tmp_path / "warehouse.duckdb"
    kwargs = {"api_key": shared_sim.config.api_key, "base_url": shared_sim.base_url}
    pipelines = str(tmp_path / "pipelines")

    def run(number: int | None, **options: Any) -> None:
        destination = dlt.destinations.duckdb(str(database))
        shard.run(number, 2, destination, source_kwargs=kwargs, pipelines_dir=pipelines, **options)

    for number in range(2):
        run(number)
    skus = shared_sim.skus()[:1]
    run(None, skus=skus)  # the catalog
    run(None, categories=True)

    # four pipelines, four states, a staging dataset each
    assert sorted(p.name for p in Path(pipelines).iterdir()) == [
        "pixlee_albums_0_of_2",
        "pixlee_albums_1_of_2",
        "pixlee_catalog",
        "pixlee_categories",
    ]
    with duckdb.connect(str(database), read_only=True) as con:
        schemas = {
            r[0]
            for r in con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
        }
        assert {
            "pixlee_data_staging_pixlee_albums_0_of_2",
            "pixlee_data_staging_pixlee_albums_1_of_2",
        } <= schemas
        names = [d[0] for d in con.execute("SELECT * FROM pixlee_data.media LIMIT 0").description]
        media = [
            dict(zip(names, row, strict=True))
            for row in con.execute("SELECT * FROM pixlee_data.media").fetchall()
        ]
        album_ids = sorted(
            r[0] for r in con.execute("SELECT id FROM pixlee_data.albums").fetchall()
        )
        sku_rows = con.execute("SELECT count(*) FROM pixlee_data.product_media").fetchone()
        categories = dict(
            con.execute("SELECT id, media_count FROM pixlee_data.categories").fetchall()
        )
    truth = shared_sim.truth_media()
    assert_rows_match(truth, media, "album_photo_id", set(names))
    assert album_ids == sorted(a["id"] for a in shared_sim.truth_albums())
    assert sku_rows == (len(shared_sim.truth_sku_media(skus[0])),)
    for album in shared_sim.truth_albums():
        if album["album_type"] == "category":
            photos = {i["id"] for i in truth if album["id"] in i["tag_album_ids"]}
            assert categories[album["id"]] == len(photos)
