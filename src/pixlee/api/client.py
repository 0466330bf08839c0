"""HTTP client for the Pixlee Content API v2: auth, pacing, retries, pagination, errors.

Why not dlt's `rest_api`/`RESTClient`: Pixlee's only end-of-data signal is a boolean `next`
(dlt's paginator detection reads it as a cursor and loops), the read key lives in the query
string (every URL in a message must be redacted), the CDN needs a `unique_id` per run, and a
truncated or HTML body must be retried like a 5xx. The retry loop is `tenacity` (as dlt's own
requests helper uses), the pacing `pyrate-limiter`; this module only wires them to the API's rules.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import requests
import urllib3
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from pixlee.api.concurrency import DEFAULT_MAX_IN_FLIGHT, LazyExecutor, read_pages_ahead
from pixlee.api.errors import (
    PixleeAuthError,
    PixleeConfigError,
    PixleeNotFoundError,
    PixleeRequestError,
    PixleeResponseError,
    PixleeRetriesExhausted,
)
from pixlee.api.pacing import DEFAULT_RATE_LIMIT_PER_MINUTE, make_pacer
from pixlee.api.redaction import install_log_redaction, redact, redact_url, register_secret
from pixlee.api.throttle import AdaptiveThrottle
from pixlee.api.write.writer import PixleeWriteMixin

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://distillery.pixlee.co/api/v2"
DEFAULT_PER_PAGE = 100
CONFIG_SECTION = "sources.pixlee_source"
USER_AGENT = "dlt-pixlee/0.1"
_BODY_SNIPPET = 200
_NOT_JSON = object()
PageWindow = int | Callable[[], int]


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures (429, 5xx, resets, truncated or HTML bodies) are retried.

    `Retry-After` is honoured as sent up to `max_retry_after_seconds`; a longer demand is cut to
    that cap with a warning (dlt's helper caps silently, which surprises people).
    """

    max_attempts: int = 8
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 300.0


@dataclass
class RequestStats:
    """What the client did, for run summaries and tests (thread-safe counters)."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_on_429_seconds: float = 0.0
    not_found: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


@dataclass(frozen=True)
class Page:
    """One page of a paginated listing."""

    items: list[dict[str, Any]]
    page: int
    has_next: bool
    envelope: dict[str, Any]


class _TransientError(Exception):
    """A failure worth retrying; `retry_after` is the server's demand in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None, rate_limited: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


def _config_value(key: str) -> str | None:
    """Read `[sources.pixlee_source] <key>` from dlt config/secrets, or None."""
    import dlt

    value: Any
    try:
        value = dlt.secrets.get(f"{CONFIG_SECTION}.{key}")
    except Exception:
        value = None
    if value is None:
        try:
            value = dlt.config.get(f"{CONFIG_SECTION}.{key}")
        except Exception:
            value = None
    return str(value) if value not in (None, "") else None


def _text(content: bytes) -> str:
    """A body as text for an error message (decoded only when one is needed)."""
    return content.decode("utf-8", errors="replace")


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    return None


def _status_in_body(body: Mapping[str, Any]) -> int | None:
    """Pixlee puts `status` in bodies as an int or a string ("404"); read either."""
    raw = body.get("status")
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    return None


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text[:_BODY_SNIPPET] + ("…" if len(text) > _BODY_SNIPPET else "")


def encode_json_param(value: Any) -> str:
    """`sort` and `filters` travel as compact JSON in the query string."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError as exc:
            raise PixleeConfigError(f"not valid JSON: {value!r} ({exc})") from None
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class PixleeClient(PixleeWriteMixin):
    """Reads (and, through `pixlee.api.write.writer`, writes) the Pixlee Content API v2.

    Credentials not given fall back to dlt config `[sources.pixlee_source]`
    (`.dlt/secrets.toml` or `SOURCES__PIXLEE_SOURCE__API_KEY`). One `unique_id` is chosen per
    client, so the CDN cache never serves a run pages cached by an earlier one, while pages read
    twice within the run stay consistent.
    """

    def __init__(
        self,
        api_key: str | None = None,
        private_api_key: str | None = None,
        secret_key: str | None = None,
        base_url: str | None = None,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE,
        write_rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        unique_id: int | None = None,
        pool_size: int = 32,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        signature_algorithm: Literal["sha1", "sha256"] = "sha1",
        rate_limit_backend: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_key = api_key or _config_value("api_key")
        self.private_api_key = private_api_key or _config_value("private_api_key")
        self.secret_key = secret_key or _config_value("secret_key")
        for secret in (self.api_key, self.private_api_key, self.secret_key):
            register_secret(secret)
        install_log_redaction()
        self.base_url = (base_url or _config_value("base_url") or DEFAULT_BASE_URL).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise PixleeConfigError(
                f"base_url must be an http(s) URL, got {self.base_url!r}: "
                f"set [sources.pixlee_source] base_url or SOURCES__PIXLEE_SOURCE__BASE_URL"
            )
        if not 1 <= per_page <= 1000:
            raise PixleeConfigError(f"per_page must be between 1 and 1000, got {per_page}")
        self.per_page = per_page
        if signature_algorithm not in ("sha1", "sha256"):
            raise PixleeConfigError(
                f"signature_algorithm must be 'sha1' or 'sha256', got {signature_algorithm!r}"
            )
        self.signature_algorithm = signature_algorithm
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.unique_id = unique_id if unique_id is not None else int(time.time() * 1000)
        # a SQLite file or Redis URL shared by every pipeline on this key; None paces per process
        self.rate_limit_backend = rate_limit_backend or _config_value("rate_limit_backend")
        self.read_pacer = make_pacer(
            rate_limit_per_minute, "get", backend=self.rate_limit_backend, api_key=self.api_key
        )
        self.write_pacer = make_pacer(
            write_rate_limit_per_minute,
            "write",
            backend=self.rate_limit_backend,
            api_key=self.private_api_key or self.api_key,
        )
        # 429s slow reads below the pacer's rate when another consumer shares the key
        self.read_throttle = AdaptiveThrottle()
        if max_in_flight < 1:
            raise PixleeConfigError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.max_in_flight = max_in_flight
        self._in_flight = threading.BoundedSemaphore(max_in_flight)
        self._page_pool = LazyExecutor(max_in_flight, "pixlee-page")
        self.stats = RequestStats()
        self._sleep = sleep
        self._random = random.Random()
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # requests reads proxy and CA-bundle variables from the environment on every request
        # (~0.2 ms of CPU under the GIL, a quarter of its cost per page): read them once
        environment = self.session.merge_environment_settings(self.base_url, {}, None, None, None)
        self.session.proxies.update(environment["proxies"])
        self.session.verify = environment["verify"]
        self.session.trust_env = False
        pool_maxsize = max(pool_size, 2 * max_in_flight)  # album threads + read-ahead pool
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def new_run(self) -> None:
        """Start another run with this client: a new `unique_id` (the CDN would serve the
        last run's pages for 2 minutes under the old one) and fresh request counters."""
        self.unique_id = max(self.unique_id + 1, int(time.time() * 1000))
        self.stats = RequestStats()

    # --- public reads -----------------------------------------------------------------------

    def require_api_key(self) -> str:
        if not self.api_key:
            raise PixleeConfigError(
                "Pixlee API key is missing: set `api_key` under [sources.pixlee_source] in "
                ".dlt/secrets.toml, or the environment variable SOURCES__PIXLEE_SOURCE__API_KEY "
                "(Pixlee app: Settings → Pixlee API)."
            )
        return self.api_key

    def iter_albums(self) -> Iterator[Page]:
        """Every page of GET /albums."""
        return self.iter_pages("/albums")

    def iter_album_photos(
        self,
        album_id: int,
        *,
        filters: Mapping[str, Any] | str | None = None,
        sort: Mapping[str, Any] | str | None = None,
        start_page: int = 1,
        unique_id: int | None = None,
        read_ahead: PageWindow = 0,
    ) -> Iterator[Page]:
        """Every page of an album's approved content (GET /albums/{id}/photos).

        `unique_id` overrides the run's one, for a deliberate fresh re-read past the CDN cache.
        `read_ahead`: see `iter_pages`.
        """
        return self.iter_pages(
            f"/albums/{int(album_id)}/photos",
            params=self._listing_params(filters, sort),
            start_page=start_page,
            unique_id=unique_id,
            read_ahead=read_ahead,
        )

    def iter_sku_photos(
        self,
        sku: str,
        *,
        filters: Mapping[str, Any] | str | None = None,
        sort: Mapping[str, Any] | str | None = None,
        read_ahead: PageWindow = 0,
    ) -> Iterator[Page]:
        """Every page of a product's content (GET /albums/from_sku?sku=)."""
        params = {"sku": sku, **self._listing_params(filters, sort)}
        return self.iter_pages("/albums/from_sku", params=params, read_ahead=read_ahead)

    def get_media(self, album_photo_id: int) -> dict[str, Any]:
        """One media object (GET /media/{album_photo_id})."""
        body = self.get_json(f"/media/{int(album_photo_id)}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise PixleeResponseError(
                f"GET /media/{album_photo_id}: expected an object under 'data', "
                f"got {type(data).__name__}"
            )
        return data

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        data_selector: str = "data",
        start_page: int = 1,
        max_pages: int | None = None,
        unique_id: int | None = None,
        read_ahead: PageWindow = 0,
    ) -> Iterator[Page]:
        """Page through a listing while the envelope says `next` is true.

        `total` is never used: Pixlee reports the count on the current page, not the album size.
        `read_ahead` (a count, or a callable read before each request) lets up to that many
        pages be requested at once, in the client's page pool: worth it only for listings read
        to the end, since pages requested past the end are requests spent for nothing.
        """

        def fetch(page_no: int) -> Page:
            return self._read_page(path, params, data_selector, page_no, unique_id)

        pages: Iterator[Page]
        if read_ahead and max_pages is None:
            window = read_ahead if callable(read_ahead) else (lambda: int(read_ahead))
            pages = read_pages_ahead(
                fetch,
                lambda page: page.has_next,
                executor=self._page_pool.get(),
                window=window,
                start_page=start_page,
            )
            yield from pages
            return
        page_no = start_page
        pages_read = 0
        while True:
            page = fetch(page_no)
            yield page
            pages_read += 1
            if not page.has_next or (max_pages is not None and pages_read >= max_pages):
                return
            page_no += 1

    def _read_page(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        data_selector: str,
        page_no: int,
        unique_id: int | None,
    ) -> Page:
        query = {**(params or {}), "page": page_no, "per_page": self.per_page}
        body = self.get_json(path, query, unique_id=unique_id)
        items = self._select_items(body, data_selector, path, page_no)
        raw_next = body.get("next", False)
        has_next = _as_bool(raw_next)
        if has_next is None:
            raise PixleeResponseError(
                f"GET {path} page {page_no}: `next` is {raw_next!r}, expected true/false"
            )
        return Page(items=items, page=page_no, has_next=has_next, envelope=body)

    def get_json(
        self, path: str, params: Mapping[str, Any] | None = None, *, unique_id: int | None = None
    ) -> dict[str, Any]:
        """GET `path` with the read key, pacing and retries; the decoded JSON object."""
        api_key = self.require_api_key()
        query: dict[str, Any] = {
            **(params or {}),
            "unique_id": unique_id if unique_id is not None else self.unique_id,
            "api_key": api_key,
        }
        return self._with_retries(lambda: self._get_once(path, query), f"GET {path}")

    # --- internals ----------------------------------------------------------------------------

    def _listing_params(
        self, filters: Mapping[str, Any] | str | None, sort: Mapping[str, Any] | str | None
    ) -> dict[str, str]:
        params: dict[str, str] = {}
        if filters:
            params["filters"] = encode_json_param(filters)
        if sort:
            params["sort"] = encode_json_param(sort)
        return params

    def _url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def _get_once(self, path: str, query: Mapping[str, Any]) -> dict[str, Any]:
        url = self._url(path)
        failure: str | None = None
        with self._in_flight:  # at most `max_in_flight` GETs waiting on the network at once
            self.read_throttle.wait(self.read_pacer)
            self.stats.add(requests=1)
            try:
                # One read of the whole body (`.content` reads it in 10 KB steps, each a trip
                # through urllib3 under the GIL); read here so a truncated body is retried.
                response = self.session.get(url, params=query, timeout=self.timeout, stream=True)
                with response:
                    content = response.raw.read(decode_content=True)
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                failure = f"GET {path}: {type(exc).__name__}: {redact(str(exc))}"
        if failure is not None:
            # Raised outside the `except` so the original (whose message and request carry the
            # key) is not chained as __context__ into tracebacks and dlt's trace.
            raise _TransientError(failure)
        try:
            return self._interpret(response, content, f"GET {redact_url(response.url)}")
        except _TransientError as exc:
            if exc.rate_limited:
                pause = exc.retry_after
                if pause is not None:
                    pause = min(pause, self.retry.max_retry_after_seconds)
                self.read_throttle.rate_limited(pause)
            raise

    def _interpret(self, response: requests.Response, content: bytes, what: str) -> dict[str, Any]:
        status = response.status_code
        if status == 429:
            retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            raise _TransientError(f"{what}: HTTP 429 (rate limited)", retry_after, True)
        if status >= 500:
            raise _TransientError(f"{what}: HTTP {status}: {redact(_snippet(_text(content)))}")
        if status >= 400:
            self._raise_client_error(status, what, _text(content))
        try:
            body = orjson.loads(content)  # several times faster than json on ~80-field media
        except ValueError:
            body = _NOT_JSON
        if body is _NOT_JSON:
            kind = response.headers.get("Content-Type", "unknown content type")
            # A CDN may hand out an HTML page or a cut body with 200: worth another try.
            raise _TransientError(
                f"{what}: HTTP {status} with a body that is not JSON ({kind}): "
                f"{redact(_snippet(_text(content)))}"
            )
        if not isinstance(body, dict):
            raise PixleeResponseError(
                f"{what}: expected a JSON object envelope, got {type(body).__name__}"
            )
        body_status = _status_in_body(body)
        if body_status is not None and body_status >= 400:
            if body_status == 429 or body_status >= 500:
                raise _TransientError(f"{what}: status {body_status} in body")
            self._raise_client_error(body_status, what, _text(content))
        return body

    def _raise_client_error(self, status: int, what: str, text: str) -> None:
        detail = redact(_snippet(text))
        if status in (401, 403):
            raise PixleeAuthError(
                f"Pixlee rejected the API key (HTTP {status}) on {what}. Check `api_key` under "
                f"[sources.pixlee_source] (or SOURCES__PIXLEE_SOURCE__API_KEY): it must be the "
                f"account's API key from Settings → Pixlee API. Response: {detail}"
            )
        if status == 404:
            raise PixleeNotFoundError(f"Pixlee answered 404 on {what}: {detail}")
        raise PixleeRequestError(f"Pixlee rejected {what} with HTTP {status}: {detail}")

    def _select_items(
        self, body: Mapping[str, Any], data_selector: str, path: str, page_no: int
    ) -> list[dict[str, Any]]:
        node: Any = body
        for part in data_selector.split(".") if data_selector else []:
            if not isinstance(node, Mapping) or part not in node:
                raise PixleeResponseError(
                    f"GET {path} page {page_no}: no {data_selector!r} in the response "
                    f"(keys: {sorted(body)[:10]})"
                )
            node = node[part]
        if not isinstance(node, list):
            raise PixleeResponseError(
                f"GET {path} page {page_no}: {data_selector!r} is a {type(node).__name__}, "
                "expected a list"
            )
        bad = [type(item).__name__ for item in node if not isinstance(item, dict)]
        if bad:
            raise PixleeResponseError(
                f"GET {path} page {page_no}: {len(bad)} item(s) are not objects ({bad[0]})"
            )
        return node

    def _wait_before_retry(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        attempt = state.attempt_number
        if isinstance(exc, _TransientError) and exc.retry_after is not None:
            wait = exc.retry_after
            if wait > self.retry.max_retry_after_seconds:
                logger.warning(
                    "Pixlee asked to wait %.0fs (Retry-After); waiting the configured maximum "
                    "%.0fs instead",
                    wait,
                    self.retry.max_retry_after_seconds,
                )
                wait = self.retry.max_retry_after_seconds
        else:
            ceiling = min(
                self.retry.max_backoff_seconds, self.retry.backoff_seconds * 2 ** (attempt - 1)
            )
            wait = ceiling / 2 + self._random.uniform(0, ceiling / 2)  # "equal jitter"
        if isinstance(exc, _TransientError) and exc.rate_limited:
            self.stats.add(waited_on_429_seconds=wait)
        return wait

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self.stats.add(retries=1)
        if isinstance(exc, _TransientError) and exc.rate_limited:
            self.stats.add(rate_limited=1)
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.info("retrying in %.2fs after attempt %d: %s", wait, state.attempt_number, exc)

    def _with_retries(self, call: Callable[[], dict[str, Any]], what: str) -> dict[str, Any]:
        retrying = Retrying(
            retry=retry_if_exception_type(_TransientError),
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=self._wait_before_retry,
            before_sleep=self._before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(call)
        except _TransientError as exc:
            if exc.rate_limited:
                self.stats.add(rate_limited=1)
            consequence = (
                "nothing from this run was committed as complete, so running again later is safe"
                if what.startswith("GET")
                else "the write was not confirmed; check Pixlee before resubmitting anything that "
                "is not idempotent"
            )
            raise PixleeRetriesExhausted(
                f"{what} still failing after {self.retry.max_attempts} attempts: {exc}. "
                f"Pixlee or the network is unavailable; {consequence}."
            ) from None

    def close(self) -> None:
        self._page_pool.close()
        self.session.close()
        self.read_pacer.close()
        self.write_pacer.close()

    def __enter__(self) -> PixleeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
