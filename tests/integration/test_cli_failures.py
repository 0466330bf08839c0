"""How commands fail: one line that says what to do, exit 1; Ctrl-C exits 130.

Each test runs the command as a user would (a subprocess from a fresh folder) and asserts the
whole of stderr: a single `Error: …` line naming the setting or the fix, no traceback, no key.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from pixlee.simulator import Simulator, SimulatorConfig
from tests.integration.test_cli import PIXLEE, REPO, _env, _run


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    return lines[0]


def test_a_missing_destination_credential_is_one_line_before_anything_is_read(
    tmp_path: Path, shared_sim: Simulator
) -> None:
    env = _env(
        tmp_path,
        SOURCES__PIXLEE_SOURCE__API_KEY=shared_sim.config.api_key,
        SOURCES__PIXLEE_SOURCE__BASE_URL=shared_sim.base_url,
    )
    shared_sim.stats.reset()
    result = _run([PIXLEE, "run", "--destination", "postgres"], tmp_path, env, 120)
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "missing configuration" in line
    assert "[destination.postgres]" in line and "DESTINATION__POSTGRES__CREDENTIALS" in line
    assert shared_sim.stats.count(method="GET") == 0  # failed before reading Pixlee


def test_the_pipeline_script_with_a_wrong_key_is_one_line(
    tmp_path: Path, shared_sim: Simulator
) -> None:
    wrong = "wrong-key-in-the-script-77"
    env = _env(
        tmp_path,
        SOURCES__PIXLEE_SOURCE__API_KEY=wrong,
        SOURCES__PIXLEE_SOURCE__BASE_URL=shared_sim.base_url,
    )
    result = _run([sys.executable, str(REPO / "pixlee_pipeline.py")], tmp_path, env, 120)
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "Pixlee rejected the API key (HTTP 401)" in line
    assert wrong not in result.stdout + result.stderr


def test_a_database_held_by_another_process_names_the_lock(
    tmp_path: Path, shared_sim: Simulator
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect('pixlee.duckdb'); "
            "print('held', flush=True); time.sleep(120)",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        album = next(a["id"] for a in shared_sim.truth_albums() if a["album_type"] == "standard")
        env = _env(
            tmp_path,
            SOURCES__PIXLEE_SOURCE__API_KEY=shared_sim.config.api_key,
            SOURCES__PIXLEE_SOURCE__BASE_URL=shared_sim.base_url,
        )
        result = _run([PIXLEE, "run", "--albums", str(album)], tmp_path, env, 120)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "the DuckDB file is in use by another process" in line
    assert f"PID {holder.pid}" in line


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_exits_130_and_says_to_rerun(tmp_path: Path) -> None:
    # one request at a time, 1 s each: extraction lasts ~8 s, so the signal lands in it even
    # on a loaded machine (after it, dlt defers a first Ctrl-C until normalize/load finish)
    config = SimulatorConfig(albums=2, media_per_album=400, seed=5, latency_ms=1000)
    with Simulator(config) as sim:
        env = _env(
            tmp_path,
            SOURCES__PIXLEE_SOURCE__API_KEY=sim.config.api_key,
            SOURCES__PIXLEE_SOURCE__BASE_URL=sim.base_url,
            SOURCES__PIXLEE_SOURCE__MAX_IN_FLIGHT="1",
        )
        proc = subprocess.Popen(
            [PIXLEE, "run", "--progress", "log"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # as from a terminal: a test run started in the background (`make test &`, CI)
            # ignores SIGINT, and a child inherits an ignored signal across exec
            preexec_fn=_sigint_as_in_a_terminal,
        )
        deadline = time.monotonic() + 60
        while sim.stats.count(method="GET") < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)  # waiting on another process, not on time passing
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted; rerun to continue" in stderr
    assert "Traceback" not in stderr


def test_a_wrong_base_url_is_one_line_naming_it_at_once(tmp_path: Path) -> None:
    """Nothing listens there: no minute of retries, and the line says which setting to fix."""
    with Simulator(SimulatorConfig(albums=1, media_per_album=1, seed=3)) as sim:
        base_url = sim.base_url  # closed on exit: connections are refused
    env = _env(
        tmp_path,
        SOURCES__PIXLEE_SOURCE__API_KEY="k-wrong-url",
        SOURCES__PIXLEE_SOURCE__BASE_URL=base_url,
    )
    result = _run([PIXLEE, "run", "--progress", "log"], tmp_path, env, 120)
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert line.startswith(f"Error: cannot reach Pixlee at {base_url} (connection refused)")
    assert "SOURCES__PIXLEE_SOURCE__BASE_URL" in line
