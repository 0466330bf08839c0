"""dlt's dashboard (`dlt pipeline pixlee_pipeline show`) on our dataset, in a real browser.

dlt 1.31 with DuckDB 2 rendered the table list but failed every row count and query ("An internal
error occurred": `fetch_arrow_table` is gone); the `dashboard` extra and the DuckDB pin are what
make this work. The dashboard is started exactly as the README says (from the folder the pipeline
ran in, with the venv's commands on PATH), then driven in Debian's Chromium.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pixlee import pixlee_source
from pixlee.defaults import DUCKDB_FILE, PIPELINE_NAME
from pixlee.pipeline import make_pipeline, run_source
from pixlee.pipeline.local_files import record_database_for_dlt_tools
from pixlee.simulator import Simulator

STARTUP_SECONDS = 180
_URL = re.compile(r"URL:\s*(http://\S+)")


@pytest.fixture()
def loaded_folder(shared_sim: Simulator, tmp_path: Path) -> Path:
    """The small account loaded by pixlee_pipeline into ./pixlee.duckdb of this test's folder."""
    record_database_for_dlt_tools(DUCKDB_FILE)
    pipeline = make_pipeline(progress="log")
    source = pixlee_source(api_key=shared_sim.config.api_key, base_url=shared_sim.base_url)
    run_source(pipeline, source.with_resources("albums", "media"))
    return tmp_path


@pytest.fixture()
def dashboard(loaded_folder: Path) -> Iterator[str]:
    """`dlt pipeline pixlee_pipeline show` running from the pipeline's folder; its URL."""
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "")}
    process = subprocess.Popen(
        [os.path.join(venv_bin, "dlt"), "pipeline", PIPELINE_NAME, "show"],
        cwd=loaded_folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield _wait_for_url(process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _wait_for_url(process: subprocess.Popen[str]) -> str:
    """The URL marimo prints once it serves (read from its output, not guessed)."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        match = _URL.search(line)
        if match:
            return match.group(1)
    raise AssertionError("the dashboard did not start:\n" + "".join(seen))


def test_dashboard_shows_row_counts_and_runs_sql(
    dashboard: str, chromium: Any, shared_sim: Simulator, tmp_path: Path
) -> None:
    truth = len(shared_sim.truth_media())
    page = chromium.new_page()
    page.set_viewport_size({"width": 1400, "height": 2000})
    page.set_default_timeout(120_000)
    page.goto(dashboard, wait_until="domcontentloaded")

    page.get_by_role("button", name="Load row counts").click()
    media_row = page.locator("tr", has=page.get_by_text("media", exact=True)).first
    media_row.get_by_text(str(truth), exact=True).wait_for()

    page.locator(".cm-content").first.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(
        "SELECT 'current media: ' || count(*) AS pixlee_check FROM media WHERE removed_at IS NULL"
    )
    page.keyboard.press("Escape")  # close the editor's completion popup
    page.get_by_role("button", name="Run Query").click()
    page.get_by_text(f"current media: {truth}", exact=True).first.wait_for()

    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert "internal error" not in page.inner_text("body").lower()
