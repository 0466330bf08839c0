"""Two checkouts side by side: each one's pipeline writes its own file and keeps its own state.

dlt keeps `pixlee_pipeline`'s working folder in one global directory for every project, and
resolved a relative DuckDB path against the folder where the pipeline first ran; a second clone's
run wrote into the first clone's file. Both folders here share one dlt data directory, as two
clones of one user do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pixlee import pixlee_source
from pixlee.defaults import DUCKDB_FILE
from pixlee.pipeline import make_pipeline, run_source
from pixlee.simulator import Simulator
from tests.support.dataset import rows


def _load_here(sim: Simulator, album: int) -> Any:
    pipeline = make_pipeline(progress="log")
    source = pixlee_source(api_key=sim.config.api_key, base_url=sim.base_url, album_ids=[album])
    run_source(pipeline, source.with_resources("media"))
    return pipeline


def _keys(pipeline: Any) -> set[int]:
    return {row["album_photo_id"] for row in rows(pipeline, "media")}


def test_each_folder_loads_its_own_file_with_its_own_state(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "clone_a", tmp_path / "clone_b"
    first.mkdir()
    second.mkdir()
    album = next(a["id"] for a in sim.truth_albums() if a["album_type"] == "standard")
    truth = {item["album_photo_id"] for item in sim.truth_media([album])}

    monkeypatch.chdir(first)
    assert _keys(_load_here(sim, album)) == truth

    added = sim.world.add_media(album, count=3)
    monkeypatch.chdir(second)
    pipeline_b = _load_here(sim, album)
    # a complete first load into the second folder's own file, not an incremental run on the
    # first folder's cursors, and nothing written into the first folder's file
    assert (second / DUCKDB_FILE).exists()
    assert _keys(pipeline_b) == truth | set(added)
    assert pipeline_b.get_local_state_val("initial_cwd") == os.path.abspath(second)

    monkeypatch.chdir(first)
    pipeline_a = _load_here(sim, album)
    # the first folder's state came back from its own file: the run was incremental (the new
    # items arrive on the album's first page) and the file holds every item once
    assert _keys(pipeline_a) == truth | set(added)
    cursors = pipeline_a.state["sources"]["pixlee"]["album_cursors"]
    assert set(cursors) == {str(album)}
