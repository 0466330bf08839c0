"""`pixlee report` as users type it, and its time frame (`--since`, `--as-of`)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dlt.pipeline.pipeline import Pipeline

from pixlee.pipeline import run_source
from pixlee.report import ReportError
from pixlee.report.window import ReportWindow, parse_as_of, parse_since
from pixlee.simulator import Simulator
from pixlee.source import pixlee_source

PIXLEE = str(Path(sys.executable).with_name("pixlee"))
NOW = datetime(2026, 6, 10, 15, 30, tzinfo=UTC)  # a Wednesday


def _pixlee(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DESTINATION__")}
    environment.update(RUNTIME__DLTHUB_TELEMETRY="false", **env)
    return subprocess.run(
        [PIXLEE, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


@pytest.fixture()
def loaded(shared_sim: Simulator, pipeline: Pipeline) -> Pipeline:
    album = next(a["id"] for a in shared_sim.truth_albums() if a["album_type"] == "standard")
    source = pixlee_source(
        api_key=shared_sim.config.api_key, base_url=shared_sim.base_url, album_ids=[album]
    )
    run_source(pipeline, source)
    return pipeline


def test_report_writes_the_file_and_prints_the_sql(loaded: Pipeline, tmp_path: Path) -> None:
    result = _pixlee(
        ["report", "--pipeline", "pixlee_test", "--pipelines-dir", str(tmp_path / "pipelines"),
         "--output", "out/ugc.html", "--since", "12w", "--sql"],
        tmp_path,
        DESTINATION__DUCKDB__CREDENTIALS=str(tmp_path / "pixlee.duckdb"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = tmp_path / "out" / "ugc.html"
    assert result.stdout.rstrip().endswith(f"-- report: {path}")
    assert path.stat().st_size > 1_000_000  # plotly.js inlined
    assert 'FROM "pixlee_data"."media"' in result.stdout
    assert result.stdout.count("-- content_totals: ") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pipeline", "nosuch"], "no pipeline named 'nosuch'"),
        (["--since", "2x"], "--since takes a number of days or weeks"),
        (["--as-of", "yesterday"], "--as-of takes auto, now, latest, or a date"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    loaded: Pipeline, tmp_path: Path, args: list[str], message: str
) -> None:
    result = _pixlee(
        ["report", "--pipeline", "pixlee_test", "--pipelines-dir", str(tmp_path / "pipelines"),
         *args],
        tmp_path,
        DESTINATION__DUCKDB__CREDENTIALS=str(tmp_path / "pixlee.duckdb"),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "pixlee_report.html").exists()


def test_a_duckdb_file_dlt_cannot_find_is_named_not_created(
    loaded: Pipeline, tmp_path: Path
) -> None:
    """dlt keeps no credentials in the pipeline: without them it would open (and create)
    pixlee_test.duckdb in the working folder and report an empty dataset."""
    result = _pixlee(
        ["report", "--pipeline", "pixlee_test", "--pipelines-dir", str(tmp_path / "pipelines")],
        tmp_path,
    )
    assert result.returncode == 1
    assert f"no DuckDB database at {tmp_path / 'pixlee_test.duckdb'}" in result.stderr
    assert "DESTINATION__DUCKDB__CREDENTIALS" in result.stderr
    assert not (tmp_path / "pixlee_test.duckdb").exists()


# ---------------------------------------------------------------- the time frame
def test_since_reads_days_weeks_and_all() -> None:
    assert parse_since("90d") == timedelta(days=90)
    assert parse_since(" 12W ") == timedelta(days=84)
    assert parse_since("all") is None
    for bad in ("0d", "90", "3m", "-1d", ""):
        with pytest.raises(ReportError, match="--since"):
            parse_since(bad)


def test_as_of_reads_words_dates_and_times() -> None:
    assert parse_as_of(None) == "auto"
    assert parse_as_of("Latest") == "latest"
    assert parse_as_of("2024-06-30") == datetime(2024, 6, 30, tzinfo=UTC)
    assert parse_as_of("2024-06-30T12:00+02:00") == datetime(2024, 6, 30, 10, tzinfo=UTC)
    with pytest.raises(ReportError, match="--as-of"):
        parse_as_of("last week")


def test_auto_is_now_while_content_arrives_and_the_newest_content_when_dormant() -> None:
    window = timedelta(days=90)
    active = ReportWindow.resolve(window, "auto", NOW - timedelta(days=3), NOW)
    assert (active.as_of, active.as_of_reason) == (NOW, "now")
    assert active.since == datetime(2026, 3, 9, tzinfo=UTC)  # the Monday of NOW - 90 days
    dormant_at = NOW - timedelta(days=200)
    dormant = ReportWindow.resolve(window, "auto", dormant_at, NOW)
    assert dormant.as_of == dormant_at and "--as-of now" in dormant.as_of_reason
    assert ReportWindow.resolve(window, "now", dormant_at, NOW).as_of == NOW
    assert ReportWindow.resolve(window, "latest", NOW - timedelta(days=1), NOW).as_of == (
        NOW - timedelta(days=1)
    )
    assert ReportWindow.resolve(None, "auto", None, NOW).since is None  # no content at all
