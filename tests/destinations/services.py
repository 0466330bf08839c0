"""Find the real PostgreSQL and Redis servers the tests need, or say exactly why they are missing.

`scripts/ensure_services.sh` installs and starts them (`make test` runs it first). When a server
does not answer, the fixture runs the script once more without installing anything (a rebooted
machine only needs them started); if it still does not answer, the test is skipped with what is
missing and how to get it, and under `CI=true` it fails, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENSURE_SCRIPT = REPO / "scripts" / "ensure_services.sh"
# Read at import, before the autouse fixture clears PIXLEE_* from each test's environment.
_PG_PORT = os.environ.get("PIXLEE_TEST_PG_PORT", "55432")
# the throwaway cluster scripts/ensure_services.sh creates (password auth over TCP)
POSTGRES_URL = os.environ.get(
    "PIXLEE_TEST_POSTGRES", f"postgresql://postgres:pixlee-test@127.0.0.1:{_PG_PORT}/postgres"
)
REDIS_URL = os.environ.get(
    "PIXLEE_TEST_REDIS",
    f"redis://127.0.0.1:{os.environ.get('PIXLEE_TEST_REDIS_PORT', '56379')}/0",
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_problem(url: str) -> str | None:
    """None when a PostgreSQL server answers at `url`, else why not."""
    try:
        import psycopg2
    except ImportError:
        return "the psycopg2 driver is not installed (pip install 'dlt[postgres]')"
    try:
        psycopg2.connect(url, connect_timeout=3).close()
    except psycopg2.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    return None


def redis_problem(url: str) -> str | None:
    """None when a Redis server answers PING at `url`, else why not."""
    try:
        import redis
    except ImportError:
        return "the redis client is not installed (pip install 'redis>=5')"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _start_installed_services() -> None:
    env = {**os.environ, "PIXLEE_SERVICES_NO_INSTALL": "1", "CI": ""}
    subprocess.run(
        ["bash", str(ENSURE_SCRIPT)], env=env, capture_output=True, timeout=180, check=False
    )


def require(name: str, url: str, package: str) -> str:
    """`url` once its server answers; otherwise skip (locally) or fail (CI) saying why."""
    problem = postgres_problem(url) if name == "PostgreSQL" else redis_problem(url)
    if problem is not None and ENSURE_SCRIPT.exists():
        _start_installed_services()
        problem = postgres_problem(url) if name == "PostgreSQL" else redis_problem(url)
    if problem is None:
        return url
    message = (
        f"{name} is not available at {url} ({problem}). Run scripts/ensure_services.sh "
        f"(installs Debian's `{package}` with apt-get and starts it on 127.0.0.1), or point "
        f"PIXLEE_TEST_{'POSTGRES' if name == 'PostgreSQL' else 'REDIS'} at a server you own."
    )
    if IN_CI:
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)
