"""The README's setup commands, run as typed from a fresh clone.

`make demo` in a new clone (it makes its own `.venv`), then each command of "Look at the demo's
data" and "Load your account" in one shell, as a user pastes them. The only edits are the ones a
user makes: the key placeholder becomes a key, and `base_url` points at a local simulator (the
environment variable the README names), since this machine has no Pixlee account. The dashboard
command is long-running: it is started, asked for its page, and stopped.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from pixlee.simulator import Simulator

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- the commands below run as typed in tests/integration/test_readme.py -->"
INSTALL_SECONDS = 900


def _blocks_after(text: str, heading: str) -> str:
    """The first ```sh block after `heading`."""
    section = text[text.index(heading) :]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, heading
    return match.group(1)


def _commands(block: str) -> list[str]:
    """Lines as a shell reads them: comments dropped, a heredoc kept whole."""
    commands: list[str] = []
    lines = iter(block.splitlines())
    for line in lines:
        command = re.sub(r"\s+#.*$", "", line).strip()
        if not command:
            continue
        heredoc = re.search(r"<<'(\w+)'", command)
        if heredoc:
            body = []
            for inner in lines:
                body.append(inner)
                if inner.strip() == heredoc.group(1):
                    break
            command = command + "\n" + "\n".join(body)
        commands.append(command)
    return commands


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readme") / "dlt-pixlee"
    subprocess.run(["git", "clone", "-q", str(REPO), str(folder)], check=True)
    return folder


def _env(clone: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "VIRTUAL_ENV"))}
    env.update(DLT_DATA_DIR=str(clone.parent / "dlt_data"), RUNTIME__DLTHUB_TELEMETRY="false")
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO))
    )
    env.update(extra)
    return env


def _shell(clone: Path, script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-ec", script], cwd=clone, env=env, capture_output=True, text=True,
        timeout=INSTALL_SECONDS,
    )  # fmt: skip


def _serves(url_source: subprocess.Popen[str]) -> str:
    assert url_source.stdout is not None
    deadline = time.monotonic() + 180
    seen = []
    while time.monotonic() < deadline:
        line = url_source.stdout.readline()
        seen.append(line)
        found = re.search(r"URL:\s*(http://\S+)", line)
        if found:
            return found.group(1)
        if not line and url_source.poll() is not None:
            break
    raise AssertionError("the dashboard did not start:\n" + "".join(seen))


@pytest.mark.timeout(INSTALL_SECONDS + 600)  # a fresh install, the dashboard's extra too
def test_the_readme_setup_works_as_typed(clone: Path, shared_sim: Simulator) -> None:
    readme = (clone / "README.md").read_text(encoding="utf-8")
    two = _blocks_after(readme, "## Two commands")
    assert "make demo" in two
    demo = _shell(clone, "make demo", _env(clone))
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "The demo's UGC report:" in demo.stdout

    look = _commands(_blocks_after(readme, MARKER))
    show = [c for c in look if c.endswith(" show")]
    assert show == ["dlt pipeline pixlee_demo show"]
    before_show = "\n".join(c for c in look if c not in show)
    result = _shell(clone, before_show, _env(clone))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "pixlee_demo" in result.stdout and "album_photo_id" in result.stdout

    dashboard = subprocess.Popen(
        ["bash", "-c", f"source .venv/bin/activate && exec {show[0]}"],
        cwd=clone, env=_env(clone), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        url = _serves(dashboard)
        # the URL is printed as the server starts: under load it may refuse for a moment
        retry = ["--retry", "60", "--retry-delay", "1", "--retry-connrefused"]
        page = subprocess.run(["curl", "-s", *retry, "-o", "/dev/null", "-w", "%{http_code}", url],
                              capture_output=True, text=True, timeout=90)  # fmt: skip
        assert page.stdout == "200"
    finally:
        os.killpg(dashboard.pid, signal.SIGTERM)
        dashboard.wait(timeout=30)

    account = _commands(_blocks_after(readme, "## Load your account"))
    key = shared_sim.config.api_key
    script = "\n".join(account).replace('api_key = "…"', f'api_key = "{key}"')
    env = _env(clone, SOURCES__PIXLEE_SOURCE__BASE_URL=shared_sim.base_url)
    result = _shell(clone, script, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with duckdb.connect(str(clone / "pixlee.duckdb"), read_only=True) as db:
        row = db.execute("SELECT count(*) FROM pixlee_data.media").fetchone()
    assert row is not None and row[0] == len(shared_sim.truth_media())

    then = _commands(_blocks_after(readme, "This writes `./pixlee.duckdb`"))
    checks = [c for c in then if not c.endswith(" show")]
    result = _shell(clone, "\n".join(["source .venv/bin/activate", *checks]), _env(clone))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "pixlee_data" in result.stdout and "album_photo_id" in result.stdout
    secrets = (clone / ".dlt" / "secrets.toml").read_text(encoding="utf-8")
    assert '[destination.duckdb]\ncredentials = "pixlee.duckdb"' in secrets
