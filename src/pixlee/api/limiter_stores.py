"""Where a shared request budget lives: a SQLite file (one machine) or Redis (several).

Several pipelines on one Pixlee key share its 3600/min budget only if they share the limiter's
state. pyrate-limiter's GCRA keeps that state as one number per budget (the theoretical arrival
time) behind its `StateStore` interface: it ships `RedisStateStore` (an atomic Lua script) and
we add the one store it lacks, SQLite, so that processes on one machine need no server.

The algorithm, the waiting and the bucket stay pyrate-limiter's; this module only opens stores
from a URL written in `.dlt/config.toml`:

* ``sqlite:////var/tmp/pixlee-limits.sqlite`` (absolute path; ``sqlite:///rel.sqlite`` relative)
* ``redis://[:password@]host:6379/0``, ``rediss://…`` (TLS), ``unix:///run/redis.sock?db=0``
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pyrate_limiter import StateStore, WallClock
from pyrate_limiter.abstracts.algorithm import Decision, State, StateAlgorithm
from pyrate_limiter.abstracts.rate import Rate

from pixlee.api.errors import PixleeConfigError

SQLITE_SCHEME = "sqlite"
REDIS_SCHEMES = ("redis", "rediss", "unix")
_SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
_REDIS_TIMEOUT_SECONDS = 5.0


def describe_backend(url: str) -> str:
    """The backend URL without its password, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///…`` URL (four slashes: absolute, three: relative)."""
    prefix = f"{SQLITE_SCHEME}:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise PixleeConfigError(
            f"rate_limit_backend {url!r} is not a SQLite file URL: use e.g. "
            "'sqlite:////var/tmp/pixlee-limits.sqlite' (absolute path after sqlite:///)"
        )
    return Path(url[len(prefix) :])


class SQLiteStateStore(StateStore):
    """GCRA state in a SQLite file, shared by every process on the machine that opens it.

    Each decision is one `BEGIN IMMEDIATE` transaction (read, step, write), so processes
    serialise on SQLite's write lock and never interleave a read-modify-write. WAL keeps
    readers off that lock. Wall-clock time is used because the file outlives processes and
    reboots, where a monotonic clock restarts from zero. Not for network filesystems (SQLite
    locking is unreliable there): use Redis across machines.
    """

    is_async = False
    default_clock = WallClock()

    def __init__(self, path: str | Path, key: str) -> None:
        self.path = Path(path)
        self.key = key
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            str(self.path),
            timeout=_SQLITE_BUSY_TIMEOUT_SECONDS,
            isolation_level=None,  # explicit BEGIN IMMEDIATE below
            check_same_thread=False,
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS pixlee_rate_state "
            "(bucket TEXT PRIMARY KEY, state TEXT NOT NULL)"
        )

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"rate limit store {self.path} is closed")
        return self._conn

    def _load(
        self, conn: sqlite3.Connection, algorithm: StateAlgorithm, rates: list[Rate]
    ) -> State:
        row = conn.execute(
            "SELECT state FROM pixlee_rate_state WHERE bucket = ?", (self.key,)
        ).fetchone()
        if row is None:
            return algorithm.initial(rates)
        values = str(row[0]).split(",")
        # A budget configured with another number of rates elsewhere: start it afresh.
        return algorithm.decode(values) if len(values) == len(rates) else algorithm.initial(rates)

    def check(
        self, algorithm: StateAlgorithm, rates: list[Rate], now: int, weight: int
    ) -> Decision:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                state, decision = algorithm.step(
                    rates, self._load(conn, algorithm, rates), now, weight
                )
                if decision.allowed:
                    conn.execute(
                        "INSERT INTO pixlee_rate_state (bucket, state) VALUES (?, ?) "
                        "ON CONFLICT(bucket) DO UPDATE SET state = excluded.state",
                        (self.key, ",".join(str(value) for value in state)),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return decision

    def read(self, algorithm: StateAlgorithm, rates: list[Rate]) -> State:
        with self._lock:
            return self._load(self._connection(), algorithm, rates)

    def reset(self) -> None:
        with self._lock:
            self._connection().execute(
                "DELETE FROM pixlee_rate_state WHERE bucket = ?", (self.key,)
            )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _redis_client(url: str) -> Any:
    try:
        import redis
    except ImportError:  # pragma: no cover - depends on the environment
        raise PixleeConfigError(
            f"rate_limit_backend {describe_backend(url)!r} needs the `redis` package: "
            "pip install 'redis>=5'"
        ) from None
    client = redis.Redis.from_url(
        url,
        socket_timeout=_REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
        health_check_interval=30,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        raise PixleeConfigError(
            f"rate_limit_backend {describe_backend(url)!r}: Redis is not reachable "
            f"({type(exc).__name__}). Start it, fix the URL, or unset rate_limit_backend to "
            "pace this process alone."
        ) from None
    return client


def open_state_store(url: str, key: str) -> StateStore:
    """A pyrate-limiter state store for `key` in the backend that `url` names."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == SQLITE_SCHEME:
        return SQLiteStateStore(sqlite_path(url), key)
    if scheme in REDIS_SCHEMES:
        from pyrate_limiter import RedisStateStore

        return RedisStateStore(_redis_client(url), key=key)
    raise PixleeConfigError(
        f"rate_limit_backend {describe_backend(url)!r} is not supported: use "
        "'sqlite:////path/to/limits.sqlite' (processes on one machine) or "
        "'redis://host:6379/0' (several machines)"
    )
