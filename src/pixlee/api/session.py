"""The one transport for reads and writes: paced, retried, bounded.

Every request Pixlee sees goes through :class:`PixleeSession`, which

* paces it before it is sent (the rate limit sits at the transport, as in Airbyte's
  `LimiterSession.send`): reads through the adaptive throttle and the GET pacer, writes through
  the write pacer;
* bounds it: connect + headers + whole body within `request_deadline_seconds`, the body within
  `max_response_bytes` (decompressed, read no further), at most `max_redirects` same-origin hops
  on a read and none to another origin or on a write, and no new request after the run's
  deadline;
* classifies the outcome as a value (:func:`pixlee.api.responses.classify`) and retries on
  predicates over that value (:mod:`pixlee.api.retries`); every wait goes through the injected
  `sleep` and every deadline reads the injected `clock`, so tests run in virtual time.

Errors are raised outside `except` blocks, so the original exception (whose message and request
carry the key) is never chained into a traceback or dlt's trace.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError

from pixlee.api.config import USER_AGENT, Bounds, RetryPolicy
from pixlee.api.errors import (
    PixleeConfigError,
    PixleeContentError,
    PixleeDeadlineExceeded,
    PixleeError,
    PixleeRedirectError,
    PixleeResponseTooLarge,
    PixleeRetriesExhausted,
    PixleeWriteOutcomeUnknown,
)
from pixlee.api.pacing import RequestPacer
from pixlee.api.redaction import redacting_logger
from pixlee.api.responses import (
    NOT_JSON,
    Action,
    Body,
    Resolution,
    Side,
    classify,
    decode_json,
    snippet,
)
from pixlee.api.retries import RequestStats, RetryLoop, may_retry_read, may_retry_write
from pixlee.api.throttle import AdaptiveThrottle

logger = redacting_logger(__name__)

_CHUNK_BYTES = 1024 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_READ_CONSEQUENCE = (
    "Pixlee or the network is unavailable; nothing from this run was committed as complete, so "
    "running again later is safe"
)
_WRITE_CONSEQUENCE = (
    "Pixlee or the network is unavailable; the write was not confirmed; check Pixlee before "
    "resubmitting anything that is not idempotent"
)
Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class Outgoing:
    """One request as the session sends it (its first hop)."""

    method: str
    path: str
    what: str  # "GET /albums/7/photos page 2": names the request, never its query
    params: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    data: bytes | None = None
    files: Any = None
    read: Callable[[Body], Any] | None = None  # tried first on a 2xx body (`classify`)


class PixleeSession:
    """Sends requests to one API root; see the module docstring for what it guarantees."""

    def __init__(
        self,
        base_url: str,
        *,
        read_pacer: RequestPacer,
        write_pacer: RequestPacer,
        read_throttle: AdaptiveThrottle,
        retry: RetryPolicy,
        bounds: Bounds,
        max_in_flight: int,
        pool_size: int,
        sleep: Sleep,
        clock: Clock,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.read_pacer = read_pacer
        self.write_pacer = write_pacer
        self.read_throttle = read_throttle
        self.retry = retry
        self.bounds = bounds
        self.stats = RequestStats()
        self._clock = clock
        self._in_flight = threading.BoundedSemaphore(max_in_flight)
        self._run_started = clock()
        # until some server has answered, a refused connection or a non-API answer means a
        # wrong base_url, not a network blip: said at once (see `_first_contact`)
        self._answered = False
        self._retries = RetryLoop(
            retry, sleep=sleep, stats=lambda: self.stats, run_time_left=self._run_time_left,
            run_deadline_seconds=bounds.run_deadline_seconds,
        )  # fmt: skip
        self.http = _http_session(self.base_url, max(pool_size, 2 * max_in_flight))

    def start_run(self) -> None:
        """A new run: fresh counters, and the run deadline counts from now."""
        self.stats = RequestStats()
        self._run_started = self._clock()

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # --- reads and writes ------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any], *, page: int | None = None) -> Any:
        """GET `path`: the decoded JSON object, after pacing, retries and every bound."""
        return self._get(path, params, page).body

    def get_raw(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        page: int | None = None,
        read: Callable[[Body], Any] | None = None,
    ) -> tuple[Any, bytes | None, Any]:
        """`get`, and the body's bytes the object was decoded from (for a second reader of
        the same body, e.g. a parser to columns, that must not repeat retries or checks);
        None for a body decoded leniently (`Resolution.repaired`), which no other reader
        would read into the same values. Third, what `read` made of the body (see
        `classify`): then the body was not decoded, and the first two are None."""
        resolution = self._get(path, params, page, read)
        if resolution.parsed is not None:
            return None, None, resolution.parsed
        if resolution.repaired:  # decoded with U+FFFD for bad bytes: not what the bytes say
            return resolution.body, None, None
        return resolution.body, bytes(resolution.content or b""), None

    def _get(
        self,
        path: str,
        params: Mapping[str, Any],
        page: int | None,
        read: Callable[[Body], Any] | None = None,
    ) -> Resolution:
        what = f"GET {path}" + (f" page {page}" if page is not None else "")
        request = Outgoing("GET", path, what, params, read=read)
        resolution = self._retries.run(lambda: self._read_once(request), may_retry_read)
        if resolution.repaired:
            logger.warning(
                "%s: the body is not valid UTF-8 JSON (%s); read with U+FFFD in place of the "
                "invalid bytes or lone surrogates",
                what,
                resolution.repaired,
            )
        return self._raise_unless_ok(resolution, request, page, _READ_CONSEQUENCE)

    def post(self, request: Outgoing, *, idempotent: bool) -> Resolution:
        """POST once or, when repeating it is safe, until it succeeds; the OK resolution.

        429 and connect failures are always retried (nothing reached Pixlee). Other transient
        failures are retried only when `idempotent`; otherwise they raise
        :class:`PixleeWriteOutcomeUnknown`. A redirect is never followed.
        """

        def may_retry(resolution: Resolution) -> bool:
            return may_retry_write(resolution, idempotent)

        resolution = self._retries.run(lambda: self._write_once(request), may_retry)
        if resolution.action is Action.RETRY and resolution.reached_server and not idempotent:
            raise _outcome_unknown(request.what, resolution.message)
        return self._raise_unless_ok(resolution, request, None, _WRITE_CONSEQUENCE)

    def _read_once(self, request: Outgoing) -> Resolution:
        with self._in_flight:  # at most `max_in_flight` GETs waiting on the network at once
            resolution = self._exchange(request, "read", self._pace_read)
        if resolution.action is Action.RATE_LIMITED:
            pause = resolution.retry_after
            if pause is not None:
                pause = min(pause, self.retry.max_retry_after_seconds)
            self.read_throttle.rate_limited(pause)
        return resolution

    def _write_once(self, request: Outgoing) -> Resolution:
        return self._exchange(request, "write", self.write_pacer.wait)

    def _pace_read(self) -> None:
        self.read_throttle.wait(self.read_pacer)

    # --- one attempt: hops, deadline, body ------------------------------------------------------

    def _exchange(self, request: Outgoing, side: Side, pace: Callable[[], None]) -> Resolution:
        """One attempt, following same-origin redirects on reads, within one deadline."""
        deadline = self._clock() + self.bounds.request_deadline_seconds
        url, params = self.url(request.path), request.params
        for _hop in range(self.bounds.max_redirects + 1):
            pace()
            self._check_run_deadline(request.what)
            self.stats.add(requests=1)
            outcome = self._send(request, url, params, deadline)
            if isinstance(outcome, Resolution):
                return outcome
            with outcome:
                target = _redirect_target(outcome, url)
                if target is None:
                    return self._receive(outcome, request, side, deadline)
            refused = _refuse_redirect(request, url, target, outcome.status_code)
            if refused is not None:
                return refused
            url, params = target, {}  # the Location as given, like a browser
        message = f"{request.what}: more than {self.bounds.max_redirects} redirects"
        return Resolution(Action.FAIL, request.what, message, error=PixleeRedirectError)

    def _send(
        self, request: Outgoing, url: str, params: Mapping[str, Any], deadline: float
    ) -> requests.Response | Resolution:
        failure: Resolution | None = None
        try:
            return self.http.request(
                request.method,
                url,
                params=params,
                data=request.data,
                files=request.files,
                headers=request.headers,
                timeout=cast(Any, self._timeout(deadline)),  # requests takes urllib3's too
                stream=True,
                allow_redirects=False,
            )
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            failure = self._unreachable(exc) or _transport_failure(request.what, exc)
        return failure

    def _receive(
        self, response: requests.Response, request: Outgoing, side: Side, deadline: float
    ) -> Resolution:
        what = request.what
        body = self._read_body(response, what, deadline)
        if isinstance(body, Resolution):
            return body
        resolution = classify(
            what, response.status_code, response.headers, body, side=side, read=request.read
        )
        first, self._answered = not self._answered, True
        if first and _not_the_api(resolution, response, body):
            return self._first_contact(resolution, response)
        return resolution

    # --- the first contact: a wrong base_url is said at once, naming it ----------------------

    def _unreachable(self, exc: BaseException) -> Resolution | None:
        """A refused connection or an unknown host before any answer: base_url is wrong (or
        nothing listens there), which retries for a minute would not change."""
        if self._answered or not _refused_or_unknown_host(exc):
            return None
        message = (
            f"cannot reach Pixlee at {self.base_url} ({_root_reason(exc)}): check base_url "
            "under [sources.pixlee_source] (or SOURCES__PIXLEE_SOURCE__BASE_URL) and the "
            "network. Nothing was loaded."
        )
        return Resolution(Action.FAIL, "connect", message, error=PixleeConfigError)

    def _first_contact(self, resolution: Resolution, response: requests.Response) -> Resolution:
        kind = response.headers.get("Content-Type", "no content type")
        message = (
            f"{self.base_url} does not answer like the Pixlee API ({resolution.what}: HTTP "
            f"{resolution.status}, {kind}, not JSON): check base_url under "
            "[sources.pixlee_source] (or SOURCES__PIXLEE_SOURCE__BASE_URL). Nothing was loaded."
        )
        return Resolution(
            Action.FAIL, resolution.what, message, resolution.status, error=PixleeConfigError
        )

    def _read_body(
        self, response: requests.Response, what: str, deadline: float
    ) -> Body | Resolution:
        """The whole (decompressed) body, read no further than the size limit or the deadline.

        `read1` returns as soon as some bytes arrive, so a server dripping a byte at a time
        meets the deadline check between reads; before each read the socket's timeout is cut to
        what is left of the deadline.
        """
        limit = self.bounds.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            return _too_large(what, limit)
        body = bytearray()
        failure: Resolution | None = None
        try:
            while True:
                left = deadline - self._clock()
                if left <= 0:
                    return self._deadline_passed(what)
                _limit_socket_wait(response, min(left, self.bounds.read_timeout_seconds))
                chunk = response.raw.read1(_CHUNK_BYTES, decode_content=True)
                if not chunk:
                    return body
                if len(body) + len(chunk) > limit:
                    return _too_large(what, limit)
                body += chunk
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            failure = _transport_failure(what, exc)
        return failure

    def _timeout(self, deadline: float) -> urllib3.Timeout:
        left = max(0.001, deadline - self._clock())
        return urllib3.Timeout(
            connect=min(self.bounds.connect_timeout_seconds, left),
            read=min(self.bounds.read_timeout_seconds, left),
            total=left,
        )

    def _deadline_passed(self, what: str) -> Resolution:
        seconds = self.bounds.request_deadline_seconds
        message = (
            f"{what}: no complete answer within the request deadline of {seconds:g}s "
            "(request_deadline_seconds)"
        )
        return Resolution(Action.RETRY, what, message)

    def _run_time_left(self) -> float | None:
        """Seconds until the run's deadline (None: the run has none)."""
        limit = self.bounds.run_deadline_seconds
        return None if limit is None else limit - (self._clock() - self._run_started)

    def _check_run_deadline(self, what: str) -> None:
        limit = self.bounds.run_deadline_seconds
        left = self._run_time_left()
        if limit is not None and left is not None and left <= 0:
            raise PixleeDeadlineExceeded(
                f"{what} was not started: the run deadline of {limit:g}s "
                "(run_deadline_seconds) has passed. Nothing unfinished was committed as complete; "
                "the next run goes on from the last complete one."
            )

    def _raise_unless_ok(
        self, resolution: Resolution, request: Outgoing, page: int | None, consequence: str
    ) -> Resolution:
        """The OK resolution, or the error its action calls for."""
        if resolution.action is Action.OK:
            return resolution
        if resolution.action is Action.CONTENT_ERROR:
            kind = resolution.error if issubclass(resolution.error, PixleeContentError) else None
            raise (kind or PixleeContentError)(
                resolution.message, path=request.path, page=page, excerpt=resolution.excerpt
            )
        if resolution.action is Action.FAIL:
            raise resolution.error(resolution.message)
        error: PixleeError = PixleeRetriesExhausted(
            f"{request.what} still failing after {self.retry.max_attempts} attempts: "
            f"{resolution.message}. "
            f"{consequence}."
        )
        raise error

    def close(self) -> None:
        self.http.close()


# --- helpers ---------------------------------------------------------------------------------


def _http_session(base_url: str, pool_maxsize: int) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept-Encoding"] = "gzip, deflate"
    # requests reads proxy and CA-bundle variables from the environment on every request
    # (~0.2 ms of CPU under the GIL, a quarter of its cost per page): read them once
    environment = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies.update(environment["proxies"])
    session.verify = environment["verify"]
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _outcome_unknown(what: str, detail: str) -> PixleeWriteOutcomeUnknown:
    return PixleeWriteOutcomeUnknown(
        f"{what} failed after the request was sent ({detail}). Pixlee may or may not have "
        "applied it; it was not retried because repeating this write could create a duplicate. "
        "Check in the Pixlee app before sending it again."
    )


def _transport_failure(what: str, exc: BaseException) -> Resolution:
    message = f"{what}: {type(exc).__name__}: {exc}"
    return Resolution(Action.RETRY, what, message, reached_server=not _never_sent(exc))


def _not_the_api(resolution: Resolution, response: requests.Response, body: Body) -> bool:
    """A failed answer below 500 that is neither JSON nor says it is: a web server, not Pixlee
    (Pixlee answers JSON, errors too; a CDN's 5xx pages and 429s are transient and keep their
    retries; a JSON answer that cannot be read is a content error of that page)."""
    if resolution.action in (Action.OK, Action.RATE_LIMITED, Action.RETRY):
        return False
    if resolution.status is not None and resolution.status >= 500:
        return False
    if "json" in response.headers.get("Content-Type", "").lower():
        return False
    return decode_json(body)[0] is NOT_JSON


def _refused_or_unknown_host(exc: BaseException) -> bool:
    text = str(exc)
    return (
        isinstance(exc, requests.ConnectionError)
        and not isinstance(exc, requests.ConnectTimeout)
        and (
            "Connection refused" in text
            or "Name or service not known" in text
            or "nodename nor servname" in text
            or "Temporary failure in name resolution" in text
        )
    )


def _root_reason(exc: BaseException) -> str:
    text = str(exc)
    for reason in ("Connection refused", "Name or service not known", "nodename nor servname"):
        if reason in text:
            return reason.lower()
    return type(exc).__name__


def _never_sent(exc: BaseException) -> bool:
    """True only when the connection was never made, so Pixlee cannot have seen the body."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return isinstance(reason, ConnectTimeoutError)  # NewConnectionError is a subclass


def _too_large(what: str, limit: int) -> Resolution:
    message = (
        f"{what}: the response is larger than max_response_bytes ({limit} bytes); reading "
        "stopped there. Raise max_response_bytes under [sources.pixlee_source] if such pages "
        "are expected, or lower per_page"
    )
    return Resolution(Action.CONTENT_ERROR, what, message, error=PixleeResponseTooLarge)


def _limit_socket_wait(response: requests.Response, seconds: float) -> None:
    """Cut the socket's read timeout to `seconds` (the connection is the response's own)."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(0.001, seconds))


def _redirect_target(response: requests.Response, url: str) -> str | None:
    location = response.headers.get("Location")
    if response.status_code not in _REDIRECTS or not location:
        return None
    return urljoin(url, location)


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def _refuse_redirect(request: Outgoing, url: str, target: str, status: int) -> Resolution | None:
    """None when the redirect may be followed: a read, to the same origin."""
    scheme, host, port = origin(target)
    shown = f"{scheme}://{host}" + (f":{port}" if port is not None else "")
    if request.method != "GET":
        reason = "a write is never sent again to a redirect target"
    elif origin(target) != origin(url):
        reason = "a redirect to another origin is never followed (the key would go with it)"
    else:
        return None
    message = (
        f"{request.what}: Pixlee answered HTTP {status} redirecting to {snippet(shown)}; "
        f"{reason}. Check base_url under [sources.pixlee_source]"
    )
    return Resolution(Action.FAIL, request.what, message, status, error=PixleeRedirectError)
