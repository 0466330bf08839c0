"""The Pixlee Content API v2 client: reads here, signed writes by its writer.

Why not dlt's `rest_api`/`RESTClient`: Pixlee's only end-of-data signal is a boolean `next`
(dlt's paginator detection reads it as a cursor and loops), the read key lives in the query
string (every URL in a message must be redacted), the CDN needs a `unique_id` per run, and a
cut or HTML body on 5xx must be retried. The pieces, one job each:

* :mod:`pixlee.api.config`: settings, their defaults and the `[sources.pixlee_source]` lookup;
* :mod:`pixlee.api.session`: the one paced, retried, bounded transport (GET and POST);
* :mod:`pixlee.api.responses`: what a response means, as a value;
* :mod:`pixlee.api.retries`: retries as predicates on that value, backoff, wait accounting;
* :mod:`pixlee.api.paging`: the `next`-flag listing, its guards and read-ahead;
* :mod:`pixlee.api.write`: payloads, uploads, signing, the writer and bulk submits.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from pixlee.api.concurrency import DEFAULT_MAX_IN_FLIGHT, LazyExecutor
from pixlee.api.config import (
    DEFAULT_BASE_URL,
    DEFAULT_PER_PAGE,
    Bounds,
    RetryPolicy,
    resolve_client_configuration,
)
from pixlee.api.errors import PixleeConfigError, PixleeContentError
from pixlee.api.pacing import (
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    DEFAULT_SAFETY_MARGIN,
    RequestPacer,
    make_pacer,
)
from pixlee.api.paging import BodyReader, NextFlagPaginator, Page, iter_listing, parse_page
from pixlee.api.redaction import install_log_redaction, register_secret
from pixlee.api.retries import RequestStats
from pixlee.api.session import Clock, PixleeSession, Sleep
from pixlee.api.throttle import AdaptiveThrottle
from pixlee.api.write import bulk
from pixlee.api.write.bulk import ItemResult
from pixlee.api.write.signing import Algorithm
from pixlee.api.write.writer import PixleeWriter

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_PER_PAGE",
    "Page",
    "PixleeClient",
    "RequestStats",
    "RetryPolicy",
    "encode_json_param",
]

PageWindow = int | Callable[[], int]
P = ParamSpec("P")
R = TypeVar("R")
_MISSING_READ_KEY = (
    "Pixlee API key is missing: set `api_key` under [sources.pixlee_source] in "
    ".dlt/secrets.toml, or the environment variable SOURCES__PIXLEE_SOURCE__API_KEY "
    "(Pixlee app: Settings → Pixlee API)."
)


def encode_json_param(value: Any) -> str:
    """`sort` and `filters` travel as compact JSON in the query string."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError as exc:
            raise PixleeConfigError(f"not valid JSON: {value!r} ({exc})") from None
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _WriterMethod(Generic[P, R]):
    """A :class:`PixleeWriter` method offered on the client, signature and docstring included."""

    def __init__(self, method: Callable[Concatenate[PixleeWriter, P], R]) -> None:
        self._method = method
        self.__doc__ = method.__doc__

    def __get__(self, client: PixleeClient | None, owner: type | None = None) -> Callable[P, R]:
        if client is None:
            return self._method  # type: ignore[return-value]
        bound: Callable[P, R] = getattr(client.writer, self._method.__name__)
        return bound


class PixleeClient:
    """Reads (and, through its :class:`PixleeWriter`, writes) the Pixlee Content API v2.

    Credentials and settings not given fall back to dlt config `[sources.pixlee_source]`
    (`.dlt/secrets.toml` or `SOURCES__PIXLEE_SOURCE__API_KEY`, …). One `unique_id` is chosen per
    run, so the CDN cache never serves a run pages cached by an earlier one, while pages read
    twice within the run stay consistent. `sleep` and `clock` are used for every wait (retries,
    the 429 pause, deadlines), so tests can run in virtual time.
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
        rate_limit_safety_margin: float = DEFAULT_SAFETY_MARGIN,
        retry: RetryPolicy | None = None,
        bounds: Bounds | None = None,
        max_response_bytes: int | None = None,
        request_deadline_seconds: float | None = None,
        run_deadline_seconds: float | None = None,
        unique_id: int | None = None,
        pool_size: int = 32,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        signature_algorithm: Algorithm = "sha1",
        rate_limit_backend: str | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        settings = resolve_client_configuration(
            api_key=api_key, private_api_key=private_api_key, secret_key=secret_key,
            base_url=base_url, rate_limit_backend=rate_limit_backend,
            max_response_bytes=max_response_bytes,
            request_deadline_seconds=request_deadline_seconds,
            run_deadline_seconds=run_deadline_seconds,
        )  # fmt: skip
        self.api_key = settings.api_key
        _keep_out_of_logs(settings.api_key, settings.private_api_key, settings.secret_key)
        self.base_url = _checked_base_url(settings.base_url or DEFAULT_BASE_URL)
        self.per_page = _checked_range("per_page", per_page, 1, 1000)
        self.max_in_flight = _checked_range("max_in_flight", max_in_flight, 1, 10_000)
        self.unique_id = unique_id if unique_id is not None else int(time.time() * 1000)
        self.rate_limit_backend = settings.rate_limit_backend  # shared budget (None: per process)
        backend, write_key = self.rate_limit_backend, settings.private_api_key or self.api_key
        margin = rate_limit_safety_margin  # every wait through `clock`/`sleep`: virtual in tests
        pacer = partial(make_pacer, clock=clock, sleep=sleep, safety_margin=margin)
        self.transport = PixleeSession(
            self.base_url,
            read_pacer=pacer(rate_limit_per_minute, "get", backend, self.api_key),
            write_pacer=pacer(write_rate_limit_per_minute, "write", backend, write_key),
            # 429s slow reads below the pacer's rate when another consumer shares the key
            read_throttle=AdaptiveThrottle(clock=clock, sleep=sleep),
            retry=retry or RetryPolicy(),
            bounds=_bounds(bounds or Bounds(), settings),
            max_in_flight=self.max_in_flight,
            pool_size=pool_size,
            sleep=sleep,
            clock=clock,
        )
        self.writer = PixleeWriter(
            self.transport, private_api_key=settings.private_api_key,
            secret_key=settings.secret_key, signature_algorithm=signature_algorithm,
        )  # fmt: skip
        self._page_pool = LazyExecutor(self.max_in_flight, "pixlee-page")

    # --- the transport's state, as the client's ---------------------------------------------------

    @property
    def stats(self) -> RequestStats:
        return self.transport.stats

    @property
    def retry(self) -> RetryPolicy:
        return self.transport.retry

    @property
    def bounds(self) -> Bounds:
        return self.transport.bounds

    @property
    def read_pacer(self) -> RequestPacer:
        return self.transport.read_pacer

    @read_pacer.setter
    def read_pacer(self, pacer: RequestPacer) -> None:
        self.transport.read_pacer = pacer

    @property
    def write_pacer(self) -> RequestPacer:
        return self.transport.write_pacer

    @property
    def read_throttle(self) -> AdaptiveThrottle:
        return self.transport.read_throttle

    @property
    def private_api_key(self) -> str | None:
        return self.writer.private_api_key

    @property
    def secret_key(self) -> str | None:
        return self.writer.secret_key

    @property
    def signature_algorithm(self) -> Algorithm:
        return self.writer.signature_algorithm

    @signature_algorithm.setter
    def signature_algorithm(self, algorithm: Algorithm) -> None:
        self.writer.signature_algorithm = algorithm

    def new_run(self) -> None:
        """Start another run with this client: a new `unique_id` (the CDN would serve the
        last run's pages for 2 minutes under the old one), fresh request counters, and the run
        deadline counted from now."""
        self.unique_id = max(self.unique_id + 1, int(time.time() * 1000))
        self.transport.start_run()

    # --- reads ----------------------------------------------------------------------------------

    def require_api_key(self) -> str:
        if not self.api_key:
            raise PixleeConfigError(_MISSING_READ_KEY)
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
        parse: BodyReader | None = None,
    ) -> Iterator[Page]:
        """Every page of an album's approved content (GET /albums/{id}/photos).

        `unique_id` overrides the run's one, for a deliberate fresh re-read past the CDN cache.
        `read_ahead`, `parse`: see `iter_pages`.
        """
        return self.iter_pages(
            f"/albums/{int(album_id)}/photos",
            params=_listing_params(filters, sort),
            start_page=start_page,
            unique_id=unique_id,
            read_ahead=read_ahead,
            parse=parse,
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
        params = {"sku": sku, **_listing_params(filters, sort)}
        return self.iter_pages("/albums/from_sku", params=params, read_ahead=read_ahead)

    def get_media(self, album_photo_id: int) -> dict[str, Any]:
        """One media object (GET /media/{album_photo_id})."""
        path = f"/media/{int(album_photo_id)}"
        data = self.get_json(path).get("data")
        if not isinstance(data, dict):
            raise PixleeContentError(
                f"GET {path}: expected an object under 'data', got {type(data).__name__}",
                path=path,
            )
        return data

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        data_selector: str = "data",
        start_page: int = 1,
        unique_id: int | None = None,
        read_ahead: PageWindow = 0,
        parse: BodyReader | None = None,
    ) -> Iterator[Page]:
        """Page through a listing while the envelope says `next` is true (with its guards,
        :mod:`pixlee.api.paging`).

        `total` is never used: Pixlee reports the count on the current page, not the album size.
        `read_ahead` (a count, or a callable read before each request) lets up to that many
        pages be requested at once, in the client's page pool: worth it only for listings read
        to the end, since pages requested past the end are requests spent for nothing.
        `parse` reads each 2xx body first, in the thread that fetched it (see
        `pixlee.api.paging.BodyReader`): a page it reads is `parsed`, with its `items`; a body
        it refuses is decoded and checked as usual, and taught to it.
        """

        def fetch(page_no: int) -> Page:
            query = {**(params or {}), "page": page_no, "per_page": self.per_page}
            if parse is None:
                body = self.get_json(path, query, unique_id=unique_id, page=page_no)
                return parse_page(body, path=path, page_no=page_no, data_selector=data_selector)
            body, raw, read = self._get_raw(path, query, unique_id, page_no, parse)
            if read is not None:
                return Page(read.items, page_no, read.has_next, parsed=read)
            page = parse_page(body, path=path, page_no=page_no, data_selector=data_selector)
            if raw is not None:  # not a leniently decoded body: what it says can be learned
                parse.learn(body)
            return page

        paginator = NextFlagPaginator(path, max_empty_pages=self.bounds.max_empty_pages)
        window = None
        if read_ahead:
            window = read_ahead if callable(read_ahead) else (lambda: int(read_ahead))
        executor = self._page_pool.get() if window is not None else None
        yield from iter_listing(
            fetch, paginator, start_page=start_page, executor=executor, window=window
        )

    def get_json(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        unique_id: int | None = None,
        page: int | None = None,
    ) -> dict[str, Any]:
        """GET `path` with the read key, pacing, retries and bounds; the decoded JSON object."""
        body: dict[str, Any] = self.transport.get(path, self._query(params, unique_id), page=page)
        return body

    def _get_raw(
        self, path: str, params: Mapping[str, Any], unique_id: int | None, page: int,
        reader: BodyReader,
    ) -> tuple[Any, bytes | None, Any]:  # fmt: skip
        """`PixleeSession.get_raw` with the read key, `reader` tried first on the body."""
        query = self._query(params, unique_id)
        return self.transport.get_raw(path, query, page=page, read=reader.read)

    def _query(self, params: Mapping[str, Any] | None, unique_id: int | None) -> dict[str, Any]:
        api_key = self.require_api_key()
        return {
            **(params or {}),
            "unique_id": unique_id if unique_id is not None else self.unique_id,
            "api_key": api_key,
        }

    # --- writes (the writer's, see pixlee.api.write.writer) ---------------------------------------

    create_media = _WriterMethod(PixleeWriter.create_media)
    create_media_from_file = _WriterMethod(PixleeWriter.create_media_from_file)
    create_album = _WriterMethod(PixleeWriter.create_album)
    upsert_product = _WriterMethod(PixleeWriter.upsert_product)

    def require_write_credentials(self) -> tuple[str, str]:
        """The private key and secret, or a config error saying where to put them (call it to
        fail before reading any input)."""
        return self.writer.require_credentials()

    def submit_products(
        self,
        rows: Iterable[Mapping[str, Any]],
        on_result: Callable[[ItemResult], None] | None = None,
        *,
        algorithm: Algorithm | None = None,
    ) -> list[ItemResult]:
        """Upsert many products; one outcome per row, in order (see :mod:`...write.bulk`)."""
        return bulk.submit_products(self.writer, rows, on_result, algorithm=algorithm)

    def submit_media(
        self,
        rows: Iterable[Mapping[str, Any]],
        on_result: Callable[[ItemResult], None] | None = None,
        *,
        algorithm: Algorithm | None = None,
    ) -> list[ItemResult]:
        """Create many media from URLs; one outcome per row, in order."""
        return bulk.submit_media(self.writer, rows, on_result, algorithm=algorithm)

    def close(self) -> None:
        self._page_pool.close()
        self.transport.close()
        self.read_pacer.close()
        self.write_pacer.close()

    def __enter__(self) -> PixleeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _listing_params(
    filters: Mapping[str, Any] | str | None, sort: Mapping[str, Any] | str | None
) -> dict[str, str]:
    params: dict[str, str] = {}
    if filters:
        params["filters"] = encode_json_param(filters)
    if sort:
        params["sort"] = encode_json_param(sort)
    return params


def _keep_out_of_logs(*secrets: str | None) -> None:
    for secret in secrets:
        register_secret(secret)
    install_log_redaction()


def _checked_base_url(base_url: str) -> str:
    if not base_url.startswith(("http://", "https://")):
        raise PixleeConfigError(
            f"base_url must be an http(s) URL, got {base_url!r}: "
            f"set [sources.pixlee_source] base_url or SOURCES__PIXLEE_SOURCE__BASE_URL"
        )
    return base_url.rstrip("/")


def _checked_range(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise PixleeConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _bounds(base: Bounds, settings: Any) -> Bounds:
    """`base` with the bounds given explicitly or in config put in."""
    chosen = {
        name: getattr(settings, name)
        for name in ("max_response_bytes", "request_deadline_seconds", "run_deadline_seconds")
        if getattr(settings, name) is not None
    }
    return dataclasses.replace(base, **chosen) if chosen else base
