"""The client's settings: defaults, bounds, and where they are read from.

Credentials and settings not passed to :class:`pixlee.api.client.PixleeClient` are read from dlt
config, section ``[sources.pixlee_source]`` (`.dlt/secrets.toml`, `.dlt/config.toml`, or
``SOURCES__PIXLEE_SOURCE__<NAME>``), through a typed `@configspec` resolved the way dlt resolves
the source's own arguments, so one layout configures both.

Every loop over the network is bounded (DESIGN.md); the bounds live here with their defaults:
the body size, the per-request and per-run deadlines, redirect hops and empty pages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.typing import TSecretStrValue

from pixlee.api.errors import PixleeConfigError

DEFAULT_BASE_URL = "https://distillery.pixlee.co/api/v2"
DEFAULT_PER_PAGE = 100
CONFIG_SECTION = "sources.pixlee_source"
_SECTIONS = ("sources", "pixlee_source")
USER_AGENT = "dlt-pixlee/0.1"
# A full page of 100 media is about 0.3 MB; 64 MiB leaves room for any real page while a gzip
# bomb (1 MB on the wire, 1 GiB inflated) is cut off long before it costs memory.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_REQUEST_DEADLINE_SECONDS = 120.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0
DEFAULT_READ_TIMEOUT_SECONDS = 60.0
DEFAULT_MAX_REDIRECTS = 3
DEFAULT_MAX_EMPTY_PAGES = 3


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures (429, 5xx, resets, cut bodies, deadlines) are retried.

    `Retry-After` is honoured as sent up to `max_retry_after_seconds`; a longer demand is cut to
    that cap with a warning (dlt's helper caps silently, which surprises people). A value that
    is negative, NaN, infinite or unparsable gets the normal backoff instead.
    """

    max_attempts: int = 8
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 300.0


@dataclass(frozen=True)
class Bounds:
    """Limits that keep one request, and one run, from going on without end.

    * `max_response_bytes`: a body (after decompression) larger than this is an error, read
      no further than the limit.
    * `request_deadline_seconds`: connect, headers and the whole body of one attempt; a server
      dripping a byte a second fails here (and the attempt is retried like a timeout).
    * `run_deadline_seconds`: after this long since the client's run started, no new request
      starts (None: no limit).
    * `max_redirects`: same-origin redirects followed on a read (another origin: never).
    * `max_empty_pages`: pages in a row with `next` true and no items before a listing stops.
    * `connect_timeout_seconds`, `read_timeout_seconds`: per socket operation, within the deadline.
    """

    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    request_deadline_seconds: float = DEFAULT_REQUEST_DEADLINE_SECONDS
    run_deadline_seconds: float | None = None
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    max_empty_pages: int = DEFAULT_MAX_EMPTY_PAGES
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS
    read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        _require_positive("max_response_bytes", self.max_response_bytes)
        _require_positive("request_deadline_seconds", self.request_deadline_seconds)
        if self.run_deadline_seconds is not None:
            _require_positive("run_deadline_seconds", self.run_deadline_seconds)
        _require_positive("connect_timeout_seconds", self.connect_timeout_seconds)
        _require_positive("read_timeout_seconds", self.read_timeout_seconds)
        if self.max_redirects < 0 or self.max_empty_pages < 0:
            raise PixleeConfigError("max_redirects and max_empty_pages must not be negative")


def _require_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PixleeConfigError(f"{name} must be a positive number, got {value!r}")
    if value <= 0:
        raise PixleeConfigError(f"{name} must be a positive number, got {value!r}")


@configspec
class PixleeClientConfiguration(BaseConfiguration):
    """What the client reads from `[sources.pixlee_source]` when it is not passed explicitly."""

    api_key: TSecretStrValue | None = None
    private_api_key: TSecretStrValue | None = None
    secret_key: TSecretStrValue | None = None
    base_url: str | None = None
    rate_limit_backend: str | None = None
    max_response_bytes: int | None = None
    request_deadline_seconds: float | None = None
    run_deadline_seconds: float | None = None


def resolve_client_configuration(**explicit: Any) -> PixleeClientConfiguration:
    """The client's settings: each explicit (not None) value, else dlt config, else None.

    A value in config that cannot be read as its type is a config error naming the key.
    """
    given = {name: value for name, value in explicit.items() if value is not None}
    try:
        return resolve_configuration(
            PixleeClientConfiguration(), sections=_SECTIONS, explicit_value=given
        )
    except PixleeConfigError:
        raise
    except Exception as exc:  # dlt's config errors: a value of the wrong type, a secret in config
        message = f"{type(exc).__name__}: {exc}"
    raise PixleeConfigError(
        f"[{CONFIG_SECTION}] could not be read ({message}); fix the value in .dlt/config.toml, "
        ".dlt/secrets.toml or the SOURCES__PIXLEE_SOURCE__* environment variables"
    )
