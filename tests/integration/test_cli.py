"""The commands users type: `pixlee demo`, `pixlee run`, and `python pixlee_pipeline.py`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from pixlee.simulator import Simulator

REPO = Path(__file__).resolve().parents[2]
PIXLEE = str(Path(sys.executable).with_name("pixlee"))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env.update(DLT_DATA_DIR=str(tmp_path / "dlt_data"), RUNTIME__DLTHUB_TELEMETRY="false")
    env.update(extra)
    return env


def _run(
    args: list[str], cwd: Path, env: dict[str, str], timeout: int
) -> subprocess.CompletedProcess[str]:
    """Run a command the way a user would, from `cwd`, capturing its text output."""
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _count(db: Path, sql: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_demo_loads_the_simulated_account_into_its_own_pipeline_and_file(tmp_path: Path) -> None:
    result = _run(
        [PIXLEE, "demo", "--albums", "2", "--media-per-album", "60"], tmp_path, _env(tmp_path), 300
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Rows per table:" in out and "Media by source and content type:" in out
    assert "Top albums:" in out and "dlt pipeline pixlee_demo show" in out
    db = tmp_path / "pixlee_demo.duckdb"
    assert _count(db, "SELECT count(*) FROM pixlee_data.media") > 120
    assert _count(db, "SELECT count(*) FROM pixlee_data.albums") > 2
    report = tmp_path / "pixlee_demo_report.html"
    assert f"The demo's UGC report: {report}" in out
    assert "<html" in report.read_text(encoding="utf-8")[:2000].lower()
    # the user's pipeline and file are never touched by the demo
    assert not (tmp_path / "pixlee.duckdb").exists()
    pipelines = {p.name for p in (tmp_path / "dlt_data" / "pipelines").iterdir()}
    assert pipelines == {"pixlee_demo"}
    secrets = (tmp_path / ".dlt" / "secrets.toml").read_text()
    assert '[destination.pixlee_demo]\ncredentials = "pixlee_demo.duckdb"' in secrets
    assert "[destination.duckdb]" not in secrets  # the user's own section stays unwritten


def test_run_reads_env_config_and_loads(tmp_path: Path, shared_sim: Simulator) -> None:
    env = _env(
        tmp_path,
        SOURCES__PIXLEE_SOURCE__API_KEY=shared_sim.config.api_key,
        SOURCES__PIXLEE_SOURCE__BASE_URL=shared_sim.base_url,
    )
    album = next(a["id"] for a in shared_sim.truth_albums() if a["album_type"] == "standard")
    result = _run([PIXLEE, "run", "--albums", str(album), "--progress", "log"], tmp_path, env, 300)
    assert result.returncode == 0, result.stderr
    expected = len(shared_sim.truth_media([album]))
    assert _count(tmp_path / "pixlee.duckdb", "SELECT count(*) FROM pixlee_data.media") == expected
    pages = -(-expected // 100)
    assert f"{expected} new, 0 updated, 0 unchanged, 0 marked removed" in result.stdout
    assert "albums: 0 incremental, 1 full (reconciling) scans" in result.stdout
    # the album's pages plus one GET /albums for the albums table
    assert f"requests: {pages + 1} made, 0 retried, 0 answered 429" in result.stdout
    # the progress display knew the album's size up front (GET /albums: num_photos)
    assert f"Pixlee media read: {expected}/{expected} (100.0%)" in result.stdout
    assert f"Pixlee requests: {pages + 1} " in result.stdout

    # the second run is incremental: one request, nothing new
    again = _run([PIXLEE, "run", "--albums", str(album), "--progress", "log"], tmp_path, env, 300)
    assert again.returncode == 0, again.stderr
    assert "albums: 1 incremental, 0 full (reconciling) scans" in again.stdout
    assert "requests: 2 made, 0 retried, 0 answered 429" in again.stdout
    # the newest page is read again (its rows rewritten), but nothing is new or changed
    assert f"0 new, 0 updated, {min(expected, 100)} unchanged, 0 marked removed" in again.stdout


def test_run_with_a_wrong_key_exits_1_with_one_clear_line(
    tmp_path: Path, shared_sim: Simulator
) -> None:
    wrong = "wrong-key-visible-nowhere-42"
    env = _env(
        tmp_path,
        SOURCES__PIXLEE_SOURCE__API_KEY=wrong,
        SOURCES__PIXLEE_SOURCE__BASE_URL=shared_sim.base_url,
    )
    shared_sim.stats.reset()
    result = _run([PIXLEE, "run", "--progress", "log"], tmp_path, env, 120)
    assert result.returncode == 1
    assert "Error: Pixlee rejected the API key (HTTP 401)" in result.stderr
    assert "Traceback" not in result.stderr
    assert wrong not in result.stdout + result.stderr
    assert shared_sim.stats.count(status=401) == 1


def test_run_without_a_key_names_the_setting(tmp_path: Path) -> None:
    result = _run([PIXLEE, "run"], tmp_path, _env(tmp_path), 120)
    assert result.returncode == 1
    assert "[sources.pixlee_source]" in result.stderr
    assert "SOURCES__PIXLEE_SOURCE__API_KEY" in result.stderr


def test_pipeline_script_with_the_documented_secrets_layout(
    tmp_path: Path, shared_sim: Simulator
) -> None:
    dot_dlt = tmp_path / ".dlt"
    dot_dlt.mkdir()
    (dot_dlt / "secrets.toml").write_text(
        f'[sources.pixlee_source]\napi_key = "{shared_sim.config.api_key}"\n'
    )
    albums = [a["id"] for a in shared_sim.truth_albums() if a["album_type"] == "standard"][:2]
    (dot_dlt / "config.toml").write_text(
        f'[sources.pixlee_source]\nbase_url = "{shared_sim.base_url}"\nalbum_ids = {albums}\n'
    )
    result = _run([sys.executable, str(REPO / "pixlee_pipeline.py")], tmp_path, _env(tmp_path), 300)
    assert result.returncode == 0, result.stderr
    db = tmp_path / "pixlee.duckdb"
    expected = len(shared_sim.truth_media(albums))
    assert _count(db, "SELECT count(*) FROM pixlee_data.media") == expected
    # afterwards, dlt's own tools find the pipeline and its dataset
    check = _run(
        [
            sys.executable,
            "-c",
            "import dlt; print(len(dlt.pipeline('pixlee_pipeline').dataset().media.df()))",
        ],
        tmp_path,
        _env(tmp_path),
        120,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == str(expected)
    # dlt's dataset layer (arrow and row counts too: duckdb 2 broke them under dlt 1.31)
    dataset_api = (
        "import dlt; d = dlt.pipeline('pixlee_pipeline').dataset(); "
        "print(d.media.arrow().num_rows); "
        "print(dict(d.row_counts().fetchall())['media'])"
    )
    check = _run([sys.executable, "-c", dataset_api], tmp_path, _env(tmp_path), 120)
    assert check.returncode == 0, check.stderr
    assert check.stdout.split() == [str(expected), str(expected)]
    info = _run(
        [str(Path(sys.executable).with_name("dlt")), "pipeline", "pixlee_pipeline", "info"],
        tmp_path,
        _env(tmp_path),
        120,
    )
    assert info.returncode == 0, info.stderr
    assert "pixlee_data" in info.stdout
